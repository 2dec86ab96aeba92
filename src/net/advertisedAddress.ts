/**
 * The IPv4 address a node puts in its 227 (PASV) replies. Behind a balancer
 * that is not the node's own address: the VIP, the address the client reached,
 * or one chosen by the client's network (EPSV carries no address and needs
 * none of this).
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { NetworkList } from './addressMatch.js';

export interface AdvertisedAddressOptions {
  /** "auto", an IPv4 address (0.0.0.0 included) or a host name. */
  address: string;
  byNetwork: ReadonlyArray<{ networks: readonly string[]; address: string }>;
  resolveIntervalMs: number;
}

export type Resolve4 = (host: string) => Promise<string>;

const resolveIPv4: Resolve4 = async (host) => (await lookup(host, { family: 4 })).address;

export class AdvertisedAddress {
  private readonly rules: Array<{ networks: NetworkList; address: string }>;
  private resolved: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: AdvertisedAddressOptions,
    private readonly log?: Logger,
    private readonly resolve: Resolve4 = resolveIPv4,
  ) {
    this.rules = options.byNetwork.map((r) => ({ networks: new NetworkList(r.networks), address: r.address }));
  }

  private get hostName(): string | null {
    const a = this.options.address;
    return a === 'auto' || isIP(a) !== 0 ? null : a;
  }

  /** Resolves a configured host name (failing start-up if it does not resolve) and keeps it fresh. */
  async start(): Promise<void> {
    const host = this.hostName;
    if (host === null) return;
    try {
      this.resolved = await this.resolve(host);
    } catch (err) {
      throw new Error(`passive.address: cannot resolve "${host}" to an IPv4 address: ${(err as Error).message}`);
    }
    this.log?.info({ host, address: this.resolved }, 'passive address resolved');
    this.timer = setInterval(() => void this.refresh(host), this.options.resolveIntervalMs);
    this.timer.unref();
  }

  private async refresh(host: string): Promise<void> {
    try {
      const address = await this.resolve(host);
      if (address !== this.resolved) this.log?.info({ host, address, previous: this.resolved }, 'passive address changed');
      this.resolved = address;
    } catch (err) {
      this.log?.warn({ host, err: (err as Error).message, keeping: this.resolved }, 'passive address did not resolve; keeping the last one');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The address for a 227 reply to `client`, who connected to `connectedTo`; null when there is no IPv4 one. */
  forClient(client: string, connectedTo: string): string | null {
    for (const rule of this.rules) if (rule.networks.has(client)) return rule.address;
    const a = this.options.address;
    if (a === 'auto') return isIPv4(connectedTo) ? connectedTo : null;
    if (isIPv4(a)) return a;
    return this.resolved;
  }
}
