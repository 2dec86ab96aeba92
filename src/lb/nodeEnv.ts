/**
 * The settings each node must run with so that it matches the balancer
 * config generated from the same fleet description, as FTPFLEET_* environment
 * variables (the names `ftpfleet serve` reads; see config/load.ts).
 */
import { envName } from '../config/load.js';
import { rangeText, type Fleet, type FleetNode } from './fleet.js';

/** Active data leaves the real servers from this port; the balancer's MASQUERADE rule matches it. */
export const ACTIVE_SOURCE_PORT = 20;

export interface NodeSetting {
  /** Config key, e.g. "passive.portRange". */
  key: string;
  /** Value as written in the environment (a YAML scalar or flow list). */
  value: string;
  /** Why the node needs it (for comments). */
  why: string;
}

const list = (items: readonly string[]) => `[${items.join(',')}]`;

/** Whether the nodes see the balancer, not the client, as the peer of control connections. */
export function peerIsBalancer(fleet: Fleet): boolean {
  if (fleet.proxyProtocol.enabled) return false;
  if (fleet.balancer.kind === 'haproxy') return true;
  if (fleet.balancer.kind === 'nlb') return !fleet.balancer.nlb.preserveClientIp;
  return false; // LVS-NAT keeps the client's address
}

export function nodeSettings(fleet: Fleet, node: FleetNode): NodeSetting[] {
  const kind = fleet.balancer.kind;
  const out: NodeSetting[] = [
    { key: 'nodeId', value: node.name, why: 'names the node in logs and in STAT replies' },
    { key: 'listen.port', value: String(fleet.controlPort), why: `the balancer forwards the control port ${fleet.controlPort} to it` },
    { key: 'passive.portRange', value: rangeText(node.passive), why: 'exactly the slice the balancer forwards to this node' },
    { key: 'passive.address', value: fleet.vip, why: 'PASV must carry the address clients connect to, the VIP' },
  ];
  if (fleet.sharePorts) out.push({ key: 'passive.sharePorts', value: 'true', why: 'one passive port serves several sessions (few forwarded ports)' });
  if (kind === 'lvs') {
    out.push({
      key: 'active.sourcePort',
      value: String(ACTIVE_SOURCE_PORT),
      why: `active data from port ${ACTIVE_SOURCE_PORT}, which the balancer masquerades to the VIP (needs CAP_NET_BIND_SERVICE)`,
    });
  }
  if (peerIsBalancer(fleet)) {
    out.push({
      key: 'active.allowForeignAddress',
      value: 'true',
      why: 'the control peer is the balancer, not the client, so PORT/EPRT name another address (turn proxyProtocol on to keep the bounce check)',
    });
  }
  const pp = fleet.proxyProtocol;
  if (pp.enabled) {
    out.push({ key: 'proxyProtocol.control', value: 'required', why: 'the balancer sends a PROXY v2 header on control connections' });
    out.push({
      key: 'proxyProtocol.data',
      value: pp.data ? 'required' : 'off',
      why: pp.data ? 'and on passive data connections' : 'but not on passive data connections (the node expects them from the balancer, the control peer)',
    });
    out.push({ key: 'proxyProtocol.trustedNetworks', value: list(pp.trustedNetworks), why: 'where the balancer connects from' });
  }
  if (fleet.healthCheck.type === 'http') {
    out.push({ key: 'ops.enabled', value: 'true', why: `the balancer checks GET ${fleet.healthCheck.path} on the ops port` });
    out.push({ key: 'ops.address', value: node.address, why: 'the ops port must be reachable from the balancer (the default is 127.0.0.1)' });
    out.push({ key: 'ops.port', value: String(fleet.healthCheck.port), why: 'the port the balancer checks' });
  }
  return out;
}

/** "FTPFLEET_PASSIVE_PORT_RANGE=10000-10999" lines for one node. */
export function nodeEnvLines(fleet: Fleet, node: FleetNode): string[] {
  return nodeSettings(fleet, node).map((s) => `${envName(s.key.split('.'))}=${s.value}`);
}

/** The `--kind node-env` output: every node's lines, or one node's. */
export function generateNodeEnv(fleet: Fleet, only?: string): string {
  const nodes = only === undefined ? fleet.nodes : fleet.nodes.filter((n) => n.name === only);
  const blocks = nodes.map((node) => [`# node ${node.name} (${node.address})`, ...nodeEnvLines(fleet, node)].join('\n'));
  return blocks.join('\n\n') + '\n';
}

/** The same as comment lines, for the top of a generated balancer config. */
export function nodeEnvComment(fleet: Fleet, prefix = '#'): string[] {
  const lines = [
    `${prefix} Each node must run with these settings (FTPFLEET_* environment variables of`,
    `${prefix} "ftpfleet serve"; print them with: ftpfleet lb-config --kind node-env --fleet FILE):`,
  ];
  for (const node of fleet.nodes) {
    lines.push(`${prefix}   node ${node.name} (${node.address}):`);
    for (const line of nodeEnvLines(fleet, node)) lines.push(`${prefix}     ${line}`);
  }
  for (const s of nodeSettings(fleet, fleet.nodes[0]!)) {
    if (s.key === 'nodeId') continue;
    lines.push(`${prefix}   ${s.key}: ${s.why}`);
  }
  return lines;
}
