/**
 * A node's control listener: accepts connections, applies the session
 * limits and bans before a session is created, and stops gracefully.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { normalizeAddress } from '../net/addressMatch.js';
import { formatReply, reply } from '../protocol/replies.js';
import type { ServerContext } from './context.js';
import { Session } from './session.js';

export class FtpServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Session>();
  private readonly perAddress = new Map<string, number>();
  private stopping = false;
  readonly ctx: ServerContext;

  constructor(ctx: Omit<ServerContext, 'sessionsOfUser'>) {
    this.ctx = { ...ctx, sessionsOfUser: (name) => this.countUser(name) };
  }

  private get log(): Logger {
    return this.ctx.log;
  }

  /** Addresses actually bound, e.g. for port 0. */
  addresses(): Array<{ address: string; port: number }> {
    return this.servers.map((s) => s.address()).filter((a): a is import('node:net').AddressInfo => typeof a === 'object' && a !== null);
  }

  async start(): Promise<void> {
    const { addresses, port: configured } = this.ctx.config.listen;
    // Port 0 picks a free port once; every further address listens on that same port.
    let port = configured;
    for (const host of addresses) {
      const server = createServer({ noDelay: true }, (socket) => this.onConnection(socket));
      server.on('error', (err) => this.log.error({ err }, 'listener error'));
      try {
        await listen(server, host, port);
      } catch (err) {
        // "::" fails where IPv6 is disabled: fall back to IPv4 on all interfaces.
        if (host === '::' && (err as NodeJS.ErrnoException).code === 'EAFNOSUPPORT') {
          await listen(server, '0.0.0.0', port);
        } else {
          throw err;
        }
      }
      this.servers.push(server);
      const a = server.address() as import('node:net').AddressInfo;
      port = a.port;
      this.log.info({ address: a.address, port: a.port }, 'listening');
    }
  }

  private countUser(name: string): number {
    let n = 0;
    for (const s of this.sessions) if (s.user?.name === name) n++;
    return n;
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {});
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const limits = this.ctx.config.limits;
    const refuse = (why: string, text: string) => {
      this.log.warn({ client: address, why }, 'connection refused');
      socket.end(formatReply(reply(421, text)));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (this.stopping) return refuse('shutting down', 'Server shutting down.');
    if (this.ctx.bans.isBanned(address)) return refuse('banned', 'Too many failed logins; try again later.');
    if (this.sessions.size >= limits.maxSessions) return refuse('max sessions', 'Too many users; try again later.');
    const count = this.perAddress.get(address) ?? 0;
    if (count >= limits.maxSessionsPerAddress) return refuse('max sessions per address', 'Too many connections from your address.');
    this.perAddress.set(address, count + 1);
    const session = new Session(socket, this.ctx, (s) => this.onSessionClosed(s));
    this.sessions.add(session);
    session.start();
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

  /**
   * Stops accepting, closes idle sessions, lets running transfers finish
   * within `graceMs`, then cuts whatever is left.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
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

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: false, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
