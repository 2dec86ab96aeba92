/** Start-up pieces that `serve` and `gateway` share. */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseScalar } from '../config/load.js';
import type { Server } from 'node:http';
import type { Command } from 'commander';
import type { limitsSchema, opsSchema, passiveSchema, tlsSchema } from '../config/schema.js';
import { AdvertisedAddress } from '../net/advertisedAddress.js';
import { PassivePortPool, type IdentifyPeer } from '../net/passivePortPool.js';
import type { Metrics } from '../ops/metrics.js';
import { startOpsServer, type MetricsSource, type Readiness } from '../ops/opsServer.js';
import { Defender, type DefenderPolicy } from '../net/defender.js';
import { TlsProvider } from '../net/tls.js';
import { writeSelfSigned } from './cert.js';
import type { z } from 'zod';

export function createLogger(level: string, nodeId: string): pino.Logger {
  return pino({
    level,
    base: { node: nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password'], remove: true },
  });
}

export function defenderPolicy(d: z.infer<typeof limitsSchema>['defender']): DefenderPolicy {
  return {
    enabled: d.enabled,
    threshold: d.threshold,
    windowMs: d.window * 1000,
    scores: d.scores,
    banMs: d.banDuration * 1000,
    maxBanMs: d.maxBanDuration * 1000,
    repeatWindowMs: d.repeatWindow * 1000,
    allow: d.allow,
    deny: d.deny,
  };
}

export function createDefender(d: z.infer<typeof limitsSchema>['defender'], log: pino.Logger): Defender {
  return new Defender(defenderPolicy(d), log);
}

/**
 * The TLS certificate: the configured files, or (when none are configured) a
 * self-signed pair `<stem>.crt`/`<stem>.key` in `dir`, created at first start.
 */
export async function loadTls(tls: z.infer<typeof tlsSchema>, dir: string, stem: string, log: pino.Logger): Promise<TlsProvider | null> {
  if (!tls.enabled) return null;
  if ((tls.cert === null) !== (tls.key === null)) throw new Error('tls: set both tls.cert and tls.key, or neither');
  let cert = tls.cert;
  let key = tls.key;
  if (cert === null || key === null) {
    cert = join(dir, `${stem}.crt`);
    key = join(dir, `${stem}.key`);
    if (!existsSync(cert) || !existsSync(key)) {
      await writeSelfSigned(hostname(), cert, key);
      log.info({ cert, key }, 'created a self-signed TLS certificate (configure tls.cert and tls.key for a real one)');
    }
  }
  return new TlsProvider({ cert, key, minVersion: tls.minVersion });
}

/** `--set KEY=VALUE`, repeatable. */
function collectSet(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq < 1) throw new Error(`--set expects KEY=VALUE, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: parseScalar(value.slice(eq + 1)) };
}

/**
 * Graceful stop on SIGTERM and SIGINT (and through the returned function, for
 * the admin drain): runs `shutdown` with the grace period, then exits 0 —
 * also when something in it hangs (a logger on a broken pipe, say).
 */
function stopOnSignals(graceSec: number, log: pino.Logger, shutdown: (graceMs: number) => Promise<void>): (reason: string) => void {
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), graceSec * 1000 + 5000).unref();
    void (async () => {
      try {
        log.info({ signal: reason, graceSec }, 'stopping');
        await shutdown(graceSec * 1000);
        log.info('stopped');
        log.flush();
      } finally {
        process.exit(0);
      }
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return stop;
}

export interface RunningServer {
  stop(graceMs: number): Promise<void>;
  readiness(): Promise<Readiness>;
  status(): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/**
 * Starts the ops port (when enabled) and stops gracefully on SIGTERM, SIGINT
 * or the admin drain: the server, then `andThen`, then the ops port.
 */
export async function serveOpsAndStop(
  server: RunningServer,
  options: { ops: z.infer<typeof opsSchema>; graceSec: number; metrics: MetricsSource; log: pino.Logger; andThen(): void },
): Promise<void> {
  const { ops, metrics, log } = options;
  let opsServer: Server | null = null;
  const stop = stopOnSignals(options.graceSec, log, async (graceMs) => {
    await server.stop(graceMs);
    options.andThen();
    opsServer?.close();
  });
  if (!ops.enabled) return;
  opsServer = await startOpsServer(
    { host: ops.address, port: ops.port, adminToken: ops.adminToken },
    { metrics, readiness: () => server.readiness(), drain: () => stop('admin drain'), status: () => server.status() },
    log,
  );
}

/** The flags `serve` and `gateway` share; `setExample` shows one key of the command's own. */
export function addListenerOptions(command: Command, what: string, setExample: string): Command {
  return command
    .option('-p, --port <port>', 'control port (listen.port)', (v) => Number(v))
    .option('--listen <address...>', 'addresses to listen on (listen.addresses)')
    .option('--pasv-range <min-max>', 'passive port range (passive.portRange)')
    .option('--pasv-address <address>', 'advertised in PASV replies: an IPv4 address, a host name, or auto (passive.address)')
    .option('--node-id <id>', `${what} id in logs (nodeId)`)
    .option('--log-level <level>', 'log level (log.level)')
    .option('--set <key=value>', `set any config key, e.g. --set ${setExample} (repeatable)`, collectSet);
}

/** Config keys set by addListenerOptions' flags (undefined where a flag was not given). */
export function listenerOverrides(opts: Record<string, any>): Record<string, unknown> {
  return {
    'listen.port': opts.port,
    'listen.addresses': opts.listen,
    'passive.portRange': opts.pasvRange,
    'passive.address': opts.pasvAddress,
    nodeId: opts.nodeId,
    'log.level': opts.logLevel,
    ...(opts.set ?? {}),
  };
}

/** The advertised passive address (started: a host name is resolved) and the passive port pool. */
export async function passiveSetup(
  passive: z.infer<typeof passiveSchema>,
  identify: IdentifyPeer,
  metrics: Metrics,
  log: pino.Logger,
): Promise<{ advertised: AdvertisedAddress; passivePorts: PassivePortPool }> {
  const advertised = new AdvertisedAddress(
    { address: passive.address, byNetwork: passive.addressByNetwork, resolveIntervalMs: passive.resolveInterval * 1000 },
    log,
  );
  await advertised.start();
  const passivePorts = new PassivePortPool(passive.portRange.min, passive.portRange.max, {
    shared: passive.sharePorts,
    identify,
    onUnclaimed: (peer) => {
      log.warn({ from: peer }, 'data connection to a shared passive port that no session waits for');
      metrics.dataFailure('peer_mismatch');
    },
  });
  metrics.watchPassivePorts(passivePorts);
  return { advertised, passivePorts };
}
