/**
 * The pure parts of `ftpfleet probe`: the target URL, and turning what went
 * wrong in a data mode into the likely cause, in one line.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress, sameAddress } from '../net/addressMatch.js';
import type { Reply } from '../protocol/replies.js';
import { replyText } from './probeReply.js';

export const DATA_MODES = ['PASV', 'EPSV', 'PORT', 'EPRT'] as const;
export type DataMode = (typeof DATA_MODES)[number];

export interface ProbeTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Directory to work in (CWD), or "" for the login directory. */
  dir: string;
  /** The URL without the password, for reports. */
  display: string;
}

export class ProbeUsageError extends Error {}

/** ftp://user:pass@host:port/dir — user and password percent-decoded; anonymous when absent. */
export function parseProbeUrl(text: string): ProbeTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProbeUsageError(`not a URL: "${text}"; expected ftp://user:password@host[:port][/dir]`);
  }
  if (url.protocol !== 'ftp:') throw new ProbeUsageError(`unsupported scheme "${url.protocol}"; expected ftp://user:password@host[:port][/dir]`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ProbeUsageError(`no host in "${text}"`);
  let user: string, password: string, dir: string;
  try {
    user = url.username ? decodeURIComponent(url.username) : 'anonymous';
    password = url.password ? decodeURIComponent(url.password) : url.username ? '' : 'ftpfleet-probe@';
    dir = decodeURIComponent(url.pathname.replace(/^\//, '')).replace(/\/$/, '');
  } catch {
    throw new ProbeUsageError(`bad percent-encoding in "${text}"`);
  }
  const port = url.port ? Number(url.port) : 21;
  const shownHost = isIPv6(host) ? `[${host}]` : host;
  return { host, port, user, password, dir, display: `ftp://${encodeURIComponent(user)}@${shownHost}:${port}/${dir}` };
}

export type AddressKind = 'public' | 'private' | 'shared (CGNAT)' | 'loopback' | 'link-local' | 'unspecified' | 'benchmarking';

const RANGES: Array<[string, number, AddressKind]> = [
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['198.18.0.0', 15, 'benchmarking'],
];

/** What kind of IPv4/IPv6 address this is, for explaining why a client cannot reach it. */
export function addressKind(address: string): AddressKind {
  const a = normalizeAddress(address);
  if (a === '0.0.0.0' || a === '::') return 'unspecified';
  if (isIPv4(a)) {
    for (const [net, bits, kind] of RANGES) {
      const list = new BlockList();
      list.addSubnet(net, bits, 'ipv4');
      if (list.check(a, 'ipv4')) return kind;
    }
    return 'public';
  }
  if (isIPv6(a)) {
    if (a === '::1') return 'loopback';
    if (/^fe[89ab]/i.test(a)) return 'link-local';
    if (/^f[cd]/i.test(a)) return 'private';
  }
  return 'public';
}

/** Whether a client that reached `controlPeer` can expect to reach an address of `advertised`'s kind. */
function unreachableKind(advertised: string, controlPeer: string): AddressKind | null {
  const adv = addressKind(advertised);
  const ctl = addressKind(controlPeer);
  if (adv === 'public' || adv === ctl) return null;
  return adv;
}

export interface PassiveFailure {
  mode: 'PASV' | 'EPSV';
  /** Where the client connected (the advertised address for PASV, the control address for EPSV). */
  host: string;
  port: number;
  /** The address of the control connection's peer. */
  controlPeer: string;
  /** Node error code: ETIMEDOUT (our timeout), ECONNREFUSED, EHOSTUNREACH, … */
  code: string;
}

const RANGE_HINT = "check that the node's passive range matches the balancer's";

/** Why the client could not open the data connection the server advertised. */
export function passiveConnectCause(f: PassiveFailure): string {
  const what = f.code === 'ETIMEDOUT' ? 'timed out' : f.code === 'ECONNREFUSED' ? 'was refused' : `failed (${f.code})`;
  if (f.mode === 'PASV' && !sameAddress(f.host, f.controlPeer)) {
    const kind = unreachableKind(f.host, f.controlPeer);
    const desc = kind ? `a ${kind} address this client cannot reach` : `not the address this client connects to (${f.controlPeer})`;
    return `PASV advertised ${f.host}, ${desc}: the connection to ${f.host}:${f.port} ${what} — set passive.address to the address clients connect to (${f.controlPeer})`;
  }
  if (f.code === 'ETIMEDOUT') {
    return `data connection to the advertised port ${f.port} timed out: the balancer does not forward this port — ${RANGE_HINT}`;
  }
  if (f.code === 'ECONNREFUSED') {
    return `data connection to port ${f.port} was refused: nothing listens there — the port reaches a node that did not open it, or none (${RANGE_HINT}), or a firewall rejects it`;
  }
  if (f.code === 'EHOSTUNREACH' || f.code === 'ENETUNREACH') {
    return `no route to ${f.host}: ${f.mode === 'PASV' ? 'set passive.address to an address clients can reach' : 'the network drops connections to the data port'}`;
  }
  return `data connection to ${f.host}:${f.port} ${what}: ${RANGE_HINT}`;
}

/** PASV/EPSV/PORT/EPRT itself answered with an error. */
export function commandRefusedCause(mode: DataMode, r: Reply, sent?: string): string {
  const quoted = replyText(r);
  const text = r.lines.join(' ');
  if (mode === 'PORT' || mode === 'EPRT') {
    if (/disabled/i.test(text)) return `active mode is disabled on the server (active.enabled): "${quoted}"`;
    if (/own address|illegal port|foreign/i.test(text)) {
      return `the server refused the address ${sent ?? ''} as not this client's: "${quoted}" — this client is behind NAT without an FTP helper, or a proxy hides its address (use PROXY protocol)`;
    }
    if (/1024|privileged/i.test(text)) return `the server refused the port: "${quoted}"`;
    return `the server refused ${mode}: "${quoted}"`;
  }
  if (/disabled/i.test(text)) return `passive mode is disabled on the server (passive.enabled): "${quoted}"`;
  if (mode === 'PASV' && /IPv6|EPSV/i.test(text)) return `PASV cannot carry an IPv6 address: "${quoted}" — use EPSV, or set passive.address`;
  if (r.code === 425) return `no free passive port on the node: "${quoted}" — the passive range is too small for the load`;
  return `the server refused ${mode}: "${quoted}"`;
}

/** The active-mode data connection never arrived and the server said nothing. */
export function activeTimeoutCause(mode: 'PORT' | 'EPRT'): string {
  return `the server never connected back for ${mode}: active connections are blocked or not NATed (port 20 rule), or a firewall in front of this client drops them`;
}

/** The transfer command got an error reply (after the data connection was set up). */
export function transferReplyCause(mode: DataMode, r: Reply, connected: boolean): string {
  const quoted = replyText(r);
  if (r.code === 425 || r.code === 426) {
    if (mode === 'PORT' || mode === 'EPRT') {
      return `425/refused: "${quoted}" — the server could not connect to this client: a firewall or NAT in front of the client blocks it, or the balancer does not source-NAT active data`;
    }
    if (connected) {
      return `425/refused: "${quoted}" — the data connection reached the node from another address than the control connection (passive.requireSameAddress; PROXY headers on data connections missing?) or reached another node`;
    }
    return `425/refused: "${quoted}" — the node saw no data connection: ${RANGE_HINT}`;
  }
  if (r.code === 530 || r.code === 550 || r.code === 553) return `the server refused the file: "${quoted}" — does this user have read/write permission here?`;
  if (r.code === 421) return `the server closed the session: "${quoted}"`;
  return `unexpected reply: "${quoted}"`;
}

/** A note when the active data connection came from an address the client did not connect to. */
export function activeSourceNote(from: string, controlPeer: string): string | null {
  if (sameAddress(from, controlPeer)) return null;
  return `the server connected from ${from}, not from the address this client connects to (${controlPeer}): a NAT router in front of this client may drop such connections — the balancer should source-NAT active data to ${controlPeer}`;
}
