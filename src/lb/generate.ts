/** `ftpfleet lb-config --kind K`: which generator, and which balancer kind it belongs to. */
import { FleetError, type BalancerKind, type Fleet } from './fleet.js';
import { generateHaproxy } from './haproxy.js';
import { generateIptables } from './iptables.js';
import { generateKeepalived } from './keepalived.js';
import { NLB_LISTENER_QUOTA, passivePorts } from './nlb.js';
import { generateNlbCloudFormation } from './nlbCloudFormation.js';
import { generateNlbTerraform } from './nlbTerraform.js';
import { generateNftables } from './nftables.js';
import { generateNodeEnv } from './nodeEnv.js';

export const OUTPUT_KINDS = ['keepalived', 'iptables', 'nftables', 'haproxy', 'nlb-terraform', 'nlb-cloudformation', 'node-env'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

/** The balancer each output is for (node-env fits every one). */
const BALANCER_OF: Record<Exclude<OutputKind, 'node-env'>, BalancerKind> = {
  keepalived: 'lvs',
  iptables: 'lvs',
  nftables: 'lvs',
  haproxy: 'haproxy',
  'nlb-terraform': 'nlb',
  'nlb-cloudformation': 'nlb',
};

export interface Generated {
  text: string;
  /** Things the user should know (printed on stderr by the CLI). */
  warnings: string[];
}

export interface GenerateOptions {
  /** node-env: only this node. */
  node?: string;
}

export function generate(kind: OutputKind, fleet: Fleet, options: GenerateOptions = {}): Generated {
  if (!(OUTPUT_KINDS as readonly string[]).includes(kind)) {
    throw new FleetError(`unknown --kind "${kind}"; allowed: ${OUTPUT_KINDS.join(', ')}`);
  }
  if (kind !== 'node-env' && BALANCER_OF[kind] !== fleet.balancer.kind) {
    const fits = OUTPUT_KINDS.filter((k) => k === 'node-env' || BALANCER_OF[k as Exclude<OutputKind, 'node-env'>] === fleet.balancer.kind);
    throw new FleetError(
      `--kind ${kind} is a config for balancer kind "${BALANCER_OF[kind]}", but the fleet's balancer.kind is "${fleet.balancer.kind}" ` +
        `(the node settings differ between them); for this fleet use --kind ${fits.join(', ')}`,
    );
  }
  if (options.node !== undefined && !fleet.nodes.some((n) => n.name === options.node)) {
    throw new FleetError(`no node named "${options.node}" in the fleet; nodes: ${fleet.nodes.map((n) => n.name).join(', ')}`);
  }
  const warnings: string[] = [];
  if (fleet.balancer.kind === 'nlb' && kind !== 'node-env') {
    const listeners = 1 + passivePorts(fleet).length;
    if (listeners > NLB_LISTENER_QUOTA) {
      warnings.push(
        `the fleet needs ${listeners} NLB listeners (one per passive port); AWS allows ${NLB_LISTENER_QUOTA} per NLB by default: ` +
          'ask for a quota increase, or use small slices with sharePorts: true',
      );
    }
  }
  switch (kind) {
    case 'keepalived':
      return { text: generateKeepalived(fleet), warnings };
    case 'iptables':
      return { text: generateIptables(fleet), warnings };
    case 'nftables':
      return { text: generateNftables(fleet), warnings };
    case 'haproxy':
      return { text: generateHaproxy(fleet), warnings };
    case 'nlb-terraform':
      return { text: generateNlbTerraform(fleet), warnings };
    case 'nlb-cloudformation':
      return { text: generateNlbCloudFormation(fleet), warnings };
    case 'node-env':
      return { text: generateNodeEnv(fleet, options.node), warnings };
  }
}
