/**
 * PROXY protocol v1 and v2 header parsing (haproxy.org proxy-protocol.txt).
 * Pure: bytes in, a header (or "need more bytes", or an error) out.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** "local": a connection of the proxy itself (health check); use the real peer. */
  command: 'proxy' | 'local';
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
  /** PP2_TYPE_UNIQUE_ID (0x05), hex-encoded, when the proxy sends one. */
  uniqueId: string | null;
}

export type ProxyParseResult =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  | { status: 'ok'; header: ProxyHeader; length: number };

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107;
const PP2_TYPE_UNIQUE_ID = 0x05;
/** v2 headers are bounded by their 16-bit length; refuse absurd ones early. */
const V2_MAX_PAYLOAD = 2048;

function startsWithPartial(buf: Buffer, prefix: Buffer): 'yes' | 'partial' | 'no' {
  const n = Math.min(buf.length, prefix.length);
  if (buf.subarray(0, n).compare(prefix.subarray(0, n)) !== 0) return 'no';
  return buf.length >= prefix.length ? 'yes' : 'partial';
}

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text) || (text.length > 1 && text.startsWith('0'))) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

function parseV1(buf: Buffer): ProxyParseResult {
  const end = buf.indexOf('\r\n');
  if (end === -1) {
    return buf.length >= V1_MAX ? { status: 'invalid', reason: 'v1 header longer than 107 bytes' } : { status: 'incomplete' };
  }
  if (end + 2 > V1_MAX) return { status: 'invalid', reason: 'v1 header longer than 107 bytes' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') {
    return { status: 'ok', length, header: { version: 1, command: 'local', source: null, destination: null, uniqueId: null } };
  }
  if (parts.length !== 6) return { status: 'invalid', reason: 'v1 header has the wrong number of fields' };
  const [, proto, src, dst, sportText, dportText] = parts as [string, string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (!valid) return { status: 'invalid', reason: `v1 protocol "${proto}" is not TCP4, TCP6 or UNKNOWN` };
  const sport = parsePort(sportText);
  const dport = parsePort(dportText);
  if (!valid(src) || !valid(dst) || sport === null || dport === null) {
    return { status: 'invalid', reason: 'v1 header has a bad address or port' };
  }
  return {
    status: 'ok',
    length,
    header: { version: 1, command: 'proxy', source: { address: src, port: sport }, destination: { address: dst, port: dport }, uniqueId: null },
  };
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as the canonical form does.
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
    i = j;
  }
  if (best.start === -1) return groups.join(':');
  const head = groups.slice(0, best.start).join(':');
  const tail = groups.slice(best.start + best.len).join(':');
  return `${head}::${tail}`;
}

function parseV2(buf: Buffer): ProxyParseResult {
  if (buf.length < 16) return { status: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { status: 'invalid', reason: `v2 version ${verCmd >> 4} is not 2` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { status: 'invalid', reason: `v2 command ${cmd} is not LOCAL or PROXY` };
  const fam = buf[13]!;
  const payloadLength = buf.readUInt16BE(14);
  if (payloadLength > V2_MAX_PAYLOAD) return { status: 'invalid', reason: `v2 header of ${payloadLength} bytes is too long` };
  const length = 16 + payloadLength;
  if (buf.length < length) return { status: 'incomplete' };
  const payload = buf.subarray(16, length);
  let source: ProxyEndpoint | null = null;
  let destination: ProxyEndpoint | null = null;
  let tlvStart = 0;
  const family = fam >> 4;
  const transport = fam & 0x0f;
  if (family === 1 || family === 2) {
    const size = family === 1 ? 4 : 16;
    if (payload.length < size * 2 + 4) return { status: 'invalid', reason: 'v2 address block is too short' };
    const text = (b: Buffer) => (family === 1 ? Array.from(b).join('.') : ipv6Text(b));
    source = { address: text(payload.subarray(0, size)), port: payload.readUInt16BE(size * 2) };
    destination = { address: text(payload.subarray(size, size * 2)), port: payload.readUInt16BE(size * 2 + 2) };
    tlvStart = size * 2 + 4;
    if (cmd === 1 && transport !== 1) return { status: 'invalid', reason: 'v2 transport is not TCP (STREAM)' };
  } else if (family === 3) {
    tlvStart = 216; // AF_UNIX: two 108-byte paths; nothing we can use
    if (payload.length < tlvStart) return { status: 'invalid', reason: 'v2 unix address block is too short' };
  } else if (family !== 0) {
    return { status: 'invalid', reason: `v2 address family ${family} is unknown` };
  }
  if (cmd === 1 && source === null && family !== 3 && family !== 0) {
    return { status: 'invalid', reason: 'v2 PROXY command without addresses' };
  }
  let uniqueId: string | null = null;
  for (let i = tlvStart; i < payload.length; ) {
    if (i + 3 > payload.length) return { status: 'invalid', reason: 'v2 TLV is truncated' };
    const type = payload[i]!;
    const len = payload.readUInt16BE(i + 1);
    if (i + 3 + len > payload.length) return { status: 'invalid', reason: 'v2 TLV is truncated' };
    if (type === PP2_TYPE_UNIQUE_ID && len > 0 && len <= 128) uniqueId = payload.subarray(i + 3, i + 3 + len).toString('hex');
    i += 3 + len;
  }
  const command = cmd === 1 && source !== null ? 'proxy' : 'local';
  // LOCAL: the proxy's own connection (a health check); any addresses it carries must be ignored.
  if (command === 'local') return { status: 'ok', length, header: { version: 2, command, source: null, destination: null, uniqueId } };
  return { status: 'ok', length, header: { version: 2, command, source, destination, uniqueId } };
}

/**
 * Parses a PROXY header at the start of `buf`. "incomplete" means more bytes
 * are needed; "invalid" means the bytes are not a PROXY header (or a broken one).
 */
export function parseProxyHeader(buf: Buffer): ProxyParseResult {
  const v2 = startsWithPartial(buf, V2_SIGNATURE);
  if (v2 === 'yes') return parseV2(buf);
  const v1 = startsWithPartial(buf, V1_PREFIX);
  if (v1 === 'yes') return parseV1(buf);
  if (v2 === 'partial' || v1 === 'partial') return { status: 'incomplete' };
  return { status: 'invalid', reason: 'no PROXY protocol header' };
}

/** A v2 LOCAL header: the proxy's own connection (a health check), with no addresses. */
export function encodeProxyV2Local(): Buffer {
  const out = Buffer.alloc(16);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20;
  return out;
}

/** "a.b.c.d" as an IPv4-mapped IPv6 address in hex groups, for a header mixing families. */
function mapped(address: string): string {
  if (!isIPv4(address)) return address;
  const b = address.split('.').map(Number);
  return `::ffff:${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
}

/** Encodes a v2 PROXY header (for the gateway and for tests). */
export function encodeProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint, uniqueId?: Buffer): Buffer {
  const v4 = isIPv4(source.address) && isIPv4(destination.address);
  if (!v4) {
    source = { ...source, address: mapped(source.address) };
    destination = { ...destination, address: mapped(destination.address) };
  }
  const addrLen = v4 ? 12 : 36;
  const tlv = uniqueId ? Buffer.concat([Buffer.from([PP2_TYPE_UNIQUE_ID, uniqueId.length >> 8, uniqueId.length & 0xff]), uniqueId]) : Buffer.alloc(0);
  const out = Buffer.alloc(16 + addrLen + tlv.length);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = v4 ? 0x11 : 0x21;
  out.writeUInt16BE(addrLen + tlv.length, 14);
  const writeAddr = (addr: string, at: number) => {
    if (v4) addr.split('.').forEach((b, i) => (out[at + i] = Number(b)));
    else ipv6Bytes(addr).copy(out, at);
  };
  const size = v4 ? 4 : 16;
  writeAddr(source.address, 16);
  writeAddr(destination.address, 16 + size);
  out.writeUInt16BE(source.port, 16 + 2 * size);
  out.writeUInt16BE(destination.port, 18 + 2 * size);
  tlv.copy(out, 16 + addrLen);
  return out;
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
