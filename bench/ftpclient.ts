/**
 * A minimal FTP client for the benchmark: raw sockets, no library, just what
 * the ingest, storm and idle measurements need (login, PASV/PORT, STOR, LIST,
 * QUIT). It does as little work per command as possible so that the client
 * is not what is measured.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface Reply {
  code: number;
  text: string;
}

export class FtpError extends Error {
  constructor(
    message: string,
    readonly reply?: Reply,
  ) {
    super(message);
  }
}

/** One control connection. */
export class Control {
  private buffer = '';
  private multi: string | null = null;
  private readonly replies: Reply[] = [];
  private waiter: ((r: Reply) => void) | null = null;
  private closed = false;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.push({ code: -1, text: 'connection closed' });
    });
  }

  /** Connects and reads the greeting (which must be 220). */
  static async open(host: string, port: number, localAddress?: string, timeoutMs = 30000): Promise<Control> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, localAddress });
      const timer = setTimeout(() => s.destroy(new Error('connect timeout')), timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const c = new Control(socket);
    const greeting = await c.read();
    if (greeting.code !== 220) {
      socket.destroy();
      throw new FtpError(`greeting ${greeting.code} ${greeting.text}`, greeting);
    }
    return c;
  }

  private push(r: Reply): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(r);
    } else this.replies.push(r);
  }

  private onData(d: string): void {
    this.buffer += d;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (this.multi !== null) {
        // Multi-line reply: ends with "ddd " (same code, then a space).
        if (line.startsWith(this.multi + ' ')) {
          this.push({ code: Number(this.multi), text: line.slice(4) });
          this.multi = null;
        }
        continue;
      }
      const m = /^(\d{3})([ -])(.*)$/.exec(line);
      if (!m) continue;
      if (m[2] === '-') this.multi = m[1]!;
      else this.push({ code: Number(m[1]), text: m[3]! });
    }
  }

  /** The next complete reply. */
  read(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve({ code: -1, text: 'connection closed' });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  send(line: string): void {
    this.socket.write(line + '\r\n');
  }

  async cmd(line: string, expect?: number): Promise<Reply> {
    this.send(line);
    const r = await this.read();
    if (expect !== undefined && Math.floor(r.code / (expect < 10 ? 100 : 1)) !== expect) {
      throw new FtpError(`${line.split(' ')[0]}: ${r.code} ${r.text}`, r);
    }
    return r;
  }

  async login(user: string, password: string): Promise<void> {
    const u = await this.cmd(`USER ${user}`);
    if (u.code === 230) return;
    if (u.code !== 331) throw new FtpError(`USER: ${u.code} ${u.text}`, u);
    await this.cmd(`PASS ${password}`, 230);
  }

  async quit(): Promise<void> {
    this.send('QUIT');
    await this.read();
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Waits for a socket to connect. */
function connected(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true });
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Parses a 227 reply's h1,h2,h3,h4,p1,p2. */
export function parsePasv(text: string): { host: string; port: number } {
  const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(text);
  if (!m) throw new FtpError(`bad 227 reply: ${text}`);
  const n = m.slice(1).map(Number);
  return { host: `${n[0]}.${n[1]}.${n[2]}.${n[3]}`, port: n[4]! * 256 + n[5]! };
}

export type DataMode = 'passive' | 'active';

/**
 * Opens a data connection for the next transfer command, runs the command,
 * and hands the data socket to `use` once the server's 1xx arrives. Resolves
 * with the final (226) reply.
 */
export async function transfer(
  ctl: Control,
  mode: DataMode,
  command: string,
  use: (data: Socket) => Promise<void>,
  host = '127.0.0.1',
): Promise<Reply> {
  let data: Socket;
  let pre: Reply;
  if (mode === 'passive') {
    const r = await ctl.cmd('PASV', 227);
    const target = parsePasv(r.text);
    // Like most clients: connect to the control connection's host, not the advertised one.
    data = await connected(host, target.port);
    ctl.send(command);
    pre = await ctl.read();
  } else {
    const srv = createServer({ noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: ctl.socket.localAddress, port: 0, backlog: 4 }, () => resolve());
      });
      const addr = srv.address() as import('node:net').AddressInfo;
      const accepted = new Promise<Socket>((resolve) => srv.once('connection', (s) => resolve(s)));
      await ctl.cmd(`PORT ${addr.address.split('.').join(',')},${addr.port >> 8},${addr.port & 255}`, 2);
      ctl.send(command);
      const preP = ctl.read();
      // The server connects once it has the command; it may send its 1xx before or after.
      const first = await Promise.race([accepted, preP]);
      if ('code' in first && first.code >= 200) throw new FtpError(`${command.split(' ')[0]}: ${first.code} ${first.text}`, first);
      data = await accepted;
      data.on('error', () => {});
      pre = await preP;
    } finally {
      srv.close();
    }
  }
  if (pre.code >= 200 || pre.code < 100) {
    data.destroy();
    throw new FtpError(`${command.split(' ')[0]}: ${pre.code} ${pre.text}`, pre);
  }
  await use(data);
  const fin = await ctl.read();
  data.destroy();
  if (fin.code !== 226 && fin.code !== 250) throw new FtpError(`${command.split(' ')[0]}: ${fin.code} ${fin.text}`, fin);
  return fin;
}

/** Sends `payload` and closes the data connection (an upload). */
export function sendAll(payload: Buffer): (data: Socket) => Promise<void> {
  return async (data) => {
    data.end(payload);
    // The 226 that the caller reads next says the server has it all.
    await new Promise<void>((resolve) => data.once('finish', () => resolve()));
  };
}

/** Reads the data connection to its end (a download or listing); returns the byte count. */
export function readAll(count: { bytes: number }): (data: Socket) => Promise<void> {
  return async (data) => {
    data.on('data', (d: Buffer) => (count.bytes += d.length));
    data.resume();
    await new Promise<void>((resolve) => {
      data.once('end', () => resolve());
      data.once('close', () => resolve());
    });
  };
}
