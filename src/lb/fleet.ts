/**
 * The fleet description: one YAML file that says what sits in front of the
 * nodes (the balancer), where the nodes are and which passive slice each one
 * owns. `ftpfleet lb-config` turns it into balancer configs and into the
 * settings each node must run with, so the two always match.
 * Pure: parsing and validation only, no files, no sockets.
 */
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { cidr } from '../config/schema.js';

export class FleetError extends Error {}

/** What sits in front of the nodes. */
export const BALANCER_KINDS = ['lvs', 'haproxy', 'nlb'] as const;
export type BalancerKind = (typeof BALANCER_KINDS)[number];

/** IPVS schedulers keepalived accepts in lb_algo. */
export const LVS_ALGORITHMS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'] as const;

export interface PortRange {
  min: number;
  max: number;
}

const port = z.number().int().min(1).max(65535);

const ipv4 = z.string().refine((s) => isIP(s) === 4, 'expected an IPv4 address');


/** "10000-10999", exactly as the node's passive.portRange is written. */
const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'expected a port range "MIN-MAX", e.g. "10000-10999"')
  .transform((text, ctx): PortRange => {
    const [min, max] = text.split('-').map(Number) as [number, number];
    if (min < 1 || max > 65535 || min > max) {
      ctx.addIssue({ code: 'custom', message: 'expected 1 <= MIN <= MAX <= 65535' });
      return z.NEVER;
    }
    return { min, max };
  });

/** Node names become node ids, HAProxy server names and Terraform keys. */
const nodeName = z
  .preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string())
  .refine((s) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(s), 'expected a name of letters, digits and _.- (at most 63, starting with a letter or digit)');

const interfaceName = z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'expected a network interface name, e.g. "eth0"');

const nodeSchema = z
  .object({
    name: nodeName,
    /** The node's own address, as the balancer reaches it. */
    address: ipv4,
    /** The node's passive slice (its passive.portRange). */
    passive: portRange,
  })
  .strict();

const lvsSchema = z
  .object({
    /** Firewall mark that groups the control port and the passive ports into one IPVS service. */
    fwmark: z.number().int().min(1).max(0xffffffff).default(21),
    lbAlgo: z.enum(LVS_ALGORITHMS).default('wlc'),
    /** The real servers' network: active data from it, from port 20, is masqueraded. */
    serverNetwork: cidr.optional(),
    /** Interface of the public side (optional: rules then match any interface). */
    publicInterface: interfaceName.optional(),
    /** keepalived delay_loop: seconds between health checks. */
    delayLoop: z.number().int().min(1).default(6),
    /** Optional VRRP instance that holds the VIP (and e.g. the servers' gateway address). */
    vrrp: z
      .object({
        interface: interfaceName,
        virtualRouterId: z.number().int().min(1).max(255),
        priority: z.number().int().min(1).max(254).default(100),
        state: z.enum(['MASTER', 'BACKUP']).default('MASTER'),
        /** More addresses the pair holds, in keepalived syntax, e.g. "10.0.0.1/24 dev eth1". */
        extraAddresses: z.array(z.string().regex(/^[^{}\n]+$/, 'expected one keepalived address line')).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

const haproxySchema = z
  .object({
    maxconn: z.number().int().min(1).default(2000),
    /** Seconds an idle control connection may stay open (a long transfer keeps it idle). */
    timeoutClient: z.number().int().min(1).default(1800),
    timeoutConnect: z.number().int().min(1).default(5),
    /** Optional runtime API socket, e.g. /run/haproxy/admin.sock. */
    statsSocket: z.string().regex(/^\/\S+$/, 'expected an absolute path').optional(),
  })
  .strict();

const nlbSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/, 'expected 1-32 letters, digits and hyphens, not starting or ending with a hyphen')
      .default('ftpfleet'),
    vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, 'expected a VPC id, e.g. "vpc-0123456789abcdef0"').optional(),
    /** One per availability zone; allocationId gives the NLB that zone's Elastic IP (the VIP is one of them). */
    subnetMappings: z
      .array(
        z
          .object({
            subnetId: z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet id, e.g. "subnet-0123456789abcdef0"'),
            allocationId: z.string().regex(/^eipalloc-[0-9a-f]+$/, 'expected an Elastic IP allocation id, e.g. "eipalloc-0123456789abcdef0"').optional(),
            privateIpv4Address: ipv4.optional(),
          })
          .strict(),
      )
      .default([]),
    internal: z.boolean().default(false),
    crossZone: z.boolean().default(true),
    /** Targets see the client's address instead of the NLB's (IP targets: off by default in AWS). */
    preserveClientIp: z.boolean().default(false),
    deregistrationDelay: z.number().int().min(0).max(3600).default(30),
  })
  .strict();

const proxyProtocolSchema = z.preprocess(
  (v) => (typeof v === 'boolean' ? { enabled: v } : v),
  z
    .object({
      enabled: z.boolean().default(false),
      /** Header on passive data connections too (default: when enabled). */
      data: z.boolean().optional(),
      /** Where the balancer connects to the nodes from: the only peers allowed to send headers. */
      trustedNetworks: z.array(cidr).default([]),
    })
    .strict(),
);

/** Whether passive data connections reach the nodes with the client's address (in the header or as their source). */
function dataCarriesClient(fleet: {
  balancer: { kind: BalancerKind; nlb: { preserveClientIp: boolean } };
  proxyProtocol: { enabled: boolean; data?: boolean | undefined };
}): boolean {
  const pp = fleet.proxyProtocol;
  if (pp.enabled && pp.data !== false) return true;
  if (fleet.balancer.kind === 'lvs') return true; // LVS-NAT keeps the client's address
  return fleet.balancer.kind === 'nlb' && fleet.balancer.nlb.preserveClientIp;
}

export const fleetSchema = z
  .object({
    /** The address clients connect to; every node advertises it in PASV replies. */
    vip: ipv4,
    controlPort: port.default(21),
    balancer: z
      .object({
        kind: z.enum(BALANCER_KINDS),
        lvs: lvsSchema.prefault({}),
        haproxy: haproxySchema.prefault({}),
        nlb: nlbSchema.prefault({}),
      })
      .strict(),
    nodes: z.array(nodeSchema).min(1, 'expected at least one node'),
    healthCheck: z
      .object({
        /** http: GET path on the node's ops port, expecting 200; tcp: connect (and, for HAProxy, a 220 greeting) on the control port. */
        type: z.enum(['http', 'tcp']).default('tcp'),
        /** The nodes' ops port (ops.port), for type http. */
        port: port.default(9121),
        path: z.string().regex(/^\/\S*$/, 'expected a path starting with "/"').default('/readyz'),
        /** Seconds between checks. */
        interval: z.number().int().min(1).default(5),
        /** Seconds a check may take. */
        timeout: z.number().int().min(1).default(3),
        /** Failed checks before a node is taken out, passed checks before it is taken back. */
        fall: z.number().int().min(1).max(10).default(2),
        rise: z.number().int().min(1).max(10).default(2),
      })
      .strict()
      .prefault({}),
    /** Seconds a client stays on its node after its last connection (LVS persistence). */
    persistenceTimeout: z.number().int().min(1).default(300),
    proxyProtocol: proxyProtocolSchema.prefault({}),
    /** The nodes' passive.sharePorts: one passive port serves several sessions (for balancers that forward few ports). */
    sharePorts: z.boolean().default(false),
  })
  .strict()
  .superRefine((fleet, ctx) => {
    const nodeLabel = (i: number) => `nodes[${i}] (${fleet.nodes[i]!.name})`;
    const seenNames = new Map<string, number>();
    const seenAddresses = new Map<string, number>();
    fleet.nodes.forEach((node, i) => {
      const sameName = seenNames.get(node.name);
      if (sameName !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], message: `the name is already used by nodes[${sameName}]; each node needs its own name (its node id)` });
      } else seenNames.set(node.name, i);
      const sameAddress = seenAddresses.get(node.address);
      if (sameAddress !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'address'], message: `the address is already used by ${nodeLabel(sameAddress)}` });
      } else seenAddresses.set(node.address, i);
      const { min, max } = node.passive;
      if (fleet.controlPort >= min && fleet.controlPort <= max) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'passive'], message: `the passive slice of ${node.name} contains the control port ${fleet.controlPort}; move the slice off it` });
      }
      if (fleet.healthCheck.type === 'http' && fleet.healthCheck.port >= min && fleet.healthCheck.port <= max) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'passive'], message: `the passive slice of ${node.name} contains the ops port ${fleet.healthCheck.port} (healthCheck.port); move the slice off it` });
      }
      if (node.address === fleet.vip) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'address'], message: `a node cannot have the VIP as its own address (${fleet.balancer.kind} forwards from the VIP to the nodes)` });
      }
      for (let j = 0; j < i; j++) {
        const other = fleet.nodes[j]!.passive;
        if (min <= other.max && other.min <= max) {
          ctx.addIssue({
            code: 'custom',
            path: ['nodes', i, 'passive'],
            message: `overlaps the passive slice ${other.min}-${other.max} of ${nodeLabel(j)}; every node needs its own slice, so that a passive port always leads to the node that opened it`,
          });
        }
      }
    });
    const kind = fleet.balancer.kind;
    const pp = fleet.proxyProtocol;
    if (pp.enabled && kind === 'lvs') {
      ctx.addIssue({ code: 'custom', path: ['proxyProtocol', 'enabled'], message: 'LVS forwards packets and sends no PROXY header; set proxyProtocol to false for balancer kind "lvs"' });
    }
    if (pp.enabled && pp.trustedNetworks.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['proxyProtocol', 'trustedNetworks'],
        message: 'required when proxyProtocol is on: the networks the balancer connects to the nodes from (the nodes refuse headers from anyone else)',
      });
    }
    if (!pp.enabled && pp.data === true) {
      ctx.addIssue({ code: 'custom', path: ['proxyProtocol', 'data'], message: 'PROXY headers on data connections need proxyProtocol.enabled: true' });
    }
    if (fleet.sharePorts && !dataCarriesClient(fleet)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sharePorts'],
        message:
          `a shared passive port tells sessions apart by the client address of each data connection, but ${kind} data connections ` +
          'reach the nodes from the balancer\'s address without a PROXY header, so sharing would do nothing; ' +
          'set proxyProtocol.enabled: true with proxyProtocol.data: true (its default when enabled)' +
          (kind === 'nlb' ? ' or balancer.nlb.preserveClientIp: true' : '') +
          ', or sharePorts: false',
      });
    }
    if (kind === 'lvs' && fleet.balancer.lvs.serverNetwork === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['balancer', 'lvs', 'serverNetwork'],
        message: 'required for balancer kind "lvs": the real servers\' network, whose active data connections from port 20 are masqueraded to the VIP',
      });
    }
    if (kind === 'nlb') {
      const nlb = fleet.balancer.nlb;
      if (nlb.vpcId === undefined) {
        ctx.addIssue({ code: 'custom', path: ['balancer', 'nlb', 'vpcId'], message: 'required for balancer kind "nlb": the VPC of the nodes (target type ip)' });
      }
      if (nlb.subnetMappings.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['balancer', 'nlb', 'subnetMappings'], message: 'required for balancer kind "nlb": at least one { subnetId, allocationId } (the VIP must be one of the NLB\'s addresses)' });
      }
    }
  });

export type FleetInput = z.input<typeof fleetSchema>;
type ParsedFleet = z.output<typeof fleetSchema>;
export type FleetNode = ParsedFleet['nodes'][number];

/** A validated fleet, with defaults filled in and the PROXY data setting resolved. */
export type Fleet = Omit<ParsedFleet, 'proxyProtocol'> & {
  proxyProtocol: { enabled: boolean; data: boolean; trustedNetworks: string[] };
};

function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(top level)';
}

function valueAt(tree: unknown, path: readonly PropertyKey[]): unknown {
  let node = tree;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Every problem on its own line, naming the key, the value found and what is allowed. */
export function formatFleetIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, source: string): string {
  const lines = issues.map((issue) => {
    const key = keyOf(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? `under "${key}"` : 'at the top level';
      return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} ${where}`;
    }
    const value = valueAt(raw, issue.path);
    const shown = value === undefined ? 'nothing' : JSON.stringify(value);
    return `key "${key}": got ${shown}; ${issue.message}`;
  });
  return `invalid fleet description (${source}):\n  ${lines.join('\n  ')}`;
}

/** Validates an already parsed fleet description. */
export function parseFleet(raw: unknown, source = 'fleet'): Fleet {
  const result = fleetSchema.safeParse(raw);
  if (!result.success) throw new FleetError(formatFleetIssues(result.error.issues, raw, source));
  const f = result.data;
  return { ...f, proxyProtocol: { ...f.proxyProtocol, data: f.proxyProtocol.data ?? f.proxyProtocol.enabled } };
}

/** Parses and validates fleet YAML text. */
export function parseFleetYaml(text: string, source = 'fleet'): Fleet {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new FleetError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FleetError(`${source} must hold a mapping of keys (vip, balancer, nodes, ...)`);
  return parseFleet(raw, source);
}

/** "10000-10999" */
export function rangeText(r: PortRange): string {
  return `${r.min}-${r.max}`;
}

/** Sorted, with overlapping and adjacent ranges joined: the union of the given ranges. */
export function mergeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.min - b.min);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.min <= last.max + 1) last.max = Math.max(last.max, r.max);
    else out.push({ ...r });
  }
  return out;
}

/** The union of the nodes' passive slices. */
export function passiveUnion(fleet: Fleet): PortRange[] {
  return mergeRanges(fleet.nodes.map((n) => n.passive));
}

export function passivePortCount(fleet: Fleet): number {
  return fleet.nodes.reduce((n, node) => n + node.passive.max - node.passive.min + 1, 0);
}
