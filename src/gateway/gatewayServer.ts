/**
 * The gateway's client listener (plain and implicit FTPS): the PROXY header
 * from its own balancer, the defender and session limits, then a
 * GatewaySession per connection; health checks of the backends; readiness,
 * status and graceful stop.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { NetworkList } from '../net/addressMatch.js';
import { listenOnAll } from '../net/controlListener.js';
import { SessionAdmission, acceptControl } from '../net/sessionAdmission.js';
import type { Readiness } from '../ops/opsServer.js';
import type { Backend } from './backendPool.js';
import { GatewaySession, type GatewayContext } from './gatewaySession.js';
import { checkBackend } from './healthCheck.js';

export class GatewayServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<GatewaySession>();
  private readonly admission: SessionAdmission;
  private readonly trustedProxies: NetworkList;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(readonly ctx: GatewayContext) {
    this.trustedProxies = new NetworkList(ctx.config.proxyProtocol.trustedNetworks);
    this.admission = new SessionAdmission(ctx.config.limits, ctx.defender);
  }

  addresses(): AddressInfo[] {
    return this.servers.map((s) => s.address()).filter((a): a is AddressInfo => typeof a === 'object' && a !== null);
  }

  async start(): Promise<void> {
    const { config } = this.ctx;
    // The first round decides each backend's state outright; later ones go through hysteresis.
    await Promise.all(this.ctx.pool.all().map((b) => this.check(b, true)));
    this.timers.push(setInterval(() => this.checkAll(), config.health.interval * 1000).unref());
    this.timers.push(setInterval(() => this.ctx.defender.sweep(), 1000).unref());
    await this.listenAll(config.listen.port, false);
    if (this.ctx.tls && config.tls.implicitPort !== null) await this.listenAll(config.tls.implicitPort, true);
  }

  private async listenAll(port: number, implicitTls: boolean): Promise<void> {
    const servers = await listenOnAll(this.ctx.config.listen.addresses, port, (socket) => void this.onConnection(socket, implicitTls), (err) =>
      this.ctx.log.error({ err }, 'listener error'),
    );
    for (const server of servers) {
      this.servers.push(server);
      const a = server.address() as AddressInfo;
      this.ctx.log.info({ address: a.address, port: a.port, implicitTls: implicitTls || undefined }, 'gateway listening');
    }
  }

  private checkAll(): void {
    for (const b of this.ctx.pool.all()) void this.check(b, false);
  }

  private async check(b: Backend, first: boolean): Promise<void> {
    const { config, log } = this.ctx;
    let error: string | null = null;
    try {
      await checkBackend(b.config, config.health.timeout * 1000);
    } catch (err) {
      error = (err as Error).message;
    }
    if (first) {
      b.up = error === null;
      b.lastError = error;
      if (error) log.warn({ backend: b.config.name, err: error }, 'backend down at start');
      return;
    }
    const change = this.ctx.pool.record(b, error === null, error);
    if (change === 'down') log.warn({ backend: b.config.name, err: error }, 'backend ejected');
    if (change === 'up') log.info({ backend: b.config.name }, 'backend re-admitted');
  }

  private async onConnection(socket: Socket, implicitTls: boolean): Promise<void> {
    const accepted = await acceptControl(socket, {
      proxy: { ...this.ctx.config.proxyProtocol, trusted: this.trustedProxies },
      log: this.ctx.log,
      metrics: this.ctx.metrics,
      admit: (address) => {
        if (this.stopping) return { why: 'shutting down', text: 'Gateway shutting down.' };
        const { total, loggedIn } = this.sessionCounts();
        return this.admission.admit(address, total - loggedIn);
      },
    });
    if (!accepted) return;
    const session = new GatewaySession(socket, this.ctx, (s) => this.onSessionClosed(s), { implicitTls, proxy: accepted.proxy });
    this.sessions.add(session);
    this.ctx.metrics.sessionOpened();
    session.start();
  }

  private onSessionClosed(session: GatewaySession): void {
    if (this.sessions.delete(session)) this.admission.release(session.clientAddress);
  }

  sessionCounts(): { total: number; loggedIn: number } {
    let loggedIn = 0;
    for (const s of this.sessions) if (s.loggedIn) loggedIn++;
    return { total: this.sessions.size, loggedIn };
  }

  /** Ready when not draining and at least one backend can take sessions. */
  async readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    checks.draining = this.stopping ? { ok: false, detail: 'draining' } : { ok: true };
    const usable = this.ctx.pool.all().filter((b) => b.up && !b.config.drain && !b.removed);
    checks.backends = usable.length > 0 ? { ok: true, detail: `${usable.length} usable` } : { ok: false, detail: 'no backend up' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  status(): Record<string, unknown> {
    return {
      node: this.ctx.config.nodeId,
      role: 'gateway',
      draining: this.stopping,
      sessions: this.sessions.size,
      loggedIn: this.sessionCounts().loggedIn,
      backends: this.ctx.pool.all().map((b) => ({
        name: b.config.name,
        host: b.config.host,
        port: b.config.port,
        group: b.config.group,
        up: b.up,
        draining: b.config.drain || b.removed,
        sessions: b.sessions,
        lastError: b.lastError,
      })),
      bannedAddresses: this.ctx.defender.activeBans,
    };
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.servers) s.close();
    for (const s of this.sessions) s.drain();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (this.sessions.size > 0) {
      this.ctx.log.warn({ sessions: this.sessions.size }, 'grace period over; closing remaining sessions');
      for (const s of this.sessions) s.socket.destroy();
    }
  }
}
