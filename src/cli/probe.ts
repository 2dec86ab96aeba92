/** `ftpfleet probe URL`: checks every data mode of an FTP service from the client's side. */
import { Command, InvalidArgumentError } from 'commander';
import { formatProbeReport, runProbe } from '../lb/probe.js';
import { DATA_MODES, parseProbeUrl, ProbeUsageError, type DataMode } from '../lb/probeDiagnosis.js';

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds > 0, got "${value}"`);
  return n;
}

function modeList(value: string): DataMode[] {
  const modes = value.split(',').map((m) => m.trim().toUpperCase()).filter(Boolean);
  for (const m of modes) {
    if (!(DATA_MODES as readonly string[]).includes(m)) throw new InvalidArgumentError(`unknown mode "${m}"; allowed: ${DATA_MODES.join(', ')}`);
  }
  return modes as DataMode[];
}

export function probeCommand(): Command {
  return new Command('probe')
    .description('check an FTP service from the client side: login, which node answered, and upload/download in PASV, EPSV, PORT and EPRT')
    .argument('<url>', 'ftp://user:password@host[:port][/dir] (percent-encode special characters)')
    .option('-t, --timeout <seconds>', 'time each step may take', positiveNumber, 10)
    .option('--modes <list>', `data modes to try (default: ${DATA_MODES.join(',')})`, modeList)
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit status: 0 when every mode works, 1 otherwise, 2 for a bad URL.')
    .action(async (url: string, opts: { timeout: number; json?: boolean; modes?: DataMode[] }) => {
      let target;
      try {
        target = parseProbeUrl(url);
      } catch (err) {
        if (!(err instanceof ProbeUsageError)) throw err;
        process.stderr.write(`ftpfleet: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      const report = await runProbe(target, { timeoutSeconds: opts.timeout, modes: opts.modes });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatProbeReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
