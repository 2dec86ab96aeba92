/**
 * Codecs for the data-connection addresses of PORT/PASV (RFC 959 §4.1.2,
 * h1,h2,h3,h4,p1,p2) and EPRT/EPSV (RFC 2428 §2-3, |proto|addr|port|).
 * Pure: strings in, validated values out; invalid input yields null.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

function byte(text: string): number | null {
  if (!/^\d{1,3}$/.test(text)) return null;
  const n = Number(text);
  return n <= 255 ? n : null;
}

/** Parses a PORT argument "h1,h2,h3,h4,p1,p2". */
export function parsePortArg(arg: string): HostPort | null {
  const parts = arg.trim().split(',');
  if (parts.length !== 6) return null;
  const bytes = parts.map((p) => byte(p.trim()));
  if (bytes.some((b) => b === null)) return null;
  const [h1, h2, h3, h4, p1, p2] = bytes as number[];
  const port = p1! * 256 + p2!;
  if (port === 0) return null;
  return { host: `${h1}.${h2}.${h3}.${h4}`, port };
}

/** Formats the "h1,h2,h3,h4,p1,p2" part of a 227 reply. */
export function formatPasvArg(hp: HostPort): string {
  if (!isIPv4(hp.host)) throw new Error(`PASV needs an IPv4 address, got ${hp.host}`);
  return `${hp.host.split('.').join(',')},${hp.port >> 8},${hp.port & 0xff}`;
}

/** Parses the "(h1,h2,h3,h4,p1,p2)" found in a 227 reply text. */
export function parsePasvReply(text: string): HostPort | null {
  const m = /(\d{1,3}(?:\s*,\s*\d{1,3}){5})/.exec(text);
  return m ? parsePortArg(m[1]!) : null;
}

export interface EprtArg extends HostPort {
  family: 4 | 6;
}

/**
 * Parses an EPRT argument "<d>proto<d>addr<d>port<d>" (RFC 2428 §2).
 * 'unsupported' means well-formed but for a protocol other than 1 (IPv4) or 2 (IPv6).
 */
export function parseEprtArg(arg: string): EprtArg | 'unsupported' | null {
  const text = arg.trim();
  if (text.length < 7) return null;
  const d = text[0]!;
  // RFC 2428: the delimiter is a printable ASCII char (33-126), not a digit.
  const dc = d.charCodeAt(0);
  if (dc < 33 || dc > 126 || /[0-9a-fA-F.:]/.test(d)) return null;
  const parts = text.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') return null;
  const [, proto, host, portText] = parts as [string, string, string, string, string];
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  if (proto === '1' && isIPv4(host)) return { family: 4, host, port };
  if (proto === '2' && isIPv6(host)) return { family: 6, host, port };
  return /^\d+$/.test(proto) && proto !== '1' && proto !== '2' ? 'unsupported' : null;
}

export function formatEprtArg(a: EprtArg): string {
  return `|${a.family === 4 ? 1 : 2}|${a.host}|${a.port}|`;
}

/** The "(|||port|)" part of a 229 reply (RFC 2428 §3). */
export function formatEpsvArg(port: number): string {
  return `(|||${port}|)`;
}

export function parseEpsvReply(text: string): number | null {
  const m = /\((.)\1\1(\d{1,5})\1\)/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? port : null;
}

export type EpsvArg = { kind: 'any' } | { kind: 'all' } | { kind: 'family'; family: 4 | 6 } | null;

/** Parses the optional EPSV argument: none, "ALL", "1" or "2". */
export function parseEpsvArg(arg: string): EpsvArg {
  const a = arg.trim().toUpperCase();
  if (a === '') return { kind: 'any' };
  if (a === 'ALL') return { kind: 'all' };
  if (a === '1') return { kind: 'family', family: 4 };
  if (a === '2') return { kind: 'family', family: 6 };
  return null;
}
