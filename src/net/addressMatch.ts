/** Matching client addresses against lists of networks (CIDR). */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export class NetworkList {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.empty = cidrs.length === 0;
    for (const c of cidrs) {
      const [addr, bits] = c.split('/') as [string, string | undefined];
      const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(bits), type);
    }
  }

  has(address: string): boolean {
    const a = normalizeAddress(address);
    if (isIPv4(a)) return this.list.check(a, 'ipv4');
    if (isIPv6(a)) return this.list.check(a, 'ipv6');
    return false;
  }
}

/** Whether two textual addresses name the same host ("::1" = "0:0:0:0:0:0:0:1", "::ffff:1.2.3.4" = "1.2.3.4"). */
export function sameAddress(a: string, b: string): boolean {
  const x = normalizeAddress(a);
  const y = normalizeAddress(b);
  if (x === y) return true;
  const family = isIPv6(x) ? 'ipv6' : isIPv4(x) ? 'ipv4' : null;
  if (family === null || !(family === 'ipv6' ? isIPv6(y) : isIPv4(y))) return false;
  const list = new BlockList();
  list.addAddress(x, family);
  return list.check(y, family);
}
