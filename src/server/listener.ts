/**
 * A node's control listener: accepts connections, applies the session
 * limits and the defender's deny list and bans before a session is
 * created, and stops gracefully. In a worker process (`workers` > 1) the
 * primary accepts and admits, and hands each connection over to `adopt`.
 */
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { NetworkList } from '../net/addressMatch.js';
import { listenOnAll } from '../net/controlListener.js';
import type { ProxyHeader } from '../net/proxyProtocol.js';
import { SessionAdmission, acceptControl, type Refusal } from '../net/sessionAdmission.js';
import type { ServerContext } from './context.js';
import { Session } from './session.js';

export const SHUTTING_DOWN: Refusal = { why: 'shutting down', text: 'Server shutting down.' };

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export class FtpServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Session>();
  private stopping = false;
  private sweeper: NodeJS.Timeout | null = null;
  readonly ctx: ServerContext;
  private readonly trustedProxies: NetworkList;
  private readonly admission: SessionAdmission;

  /** `ctx.claimLogin` defaults to this process's own count of the user's sessions. */
  constructor(
    ctx: Omit<ServerContext, 'claimLogin'> & Partial<Pick<ServerContext, 'claimLogin'>>,
    private readonly onClosed: (session: Session) => void = () => {},
  ) {
    this.ctx = { claimLogin: (_session, user) => user.maxSessions === undefined || this.countUser(user.name) < user.maxSessions, ...ctx };
    this.trustedProxies = new NetworkList(ctx.config.proxyProtocol.trustedNetworks);
    this.admission = new SessionAdmission(ctx.config.limits, ctx.defender);
  }

  private get log(): Logger {
    return this.ctx.log;
  }

  /** Addresses actually bound, e.g. for port 0. */
  addresses(): Array<{ address: string; port: number }> {
    return this.servers.map((s) => s.address()).filter((a): a is import('node:net').AddressInfo => typeof a === 'object' && a !== null);
  }

  /** Listens on the control port(s); without it (a worker process) sessions only come through `adopt`. */
  async start(listen = true): Promise<void> {
    const { config } = this.ctx;
    this.sweeper = setInterval(() => this.ctx.defender.sweep(), 1000).unref();
    if (!listen) return;
    await this.listenAll(config.listen.port, false);
    if (this.ctx.tls && config.tls.implicitPort !== null) await this.listenAll(config.tls.implicitPort, true);
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
    const accepted = await acceptControl(socket, {
      proxy: { ...this.ctx.config.proxyProtocol, trusted: this.trustedProxies },
      log: this.log,
      metrics: this.ctx.metrics,
      admit: (address) => (this.stopping ? SHUTTING_DOWN : this.admission.admit(address, this.unauthenticatedCount())),
    });
    if (accepted) this.adopt(socket, implicitTls, accepted.proxy);
  }

  /** Starts a session on an admitted connection. */
  adopt(socket: Socket, implicitTls: boolean, proxy: ProxyHeader | null): Session {
    socket.on('error', () => {});
    const session = new Session(socket, this.ctx, (s) => this.onSessionClosed(s), { implicitTls, proxy });
    this.sessions.add(session);
    this.ctx.metrics.sessionOpened();
    session.start();
    return session;
  }

  private unauthenticatedCount(): number {
    let n = 0;
    for (const s of this.sessions) if (!s.user) n++;
    return n;
  }

  private onSessionClosed(session: Session): void {
    if (!this.sessions.delete(session)) return;
    this.admission.release(session.clientAddress); // a no-op for adopted sessions, which the primary counts
    this.onClosed(session);
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
      const left = [...this.sessions];
      for (const s of left) s.socket.destroy();
      // The cut transfers discard their uploads (temp files) before the process exits: wait a little for that.
      const settled = Promise.all(left.map((s) => s.transferSettled()));
      await Promise.race([settled, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }
}
