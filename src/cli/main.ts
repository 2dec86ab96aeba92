#!/usr/bin/env node
/** The `ftpfleet` command. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { UsersFileError } from '../auth/fileUserStore.js';
import { certCommand } from './cert.js';
import { gatewayCommand } from './gateway.js';
import { lbConfigCommand } from './lb.js';
import { probeCommand } from './probe.js';
import { serveCommand } from './serve.js';
import { s3Command } from './s3.js';
import { userCommand } from './users.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('ftpfleet')
  .description('FTP server for fleets of nodes behind layer-4 load balancers')
  .version(pkg.version, '-V, --version')
  .addCommand(serveCommand())
  .addCommand(gatewayCommand())
  .addCommand(userCommand())
  .addCommand(certCommand())
  .addCommand(lbConfigCommand())
  .addCommand(probeCommand())
  .addCommand(s3Command());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof UsersFileError) {
    process.stderr.write(`ftpfleet: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`ftpfleet: ${(err as Error).message}\n`);
  process.exit(1);
}
