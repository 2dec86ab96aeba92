/**
 * A worker process of a node with `workers` > 1 (see nodePrimary.ts): serves
 * the sessions the primary hands it, on its own slice of the passive range,
 * and tells the primary what it counts node-wide (sessions, logins,
 * offences).
 */
import type { Socket } from 'node:net';
import type { User } from '../auth/user.js';
import { Defender, type Offence } from '../net/defender.js';
import type { Session } from '../server/session.js';
import { createLogger, defenderPolicy } from './common.js';
import { reloadTls, startNode, type Node } from './node.js';
import type { FromWorker, ToWorker } from './workerMessages.js';

function tell(message: FromWorker): void {
  if (process.connected) process.send!(message);
}

/** The defender of one worker: scores locally (to cut a session at once) and reports every offence to the primary. */
class ReportingDefender extends Defender {
  override record(address: string, offence: Offence, user?: string): { banned: boolean } {
    tell({ t: 'offence', address, offence, user });
    return super.record(address, offence, user);
  }

  override forgive(address: string, user: string): void {
    tell({ t: 'forgive', address, user });
    super.forgive(address, user);
  }
}

async function run(start: Extract<ToWorker, { t: 'start' }>): Promise<void> {
  const { config, index } = start;
  const log = createLogger(config.log.level, config.nodeId).child({ worker: index });
  // Unlogged: the primary logs the bans, for all workers.
  const defender = new ReportingDefender(defenderPolicy(config.limits.defender), null);
  const keys = new Map<Session, number>();
  const claims = new Map<number, (ok: boolean) => void>();
  let nextClaim = 0;
  const node: Node = await startNode(config, log, {
    defender,
    claimLogin: (session: Session, user: User) =>
      new Promise<boolean>((resolve) => {
        const key = keys.get(session);
        if (key === undefined) return resolve(false);
        const id = ++nextClaim;
        claims.set(id, resolve);
        tell({ t: 'claim', id, key, user: user.name, max: user.maxSessions ?? null });
      }),
    loggedOut: (session) => {
      const key = keys.get(session);
      if (key !== undefined) tell({ t: 'loggedOut', key });
    },
    onClosed: (session) => {
      const key = keys.get(session);
      keys.delete(session);
      if (key !== undefined) tell({ t: 'closed', key });
    },
  });
  const { server } = node;
  await server.start(false);

  let draining = false;
  const drain = (graceMs: number) => {
    if (draining) return;
    draining = true;
    void server.stop(graceMs).finally(() => {
      node.advertised.stop();
      log.flush();
      process.exit(0);
    });
  };
  // A terminal's Ctrl-C or systemd's SIGTERM reaches every process of the group: drain as the primary asks.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => drain(config.shutdown.grace * 1000));
  // A SIGHUP to the whole group would end a worker (the default action); the primary passes reloads on.
  process.on('SIGHUP', () => {});
  // The primary is gone: nobody hands out sessions any more.
  process.on('disconnect', () => drain(config.shutdown.grace * 1000));

  process.on('message', (m: ToWorker, handle?: Socket) => {
    switch (m.t) {
      case 'session': {
        if (!handle) return;
        if (m.head) handle.unshift(Buffer.from(m.head));
        keys.set(server.adopt(handle, m.implicitTls, m.proxy), m.key);
        return;
      }
      case 'ban':
        return defender.impose(m.address, m.until);
      case 'claimed': {
        const resolve = claims.get(m.id);
        claims.delete(m.id);
        return resolve?.(m.ok);
      }
      case 'ask':
        void answer(m.what).then((value) => tell({ t: 'answer', id: m.id, value }));
        return;
      case 'reloadTls':
        return reloadTls(node.tls, log);
      case 'drain':
        return drain(m.graceMs);
    }
  });

  function answer(what: string): Promise<unknown> {
    if (what === 'readiness') return server.readiness();
    if (what === 'status') return Promise.resolve(server.status());
    return node.metrics.registry.getMetricsAsJSON();
  }

  log.info({ pid: process.pid, passive: config.passive.portRange }, 'worker serving');
  tell({ t: 'ready' });
}

process.once('message', (m: ToWorker) => {
  if (m.t !== 'start') return;
  run(m).catch((err: Error) => {
    tell({ t: 'failed', error: err.message });
    process.exit(1);
  });
});
