/**
 * What the AWS NLB generators share: NLB listeners are per port (no ranges),
 * so every passive port of every node gets a listener and a target group of
 * its own, with the node that owns the port as the only target.
 */
import type { Fleet } from './fleet.js';

/** AWS default quota "listeners per Network Load Balancer" (adjustable). */
export const NLB_LISTENER_QUOTA = 50;
/** CloudFormation: resources per template. */
export const CFN_RESOURCE_LIMIT = 500;

export interface NlbHealthCheck {
  protocol: 'HTTP' | 'TCP';
  port: number;
  path: string | null;
  interval: number;
  timeout: number;
  healthy: number;
  unhealthy: number;
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** The fleet's health check within what NLB target groups accept. */
export function nlbHealthCheck(fleet: Fleet): NlbHealthCheck {
  const hc = fleet.healthCheck;
  return {
    protocol: hc.type === 'http' ? 'HTTP' : 'TCP',
    port: hc.type === 'http' ? hc.port : fleet.controlPort,
    path: hc.type === 'http' ? hc.path : null,
    interval: clamp(hc.interval, 5, 300),
    timeout: clamp(hc.timeout, 2, 120),
    healthy: clamp(hc.rise, 2, 10),
    unhealthy: clamp(hc.fall, 2, 10),
  };
}

/** Every passive port with the node that owns it, in port order. */
export function passivePorts(fleet: Fleet): Array<{ port: number; node: string; address: string }> {
  const out: Array<{ port: number; node: string; address: string }> = [];
  for (const node of fleet.nodes) {
    for (let p = node.passive.min; p <= node.passive.max; p++) out.push({ port: p, node: node.name, address: node.address });
  }
  return out.sort((a, b) => a.port - b.port);
}

/** Comment lines (without the comment marker) that every NLB output carries. */
export function nlbNotes(fleet: Fleet): string[] {
  const listeners = 1 + passivePorts(fleet).length;
  const notes = [
    `The VIP ${fleet.vip} must be one of this NLB's addresses (the Elastic IP of a subnet mapping,`,
    'or its private address when internal): the nodes advertise it in PASV replies, and a client',
    'that resolved the NLB\'s DNS name to another zone\'s address still reaches every node with',
    'cross-zone load balancing on.',
    `Listeners: ${listeners} (control port ${fleet.controlPort} and one per passive port).`,
  ];
  if (listeners > NLB_LISTENER_QUOTA) {
    notes.push(
      `WARNING: AWS allows ${NLB_LISTENER_QUOTA} listeners per NLB by default; this fleet needs ${listeners}.`,
      'Ask for a quota increase, or give each node a slice of a few ports and set sharePorts: true',
      '(passive.sharePorts: one port serves many sessions from different client addresses).',
    );
  }
  if (!fleet.proxyProtocol.enabled && !fleet.balancer.nlb.preserveClientIp) {
    notes.push(
      'Without PROXY protocol or client IP preservation the nodes see the NLB as every client:',
      'per-address limits and bans then apply to all clients together.',
    );
  }
  return notes;
}
