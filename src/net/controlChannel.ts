/**
 * The client's control connection as a node session and a gateway session
 * both need it: command lines in (LineSplitter), replies out, TLS in place
 * after AUTH TLS (RFC 4217 §4) or from the first byte, and the timers that
 * keep slow or idle clients from holding a connection forever (idle, login,
 * and how long one command line may take to arrive).
 */
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { LineSplitter } from '../protocol/commandLine.js';
import { formatReply, reply, type Reply } from '../protocol/replies.js';
import { acceptTls } from './tls.js';

/** A client that does not read its replies is dropped past this. */
const MAX_UNSENT_REPLY_BYTES = 1 << 20;

export interface ControlChannelLog {
  debug(obj: object, msg: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
}

export interface ControlChannelOptions {
  log: ControlChannelLog;
  /** Seconds; 0 turns a timer off (the config's `limits`). */
  limits: { maxLineLength: number; idleTimeout: number; loginTimeout: number; commandLineTimeout: number };
  handshakeTimeout: number;
  /** While true (a transfer runs), the idle timer does not run out. */
  busy(): boolean;
  onLine(line: Buffer | 'oversize'): void;
  onReply(code: number): void;
  /** The connection is gone; `unannounced` when no closeWith() came first. */
  onClosed(unannounced: boolean): void;
}

export class ControlChannel {
  /** The TCP socket, or the TLS socket over it once secured. */
  socket: Socket;
  /** This session's TLS context (per-session ticket keys, see tls.ts), once secured. */
  tlsContext: SecureContext | null = null;
  closed = false;
  private readonly splitter: LineSplitter;
  private idleTimer: NodeJS.Timeout | null = null;
  private loginTimer: NodeJS.Timeout | null = null;
  private lineTimer: NodeJS.Timeout | null = null;
  private readonly onData = (chunk: Buffer) => this.read(chunk);

  constructor(
    readonly tcp: Socket,
    private readonly options: ControlChannelOptions,
  ) {
    this.socket = tcp;
    this.splitter = new LineSplitter(options.limits.maxLineLength);
    tcp.setNoDelay(true);
    tcp.on('error', (err) => options.log.debug({ err: err.message }, 'control connection error'));
    tcp.on('close', () => this.onTcpClose());
  }

  /** Starts reading command lines off the TCP socket (a secured socket is read from secure() on). */
  listen(): void {
    this.socket.on('data', this.onData);
    this.socket.resume(); // paused if a PROXY header was read first
    this.touch();
  }

  /** Runs the TLS handshake in place (after "234", or at once for implicit FTPS). */
  async secure(context: SecureContext): Promise<TLSSocket> {
    this.socket.removeListener('data', this.onData);
    try {
      const secure = await acceptTls(this.tcp, context, this.options.handshakeTimeout * 1000);
      secure.on('error', (err) => this.options.log.debug({ err: err.message }, 'control TLS error'));
      secure.on('close', () => this.tcp.destroy());
      secure.on('data', this.onData);
      this.socket = secure;
      this.tlsContext = context;
      return secure;
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'control TLS handshake failed');
      throw err;
    }
  }

  send(r: Reply): void {
    if (this.closed || this.socket.destroyed) return;
    this.options.onReply(r.code);
    this.socket.write(formatReply(r));
    if (this.socket.writableLength > MAX_UNSENT_REPLY_BYTES) {
      this.options.log.warn('client does not read replies; closing');
      this.socket.destroy();
    }
  }

  /** Sends a last reply and closes once it is written. False when already closed. */
  closeWith(r: Reply, why: string): boolean {
    if (this.closed) return false;
    this.options.log.info({ why }, 'closing session');
    this.send(r);
    this.closed = true;
    this.socket.end();
    // A client that never reads could keep the socket half-open: cut it.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.stopTimers();
    return true;
  }

  pause(): void {
    this.socket.pause();
  }

  /** Reads again if reading was paused (commands queued behind a transfer). */
  resume(): void {
    if (this.socket.isPaused() && !this.closed) this.socket.resume();
  }

  /** Restarts the idle timer; it does not run out while busy(). */
  touch(): void {
    const idle = this.options.limits.idleTimeout;
    if (idle <= 0 || this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.options.busy()) this.touch();
      else this.closeWith(reply(421, `Idle timeout (${idle}s); closing control connection.`), 'idle timeout');
    }, idle * 1000);
  }

  /** (Re)starts the time allowed from connect or REIN to a successful login. */
  startLoginTimer(): void {
    const limit = this.options.limits.loginTimeout;
    this.endLoginTimer();
    if (limit <= 0 || this.closed) return;
    this.loginTimer = setTimeout(() => this.closeWith(reply(421, 'Login timeout.'), 'login timeout'), limit * 1000);
  }

  endLoginTimer(): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }

  stopTimers(): void {
    for (const t of [this.idleTimer, this.loginTimer, this.lineTimer]) if (t) clearTimeout(t);
    this.idleTimer = this.loginTimer = this.lineTimer = null;
  }

  private onTcpClose(): void {
    this.stopTimers();
    const unannounced = !this.closed;
    this.closed = true;
    this.options.onClosed(unannounced);
  }

  private read(chunk: Buffer): void {
    if (this.closed) return;
    this.touch();
    for (const line of this.splitter.push(chunk)) this.options.onLine(line);
    this.watchLine();
  }

  /** Caps how long one command line may take to arrive, from its first byte (slow clients). */
  private watchLine(): void {
    const limit = this.options.limits.commandLineTimeout;
    if (!this.splitter.midLine || this.closed) {
      if (this.lineTimer) clearTimeout(this.lineTimer);
      this.lineTimer = null;
      return;
    }
    if (this.lineTimer || limit <= 0) return;
    this.lineTimer = setTimeout(() => {
      this.lineTimer = null;
      // Not the client's fault while we have stopped reading (commands queued behind a transfer).
      if (this.socket.isPaused()) this.watchLine();
      else this.closeWith(reply(421, `Command line not completed within ${limit}s; closing control connection.`), 'command line timeout');
    }, limit * 1000);
  }
}
