/**
 * A node's control listener: accepts connections, applies the session
 * limits and the defender's deny list and bans before a session is
 * created, and stops gracefully.
 */
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { NetworkList, normalizeAddress } from '../net/addressMatch.js';
import { listenOnAll, readControlProxy } from '../net/controlListener.js';
import { formatReply, reply } from '../protocol/replies.js';
import type { ServerContext } from './context.js';
import { Session } from './session.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export class FtpServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Session>();
  private readonly perAddress = new Map<string, number>();
  private stopping = false;
  private sweeper: NodeJS.Timeout | null = null;
  readonly ctx: ServerContext;
  private readonly trustedProxies: NetworkList;

  constructor(ctx: Omit<ServerContext, 'sessionsOfUser'>) {
    this.ctx = { ...ctx, sessionsOfUser: (name) => this.countUser(name) };
    this.trustedProxies = new NetworkList(ctx.config.proxyProtocol.trustedNetworks);
  }

  private get log(): Logger {
    return this.ctx.log;
  }

  /** Addresses actually bound, e.g. for port 0. */
  addresses(): Array<{ address: string; port: number }> {
    return this.servers.map((s) => s.address()).filter((a): a is import('node:net').AddressInfo => typeof a === 'object' && a !== null);
  }

  async start(): Promise<void> {
    const { listen, tls } = this.ctx.config;
    this.sweeper = setInterval(() => this.ctx.defender.sweep(), 1000).unref();
    await this.listenAll(listen.port, false);
    if (this.ctx.tls && tls.implicitPort !== null) await this.listenAll(tls.implicitPort, true);
  }

  private async listenAll(port: number, implicitTls: boolean): Promise<void> {
    const servers = await listenOnAll(this.ctx.config.listen.addresses, port, (socket) => void this.onConnection(socket, implicitTls), (err) =>
      this.log.error({ err }, 'listener error'),
    );
    for (const server of servers) {
      this.servers.push(server);
      const a = server.address() as import('node:net').AddressInfo;
      this.log.info({ address: a.address, port: a.port, implicitTls: implicitTls || undefined }, 'listening');
    }
  }

  private countUser(name: string): number {
    let n = 0;
    for (const s of this.sessions) if (s.user?.name === name) n++;
    return n;
  }

  private async onConnection(socket: Socket, implicitTls: boolean): Promise<void> {
    socket.on('error', () => {});
    const peer = normalizeAddress(socket.remoteAddress ?? '');
    const pp = this.ctx.config.proxyProtocol;
    const proxy = await readControlProxy(socket, peer, { ...pp, trusted: this.trustedProxies }, (why, detail) => {
      this.log.warn({ client: peer, err: detail }, why === 'proxy error' ? 'PROXY header refused' : detail);
      this.ctx.metrics.connectionRefused(why);
    });
    if (proxy === undefined) return;
    // Limits and bans apply to the real client, not to the balancer in front.
    const address = proxy?.source ? normalizeAddress(proxy.source.address) : peer;
    const limits = this.ctx.config.limits;
    const refuse = (why: string, text: string) => {
      this.log.warn({ client: address, why }, 'connection refused');
      this.ctx.metrics.connectionRefused(why);
      socket.end(formatReply(reply(421, text)));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (this.stopping) return refuse('shutting down', 'Server shutting down.');
    const admission = this.ctx.defender.admit(address);
    if (admission === 'denied') return refuse('denied', 'Access denied.');
    if (admission === 'banned') return refuse('banned', 'Your address is banned for a while; try again later.');
    if (this.sessions.size >= limits.maxSessions) return refuse('max sessions', 'Too many users; try again later.');
    // Connections that have not logged in get a lower cap, so a flood leaves room for real sessions.
    if (this.unauthenticatedCount() >= limits.maxUnauthenticated) return refuse('max unauthenticated', 'Too many connections waiting to log in; try again later.');
    const count = this.perAddress.get(address) ?? 0;
    if (count >= limits.maxSessionsPerAddress) return refuse('max sessions per address', 'Too many connections from your address.');
    this.perAddress.set(address, count + 1);
    const session = new Session(socket, this.ctx, (s) => this.onSessionClosed(s), { implicitTls, proxy });
    this.sessions.add(session);
    this.ctx.metrics.sessionOpened();
    session.start();
  }

  private unauthenticatedCount(): number {
    let n = 0;
    for (const s of this.sessions) if (!s.user) n++;
    return n;
  }

  private onSessionClosed(session: Session): void {
    if (!this.sessions.delete(session)) return;
    const n = (this.perAddress.get(session.clientAddress) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(session.clientAddress);
    else this.perAddress.set(session.clientAddress, n);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** For /readyz: can this node take new sessions? */
  async readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    checks.draining = this.stopping ? { ok: false, detail: 'draining' } : { ok: true };
    try {
      await this.ctx.storage.check();
      checks.storage = { ok: true };
    } catch (err) {
      checks.storage = { ok: false, detail: (err as Error).message };
    }
    const pool = this.ctx.passivePorts;
    // Shared ports take further sessions (other client addresses) even when all are listening.
    checks.passivePorts = this.ctx.config.passive.sharePorts
      ? { ok: true, detail: `${pool.waiting} sessions waiting on ${pool.leased} of ${pool.size} shared ports` }
      : pool.leased < pool.size
        ? { ok: true, detail: `${pool.size - pool.leased} of ${pool.size} free` }
        : { ok: false, detail: 'all passive ports in use' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  sessionCounts(): { total: number; loggedIn: number } {
    let loggedIn = 0;
    for (const s of this.sessions) if (s.user) loggedIn++;
    return { total: this.sessions.size, loggedIn };
  }

  status(): Record<string, unknown> {
    const pool = this.ctx.passivePorts;
    return {
      node: this.ctx.config.nodeId,
      draining: this.stopping,
      sessions: this.sessions.size,
      loggedIn: this.sessionCounts().loggedIn,
      transfers: [...this.sessions].filter((s) => s.transferProgress()).length,
      passivePorts: { range: `${pool.min}-${pool.max}`, listening: pool.leased, waiting: pool.waiting },
      bannedAddresses: this.ctx.defender.activeBans,
    };
  }

  /**
   * Stops accepting, closes idle sessions, lets running transfers finish
   * within `graceMs`, then cuts whatever is left.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const s of this.servers) s.close();
    for (const s of this.sessions) s.drain();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.sessions.size > 0) {
      this.log.warn({ sessions: this.sessions.size }, 'grace period over; closing remaining sessions');
      for (const s of this.sessions) s.socket.destroy();
    }
  }
}
