/** Builds a node's server from its config: users, storage, passive ports, metrics. */
import { dirname } from 'node:path';
import type pino from 'pino';
import { FileUserStore } from '../auth/fileUserStore.js';
import type { Config } from '../config/schema.js';
import type { Defender } from '../net/defender.js';
import type { AdvertisedAddress } from '../net/advertisedAddress.js';
import type { TlsProvider } from '../net/tls.js';
import { Metrics } from '../ops/metrics.js';
import type { ServerContext } from '../server/context.js';
import { dataPeerIdentifier } from '../server/dataPeer.js';
import { FtpServer } from '../server/listener.js';
import type { Session } from '../server/session.js';
import { storageErrorCause } from '../storage/errors.js';
import { StorageSet } from '../storage/factory.js';
import { createDefender, loadTls, passiveSetup } from './common.js';

export interface Node {
  server: FtpServer;
  metrics: Metrics;
  advertised: AdvertisedAddress;
  tls: TlsProvider | null;
  users: FileUserStore;
  storages: StorageSet;
}

/** What a worker process changes: its defender reports to the primary, and so do its logins. */
export interface NodeWorkerHooks {
  defender: Defender;
  claimLogin: ServerContext['claimLogin'];
  loggedOut: NonNullable<ServerContext['loggedOut']>;
  onClosed(session: Session): void;
}

export async function startNode(config: Config, log: pino.Logger, worker?: NodeWorkerHooks): Promise<Node> {
  const tls = await loadTls(config.tls, dirname(config.users.file), 'ftpfleet-tls', log);
  const users = new FileUserStore(config.users.file, config.anonymous, config.users.cacheTtl * 1000);
  await users.load();
  const storages = await StorageSet.open(config.storage);
  const storage = storages.main;
  await storage.init();
  // An unreachable store does not stop the node: /readyz reports it until it is back.
  await storage.check().catch((err) =>
    log.warn({ storage: storages.describe(), err: (err as Error).message, cause: storageErrorCause(err) }, 'storage not reachable at start'),
  );
  const metrics = new Metrics(config.nodeId);
  const { advertised, passivePorts } = await passiveSetup(config.passive, dataPeerIdentifier(config, log, metrics), metrics, log);
  const server = new FtpServer(
    {
      config,
      tls,
      storage,
      storageFor: (user) => storages.forUser(user.storage),
      users,
      log,
      defender: worker?.defender ?? createDefender(config.limits.defender, log),
      passivePorts,
      metrics,
      advertised,
      ...(worker ? { claimLogin: worker.claimLogin, loggedOut: worker.loggedOut } : {}),
    },
    worker?.onClosed,
  );
  // A worker's bans are the primary's, which reports them.
  if (!worker) metrics.watchDefender(server.ctx.defender);
  metrics.watchSessions(() => server.sessionCounts());
  return { server, metrics, advertised, tls, users, storages };
}

/** SIGHUP (or the primary's word) reloads the TLS certificate without dropping sessions. */
export function reloadTls(tls: TlsProvider | null, log: pino.Logger): void {
  if (!tls) return;
  try {
    tls.reload();
    log.info('TLS certificate reloaded');
  } catch (err) {
    log.error({ err: (err as Error).message }, 'TLS reload failed; keeping the previous certificate');
  }
}
