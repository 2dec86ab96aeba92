/**
 * Starts a real ftpfleet process for a test: its own temp directory, config,
 * users file and passive range, on loopback. Stop it with stop().
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnLogged } from './loggedProcess.js';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/auth/passwords.js';

export const CLI = resolve(import.meta.dirname, '../../src/cli/main.js');

export interface TestUser {
  name: string;
  password: string;
  home?: string;
  permissions?: string[];
  allowedNetworks?: string[];
  maxSessions?: number;
  /** The user's own TLS policy (users file `tls:`), overriding tls.policy. */
  tls?: 'optional' | 'login' | 'data';
}

export const ALICE: TestUser = { name: 'alice', password: 'alice-secret' };
export const READER: TestUser = { name: 'reader', password: 'reader-secret', permissions: ['list', 'read'] };

export interface TestServer {
  port: number;
  /** Storage root on disk ("/" of a user with home "/"). */
  dataDir: string;
  dir: string;
  pasv: { min: number; max: number };
  proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, any>>;
  stderr: () => string;
  url(user?: TestUser, host?: string): string;
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitForLog(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The implicit-FTPS port (config tls.implicitPort, 0 = picked at start) the server listens on for `host`. */
export function implicitPort(srv: TestServer, host = '127.0.0.1'): number {
  const line = srv.logs.find((l) => l.msg === 'listening' && l.implicitTls && l.address === host);
  if (!line) throw new Error(`no implicit-TLS listener on ${host} (set config.tls.implicitPort)`);
  return line.port as number;
}

export interface StartOptions {
  users?: TestUser[];
  /** Extra config, deep-merged over the test defaults. */
  config?: Record<string, any>;
  pasvSize?: number;
  env?: Record<string, string>;
}

export function merge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? merge(a[k], v) : v;
  }
  return out;
}

const hashCache = new Map<string, string>();
async function hashed(pw: string): Promise<string> {
  if (!hashCache.has(pw)) hashCache.set(pw, await hashPassword(pw));
  return hashCache.get(pw)!;
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ftpfleet-test-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const users: Record<string, any> = {};
  for (const u of options.users ?? [ALICE, READER]) {
    users[u.name] = {
      password: await hashed(u.password),
      home: u.home ?? '/',
      ...(u.permissions ? { permissions: u.permissions } : {}),
      ...(u.allowedNetworks ? { allowedNetworks: u.allowedNetworks } : {}),
      ...(u.maxSessions ? { maxSessions: u.maxSessions } : {}),
      ...(u.tls ? { tls: u.tls } : {}),
    };
  }
  writeFileSync(join(dir, 'users.yaml'), stringify({ users }));
  const size = options.pasvSize ?? 50;
  const min = 20000 + Math.floor(Math.random() * 400) * 100;
  const pasv = { min, max: min + size - 1 };
  const config = merge(
    {
      nodeId: 'test-node',
      listen: { addresses: ['127.0.0.1', '::1'], port: 0 },
      storage: { local: { root: dataDir } },
      users: { file: join(dir, 'users.yaml') },
      passive: { portRange: `${pasv.min}-${pasv.max}` },
      limits: { failedLoginDelay: 0.05 },
      shutdown: { grace: 5 },
      log: { level: 'debug' },
      ops: { port: 0 },
    },
    options.config ?? {},
  );
  writeFileSync(join(dir, 'config.yaml'), stringify(config));
  const { proc, logs, stderr, stopAndRemove, waitForLog } = await spawnLogged([CLI, 'serve', '--config', join(dir, 'config.yaml')], 'ftpfleet started', options.env);
  const listening = logs.find((l) => l.msg === 'listening')!;
  const port = listening.port as number;
  return {
    port,
    dataDir,
    dir,
    pasv,
    proc,
    logs,
    stderr,
    url: (user = ALICE, host = '127.0.0.1') =>
      `ftp://${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@${host.includes(':') ? `[${host}]` : host}:${port}`,
    waitForLog,
    stop: (signal = 'SIGTERM') => stopAndRemove(dir, signal),
  };
}
