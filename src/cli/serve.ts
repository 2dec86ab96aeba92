/** `ftpfleet serve`: runs one node. */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Command } from 'commander';
import { writeUsersFile } from '../auth/fileUserStore.js';
import { generatePassword, hashPassword } from '../auth/passwords.js';
import { loadConfig } from '../config/load.js';
import { PERMISSIONS, type Config } from '../config/schema.js';
import { addListenerOptions, createLogger, listenerOverrides, serveOpsAndStop } from './common.js';
import { reloadTls, startNode } from './node.js';
import { runPrimary } from './nodePrimary.js';

export const DEFAULT_USER = 'ftpfleet';

/** First start of the embedded default: create one user and print its password once. */
async function bootstrapUsers(config: Config): Promise<void> {
  const path = config.users.file;
  if (existsSync(path)) return;
  const password = generatePassword();
  await writeUsersFile(path, {
    users: {
      [DEFAULT_USER]: { password: await hashPassword(password), home: '/', permissions: [...PERMISSIONS], allowedNetworks: [] },
    },
  });
  process.stderr.write(
    [
      '',
      `  ftpfleet: created ${path} with one user (shown only this once):`,
      `    user:     ${DEFAULT_USER}`,
      `    password: ${password}`,
      `  Add users with: ftpfleet user add NAME --users-file ${path}`,
      '',
    ].join('\n') + '\n',
  );
}

/** Fails start-up clearly when active connections may not use the configured source port. */
async function checkSourcePort(config: Config): Promise<void> {
  const configured = config.active.sourcePort;
  if (configured === 'any' || !config.active.enabled) return;
  // "control-1": one below the control port (20 for 21); with port 0 it is only known once listening.
  const port = configured === 'control-1' ? config.listen.port - 1 : configured;
  if (port < 1) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(); // outgoing connections may still use it
      else reject(new Error(`active.sourcePort ${port}: cannot bind it (${err.code}); run as root or grant CAP_NET_BIND_SERVICE, or set active.sourcePort to "any"`));
    });
    probe.listen({ port, host: '0.0.0.0', exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('run an FTP node (without options: port 2121, files under ./data, users in ./ftpfleet-users.yaml)')
    .option('-c, --config <file>', 'YAML config file')
    .option('--data-dir <dir>', 'local storage root (storage.local.root)')
    .option('--users-file <file>', 'users file (users.file)')
    .option('--workers <n>', 'worker processes, each with a slice of the passive range (workers; default 1: serve in this process)', (v) => Number(v));
  return addListenerOptions(command, 'node', 'limits.idleTimeout=60')
    .addHelpText('after', '\nEvery config key can also be set from the environment: FTPFLEET_<KEY>, e.g. FTPFLEET_PASSIVE_PORT_RANGE=10000-10099.')
    .action(async (opts) => {
      const config = loadConfig({
        file: opts.config,
        env: process.env,
        overrides: { 'storage.local.root': opts.dataDir, 'users.file': opts.usersFile, workers: opts.workers, ...listenerOverrides(opts) },
      });
      const log = createLogger(config.log.level, config.nodeId);
      // Installed first: a SIGHUP during start-up must not end the process (the default action).
      let onHangUp = () => log.info('SIGHUP during start-up ignored');
      process.on('SIGHUP', () => onHangUp());
      await checkSourcePort(config);
      await bootstrapUsers(config);
      if (config.workers > 1) {
        const primary = await runPrimary(config, log);
        onHangUp = () => primary.reloadTls();
        return;
      }
      const { server, metrics, advertised, tls, users, storages } = await startNode(config, log);
      await server.start();
      await serveOpsAndStop(server, { ops: config.ops, graceSec: config.shutdown.grace, metrics, log, andThen: () => advertised.stop() });
      log.info(
        { users: users.size, storage: storages.describe(), passive: config.passive.portRange, version: process.env.npm_package_version },
        'ftpfleet started',
      );
      onHangUp = () => reloadTls(tls, log);
    });
}
