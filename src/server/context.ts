/** What every session of a node shares. */
import type { Logger } from 'pino';
import type { User, UserStore } from '../auth/user.js';
import type { Config } from '../config/schema.js';
import type { Defender } from '../net/defender.js';
import type { Storage } from '../storage/storage.js';
import type { PassivePortPool } from '../net/passivePortPool.js';
import type { TlsProvider } from '../net/tls.js';
import type { MetricsSink } from './metricsSink.js';
import type { AdvertisedAddress } from '../net/advertisedAddress.js';
import type { Session } from './session.js';

export interface ServerContext {
  config: Config;
  storage: Storage;
  users: UserStore;
  defender: Defender;
  passivePorts: PassivePortPool;
  log: Logger;
  metrics: MetricsSink;
  /** The address put in 227 replies, per client. */
  advertised: AdvertisedAddress;
  /** Null when TLS is disabled. */
  tls: TlsProvider | null;
  /**
   * Whether `session` may log in as `user` under the user's session limit
   * (`maxSessions`), counted over the whole node — all its worker processes.
   */
  claimLogin(session: Session, user: User): boolean | Promise<boolean>;
  /** A logged-in session logged out (REIN); worker processes tell the primary. */
  loggedOut?(session: Session): void;
  /** The store of a user with its own storage settings (users file `storage:`); `storage` otherwise. */
  storageFor?(user: User): Promise<Storage>;
}
