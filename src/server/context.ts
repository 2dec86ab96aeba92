/** What every session of a node shares. */
import type { Logger } from 'pino';
import type { UserStore } from '../auth/user.js';
import type { Config } from '../config/schema.js';
import type { BanList } from '../net/bans.js';
import type { Storage } from '../storage/storage.js';
import type { PassivePortPool } from './passivePortPool.js';

export interface ServerContext {
  config: Config;
  storage: Storage;
  users: UserStore;
  bans: BanList;
  passivePorts: PassivePortPool;
  log: Logger;
  /** Logged-in sessions per user name, for per-user limits. */
  sessionsOfUser(name: string): number;
}
