/** `ftpfleet lb-config`: balancer configs and node settings from one fleet description. */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { FleetError, parseFleetYaml } from '../lb/fleet.js';
import { generate, OUTPUT_KINDS, type OutputKind } from '../lb/generate.js';

export function lbConfigCommand(): Command {
  return new Command('lb-config')
    .description('generate a load balancer config (and the matching node settings) from a fleet description')
    .requiredOption('-f, --fleet <file>', 'fleet description (YAML)')
    .addOption(new Option('-k, --kind <kind>', 'what to generate').choices(OUTPUT_KINDS).makeOptionMandatory())
    .option('-o, --out <file>', 'write to FILE instead of standard output')
    .option('--node <name>', 'with --kind node-env: only this node')
    .addHelpText(
      'after',
      [
        '',
        'Kinds: keepalived, iptables, nftables (balancer.kind lvs); haproxy (balancer.kind haproxy);',
        'nlb-terraform, nlb-cloudformation (balancer.kind nlb); node-env (any): the FTPFLEET_* settings',
        'each node needs to match the balancer. See README "Deploying behind a load balancer" for the',
        'fleet file, and examples/fleets/ for one fleet per balancer kind.',
      ].join('\n'),
    )
    .action((opts: { fleet: string; kind: OutputKind; out?: string; node?: string }) => {
      try {
        let text: string;
        try {
          text = readFileSync(opts.fleet, 'utf8');
        } catch (err) {
          throw new FleetError(`cannot read fleet file ${opts.fleet}: ${(err as Error).message}`);
        }
        const fleet = parseFleetYaml(text, opts.fleet);
        const result = generate(opts.kind, fleet, { node: opts.node });
        for (const w of result.warnings) process.stderr.write(`ftpfleet: warning: ${w}\n`);
        if (opts.out) {
          writeFileSync(opts.out, result.text);
          process.stderr.write(`ftpfleet: wrote ${opts.kind} config for ${fleet.nodes.length} node(s) to ${opts.out}\n`);
        } else {
          process.stdout.write(result.text);
        }
      } catch (err) {
        if (!(err instanceof FleetError)) throw err;
        process.stderr.write(`ftpfleet: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}
