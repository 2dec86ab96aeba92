/**
 * The gateway's control connection to one backend: connect (with a PROXY v2
 * header, and implicit or explicit TLS as configured), read its 220, then
 * send commands one at a time and get their replies in order.
 */
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { BackendConfig } from '../config/gatewaySchema.js';
import { normalizeAddress } from '../net/addressMatch.js';
import { ReplyParser, isPreliminary } from '../protocol/replyParser.js';
import type { Reply } from '../protocol/replies.js';

/** The backend closed or broke the control connection, or did not answer in time. */
export class BackendGoneError extends Error {}

interface Waiter {
  onPreliminary?: (r: Reply) => void;
  resolve: (r: Reply) => void;
  reject: (err: Error) => void;
}

/** TLS options toward a backend (control and data connections). */
export function backendTlsOptions(config: BackendConfig): ConnectionOptions {
  return {
    rejectUnauthorized: config.tlsVerify,
    ca: config.ca ? readFileSync(config.ca) : undefined,
    servername: /^[\d.:]+$/.test(config.host) ? undefined : config.host,
  };
}

/** Connects a TCP socket, failing after `timeoutMs`. */
export function dial(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host, port, localAddress, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error(`connect to ${host}:${port} timed out`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Runs the client side of a TLS handshake over a connected socket. */
export function startTls(socket: Socket, options: ConnectionOptions, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = connectTls({ ...options, socket });
    const timer = setTimeout(() => secure.destroy(new Error('TLS handshake timed out')), timeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.removeAllListeners('error');
      secure.on('error', () => {});
      resolve(secure);
    });
    secure.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

export interface BackendControlOptions {
  config: BackendConfig;
  timeoutMs: number;
  /** Sent first: the real client (PROXY v2), when the backend wants one. */
  proxyHeader: Buffer | null;
  onReplyWithoutCommand: (r: Reply) => void;
  /** The connection ended without close() (the backend went away). */
  onLost: (why: string) => void;
}

export class BackendControl {
  private socket!: Socket;
  private parser = new ReplyParser();
  private readonly waiters: Waiter[] = [];
  private closing = false;
  private lost = false;
  /** The latest TLS session of the control connection, offered again on data connections. */
  tlsSession: Buffer | undefined;
  private readonly onData = (chunk: Buffer) => this.read(chunk);
  private readonly onClose = () => this.gone('backend closed the control connection');

  private constructor(private readonly options: BackendControlOptions) {}

  /** Connects and returns once the backend's 220 (and any TLS set-up) is through. */
  static async open(options: BackendControlOptions): Promise<BackendControl> {
    const control = new BackendControl(options);
    try {
      await control.connect();
    } catch (err) {
      control.closing = true;
      control.socket?.destroy();
      throw err;
    }
    return control;
  }

  get secure(): boolean {
    return this.options.config.tls !== 'off';
  }

  /** Our end of the connection (the address backends in active mode connect back to). */
  get localAddress(): string {
    return normalizeAddress(this.socket.localAddress ?? '');
  }

  get remoteAddress(): string {
    return normalizeAddress(this.socket.remoteAddress ?? '');
  }

  private async connect(): Promise<void> {
    const { config, timeoutMs, proxyHeader } = this.options;
    let socket: Socket = await dial(config.host, config.port, timeoutMs);
    if (proxyHeader) socket.write(proxyHeader);
    if (config.tls === 'implicit') socket = await startTls(socket, backendTlsOptions(config), timeoutMs);
    this.attach(socket);
    const banner = await this.expect(this.waitReply(), timeoutMs, 'banner');
    if (banner.code !== 220) throw new BackendGoneError(`backend greeted with ${banner.code} ${banner.lines.join(' ')}`);
    if (config.tls === 'explicit') {
      const auth = await this.expect(this.command('AUTH TLS'), timeoutMs, 'AUTH TLS');
      if (auth.code !== 234) throw new BackendGoneError(`backend refused AUTH TLS: ${auth.code} ${auth.lines.join(' ')}`);
      this.socket.removeListener('data', this.onData);
      this.socket.removeListener('close', this.onClose);
      this.attach(await startTls(this.socket, backendTlsOptions(config), timeoutMs));
    }
    if (config.tls !== 'off') {
      await this.expect(this.command('PBSZ 0'), timeoutMs, 'PBSZ');
      const prot = await this.expect(this.command('PROT P'), timeoutMs, 'PROT');
      if (prot.code !== 200) throw new BackendGoneError(`backend refused PROT P: ${prot.code} ${prot.lines.join(' ')}`);
    }
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    this.parser = new ReplyParser();
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', () => {});
    socket.on('close', this.onClose);
    if ('getSession' in socket) socket.on('session', (s: Buffer) => (this.tlsSession = s));
  }

  private async expect(p: Promise<Reply>, timeoutMs: number, what: string): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendGoneError(`no ${what} reply from the backend within ${timeoutMs / 1000}s`)), timeoutMs);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private read(chunk: Buffer): void {
    let replies: Reply[];
    try {
      replies = this.parser.push(chunk);
    } catch (err) {
      this.gone(`backend sent garbage: ${(err as Error).message}`);
      this.socket.destroy();
      return;
    }
    for (const r of replies) {
      const waiter = this.waiters[0];
      if (!waiter) {
        this.options.onReplyWithoutCommand(r);
      } else if (isPreliminary(r)) {
        waiter.onPreliminary?.(r);
      } else {
        this.waiters.shift();
        waiter.resolve(r);
      }
    }
  }

  private waitReply(onPreliminary?: (r: Reply) => void): Promise<Reply> {
    if (this.lost) return Promise.reject(new BackendGoneError('backend connection lost'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject, onPreliminary }));
  }

  /** Sends one command line; resolves with its final (non-1xx) reply. */
  command(line: string, onPreliminary?: (r: Reply) => void): Promise<Reply> {
    const p = this.waitReply(onPreliminary);
    if (!this.lost) this.socket.write(`${line}\r\n`);
    return p;
  }

  private gone(why: string): void {
    if (this.lost) return;
    this.lost = true;
    for (const w of this.waiters.splice(0)) w.reject(new BackendGoneError(why));
    if (!this.closing) this.options.onLost(why);
  }

  /** Ends the connection (QUIT already sent, or the session is over). */
  close(): void {
    this.closing = true;
    this.socket?.end();
    setTimeout(() => this.socket?.destroy(), 2000).unref();
  }
}
