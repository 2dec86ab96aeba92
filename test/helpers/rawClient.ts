/**
 * A minimal control-connection client for tests that need exact bytes:
 * sends raw lines and reads whole (multi-line) replies.
 */
import { connect, type Socket } from 'node:net';

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

  private constructor(readonly socket: Socket) {
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

  close(): void {
    this.socket.destroy();
  }
}
