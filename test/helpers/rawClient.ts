/**
 * A minimal control-connection client for tests that need exact bytes:
 * sends raw lines and reads whole (multi-line) replies.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface RawReply {
  code: number;
  text: string;
  lines: string[];
}

export class RawClient {
  private buffer = '';
  private replies: RawReply[] = [];
  private waiters: Array<(r: RawReply) => void> = [];
  private closedFlag = false;
  private pendingLines: string[] = [];

  private constructor(public socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => {
      this.closedFlag = true;
      for (const w of this.waiters.splice(0)) w({ code: -1, text: 'closed', lines: [] });
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, localAddress }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects with TLS from the first byte (implicit FTPS). */
  static connectTls(port: number, host = '127.0.0.1', options: ConnectionOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host, rejectUnauthorized: false, ...options });
      s.once('error', reject);
      s.once('secureConnect', () => {
        s.removeListener('error', reject);
        const c = new RawClient(s);
        c.watchSessions(s);
        resolve(c);
      });
    });
  }

  /** The TLS socket of the control connection, once it is secured. */
  get tls(): TLSSocket | null {
    return 'encrypted' in this.socket ? (this.socket as TLSSocket) : null;
  }

  /**
   * Runs the client side of a TLS handshake on the control connection (after
   * a 234 reply to AUTH TLS); from then on commands and replies go through it.
   */
  startTls(options: ConnectionOptions = {}): Promise<TLSSocket> {
    const tcp = this.socket;
    tcp.removeAllListeners('data');
    tcp.removeAllListeners('close');
    return new Promise((resolve, reject) => {
      const secure = tlsConnect({ socket: tcp, rejectUnauthorized: false, ...options });
      this.watchSessions(secure);
      secure.once('error', reject);
      secure.once('secureConnect', () => {
        secure.removeListener('error', reject);
        this.socket = secure;
        this.attach(secure);
        resolve(secure);
      });
    });
  }

  private session: Buffer | null = null;
  private sessionWaiters: Array<(s: Buffer) => void> = [];

  private watchSessions(secure: TLSSocket): void {
    secure.on('session', (s: Buffer) => {
      this.session = s;
      for (const w of this.sessionWaiters.splice(0)) w(s);
    });
  }

  /**
   * The control connection's resumable TLS session (what a data connection
   * passes as `session` to resume it); with TLS 1.3 it arrives just after the handshake.
   */
  tlsSession(ms = 10000): Promise<Buffer> {
    if (this.session) return Promise.resolve(this.session);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no TLS session ticket in time')), ms);
      this.sessionWaiters.push((s) => {
        clearTimeout(t);
        resolve(s);
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private onData(d: string) {
    this.buffer += d;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, i).replace(/\r$/, '');
      this.buffer = this.buffer.slice(i + 1);
      this.pendingLines.push(line);
      const first = this.pendingLines[0]!;
      const m = /^(\d{3})([ -])/.exec(first);
      const done = m && (m[2] === ' ' ? this.pendingLines.length === 1 : line.startsWith(`${m[1]} `) && this.pendingLines.length > 1);
      if (done) {
        const r: RawReply = { code: Number(m![1]), text: this.pendingLines.join('\n'), lines: this.pendingLines };
        this.pendingLines = [];
        const w = this.waiters.shift();
        if (w) w(r);
        else this.replies.push(r);
      }
    }
  }

  /** The next reply (waits up to `ms`). */
  read(ms = 10000): Promise<RawReply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closedFlag) return Promise.resolve({ code: -1, text: 'closed', lines: [] });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply in time')), ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a command line (CRLF added) and reads its reply. */
  async cmd(line: string): Promise<RawReply> {
    this.write(line + '\r\n');
    return this.read();
  }

  async login(user: string, password: string): Promise<void> {
    const greeting = await this.read();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
    const u = await this.cmd(`USER ${user}`);
    if (u.code !== 331) throw new Error(`USER: ${u.text}`);
    const p = await this.cmd(`PASS ${password}`);
    if (p.code !== 230) throw new Error(`PASS: ${p.text}`);
  }

  /** Reads replies until the server closes; returns them (the close itself not included). */
  async untilClosed(ms = 30_000): Promise<RawReply[]> {
    const out: RawReply[] = [];
    for (;;) {
      const r = await this.read(ms);
      if (r.code === -1) return out;
      out.push(r);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The port of a 227 (PASV) or 229 (EPSV) reply. */
export function passivePort(r: RawReply): number {
  const pasv = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r.text);
  if (r.code === 227 && pasv) return Number(pasv[5]) * 256 + Number(pasv[6]);
  const epsv = /\(\|\|\|(\d+)\|\)/.exec(r.text);
  if (r.code === 229 && epsv) return Number(epsv[1]);
  throw new Error(`not a passive-mode reply: ${r.text}`);
}
