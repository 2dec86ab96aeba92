/** `ftpfleet gateway`: runs the FTP-aware gateway in front of a pool of FTP servers. */
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadGatewayConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/gatewaySchema.js';
import { normalizeAddress } from '../net/addressMatch.js';
import { Metrics } from '../ops/metrics.js';
import { BackendPool } from '../gateway/backendPool.js';
import { GatewayServer } from '../gateway/gatewayServer.js';
import { addListenerOptions, createDefender, createLogger, listenerOverrides, loadTls, passiveSetup, serveOpsAndStop } from './common.js';

function load(file: string | undefined, opts: Record<string, any>): GatewayConfig {
  const config = loadGatewayConfig({
    file,
    env: process.env,
    overrides: listenerOverrides(opts),
  });
  if (config.backends.length === 0) throw new ConfigError('invalid configuration: config key "backends": the gateway needs at least one backend');
  return config;
}

export function gatewayCommand(): Command {
  const command = new Command('gateway')
    .description('run the FTP-aware gateway: clients connect to it, it picks a backend and relays control and data (see README, "Gateway")')
    .requiredOption('-c, --config <file>', 'YAML config file with the backends (see README)');
  return addListenerOptions(command, 'gateway', 'balance.strategy=round-robin')
    .addHelpText('after', '\nSIGHUP re-reads the backends and balance settings (drain a backend with drain: true) and the TLS certificate.')
    .action(async (opts) => {
      const config = load(opts.config, opts);
      const log = createLogger(config.log.level, config.nodeId);
      const tls = await loadTls(config.tls, dirname(resolve(opts.config)), 'ftpfleet-gateway-tls', log);
      const metrics = new Metrics(config.nodeId);
      const pool = new BackendPool(config.backends, config.balance, config.health);
      // The gateway reads no PROXY header on data connections (its config refuses proxyProtocol.data).
      const { advertised, passivePorts } = await passiveSetup(config.passive, async (socket) => normalizeAddress(socket.remoteAddress ?? ''), metrics, log);
      const defender = createDefender(config.limits.defender, log);
      const server = new GatewayServer({ config, log, pool, passivePorts, advertised, defender, metrics, tls });
      metrics.watchDefender(defender);
      metrics.watchSessions(() => server.sessionCounts());
      metrics.watchBackends(() => pool.all().map((b) => ({ name: b.config.name, up: b.up, draining: b.config.drain || b.removed, sessions: b.sessions })));
      await server.start();
      await serveOpsAndStop(server, { ops: config.ops, graceSec: config.shutdown.grace, metrics, log, andThen: () => advertised.stop() });
      log.info({ backends: config.backends.map((b) => `${b.name}=${b.host}:${b.port}`), strategy: config.balance.strategy }, 'ftpfleet gateway started');
      process.on('SIGHUP', () => {
        try {
          const next = load(opts.config, opts);
          pool.update(next.backends, next.balance);
          log.info({ backends: next.backends.map((b) => `${b.name}${b.drain ? ' (draining)' : ''}`) }, 'backends reloaded');
        } catch (err) {
          log.error({ err: (err as Error).message }, 'config reload failed; keeping the previous backends');
        }
        try {
          tls?.reload();
        } catch (err) {
          log.error({ err: (err as Error).message }, 'TLS reload failed; keeping the previous certificate');
        }
      });
    });
}
