/**
 * What a node's primary process and its worker processes say to each other
 * over the IPC channel (advanced serialization; sockets go as handles).
 */
import type { Config } from '../config/schema.js';
import type { Offence } from '../net/defender.js';
import type { ProxyHeader } from '../net/proxyProtocol.js';

/** Questions the primary asks every worker for the ops port. */
export type Question = 'readiness' | 'status' | 'metrics';

export type ToWorker =
  | { t: 'start'; index: number; config: Config }
  /** An admitted control connection (the socket is the handle); `head`: bytes read past the PROXY header. */
  | { t: 'session'; key: number; implicitTls: boolean; proxy: ProxyHeader | null; head: Uint8Array | null }
  | { t: 'ban'; address: string; until: number }
  | { t: 'claimed'; id: number; ok: boolean }
  | { t: 'ask'; id: number; what: Question }
  | { t: 'reloadTls' }
  | { t: 'drain'; graceMs: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  | { t: 'closed'; key: number }
  /** A login under the user's session limit (`max`, over all workers); answered with `claimed`. */
  | { t: 'claim'; id: number; key: number; user: string; max: number | null }
  | { t: 'loggedOut'; key: number }
  /** `user`: the name a failed login tried. */
  | { t: 'offence'; address: string; offence: Offence; user?: string }
  | { t: 'forgive'; address: string; user: string }
  | { t: 'answer'; id: number; value: unknown };
