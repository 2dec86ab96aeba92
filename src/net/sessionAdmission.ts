/**
 * Who may start a control session: the defender's deny list and bans, then
 * the session caps (in all, not yet logged in, per client address). Counts
 * the sessions it admits until they are released. Shared by the node, the
 * gateway and a node's primary process when it runs worker processes.
 */
import type { Socket } from 'node:net';
import { formatReply, reply } from '../protocol/replies.js';
import { normalizeAddress } from './addressMatch.js';
import { readControlProxy, type ControlProxyPolicy } from './controlListener.js';
import type { Defender } from './defender.js';
import type { ProxyHeader } from './proxyProtocol.js';

export interface SessionLimits {
  maxSessions: number;
  maxSessionsPerAddress: number;
  maxUnauthenticated: number;
}

export interface Refusal {
  /** For logs and the refused-connections metric. */
  why: string;
  /** The 421 reply's text. */
  text: string;
}

export class SessionAdmission {
  private readonly perAddress = new Map<string, number>();
  private open = 0;

  constructor(
    private readonly limits: SessionLimits,
    private readonly defender: Defender,
  ) {}

  /** Sessions admitted and not yet released. */
  get count(): number {
    return this.open;
  }

  /**
   * Admits (and counts) a session from `address`, or says why not.
   * `unauthenticated`: admitted sessions that have not logged in.
   */
  admit(address: string, unauthenticated: number): Refusal | null {
    const admission = this.defender.admit(address);
    if (admission === 'denied') return { why: 'denied', text: 'Access denied.' };
    if (admission === 'banned') return { why: 'banned', text: 'Your address is banned for a while; try again later.' };
    if (this.open >= this.limits.maxSessions) return { why: 'max sessions', text: 'Too many users; try again later.' };
    // Connections that have not logged in get a lower cap, so a flood leaves room for real sessions.
    if (unauthenticated >= this.limits.maxUnauthenticated) {
      return { why: 'max unauthenticated', text: 'Too many connections waiting to log in; try again later.' };
    }
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.limits.maxSessionsPerAddress) return { why: 'max sessions per address', text: 'Too many connections from your address.' };
    this.perAddress.set(address, n + 1);
    this.open++;
    return null;
  }

  release(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
    this.open = Math.max(0, this.open - 1);
  }
}

export interface AcceptHooks {
  proxy: ControlProxyPolicy;
  log: { warn(obj: object, msg: string): void };
  metrics: { connectionRefused(reason: string): void };
  /** Admits the real client address, or says why not. */
  admit(address: string): Refusal | null;
}

/**
 * A new control connection: the balancer's PROXY header (where the policy
 * asks for one), then admission of the real client — limits and bans apply to
 * it, not to the balancer in front. Null when refused (answered and closed).
 */
export async function acceptControl(socket: Socket, hooks: AcceptHooks): Promise<{ address: string; proxy: ProxyHeader | null } | null> {
  socket.on('error', () => {});
  const peer = normalizeAddress(socket.remoteAddress ?? '');
  const proxy = await readControlProxy(socket, peer, hooks.proxy, (why, detail) => {
    hooks.log.warn({ client: peer, err: detail }, why === 'proxy error' ? 'PROXY header refused' : detail);
    hooks.metrics.connectionRefused(why);
  });
  if (proxy === undefined) return null;
  const address = proxy?.source ? normalizeAddress(proxy.source.address) : peer;
  const refusal = hooks.admit(address);
  if (!refusal) return { address, proxy };
  hooks.log.warn({ client: address, why: refusal.why }, 'connection refused');
  hooks.metrics.connectionRefused(refusal.why);
  socket.end(formatReply(reply(421, refusal.text)));
  setTimeout(() => socket.destroy(), 1000).unref();
  return null;
}
