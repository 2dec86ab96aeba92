/**
 * A small FTP client for `ftpfleet probe`, on node:net: the control
 * connection (commands and replies), and data connections in both
 * directions (the client connects for PASV/EPSV; it listens for PORT/EPRT).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { normalizeAddress } from '../net/addressMatch.js';
import type { Reply } from '../protocol/replies.js';
import { ReplyReader } from './probeReply.js';

/** A network step that failed; `code` is Node's error code, or ETIMEDOUT for our own timeouts. */
export class NetError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class ControlConnection {
  private readonly reader = new ReplyReader();
  private readonly queue: Reply[] = [];
  private readonly waiters: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private closed: NetError | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (text: string) => {
      for (const r of this.reader.push(text)) this.deliver(r);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(new NetError(`control connection: ${err.message}`, err.code ?? 'EIO')));
    socket.on('close', () => this.fail(new NetError('the server closed the control connection', 'ECONNRESET')));
  }

  static async open(host: string, port: number, timeoutMs: number): Promise<ControlConnection> {
    const socket = await dial(host, port, timeoutMs, 'cannot connect to');
    socket.removeAllListeners('error');
    return new ControlConnection(socket);
  }

  /** The server's address on this connection (what the client reached: the VIP behind a balancer). */
  get remoteAddress(): string {
    return normalizeAddress(this.socket.remoteAddress ?? '');
  }

  /** This client's address on this connection. */
  get localAddress(): string {
    return normalizeAddress(this.socket.localAddress ?? '');
  }

  get family(): 4 | 6 {
    return this.socket.remoteFamily === 'IPv6' && !/^::ffff:/i.test(this.socket.remoteAddress ?? '') ? 6 : 4;
  }

  private deliver(r: Reply): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(r);
    } else this.queue.push(r);
  }

  private fail(err: NetError): void {
    if (this.closed) return;
    this.closed = err;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The next reply, in order. */
  next(timeoutMs: number): Promise<Reply> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) {
      const said = this.reader.pending.trim();
      return Promise.reject(said ? new NetError(`${this.closed.message} (it last sent "${said}")`, this.closed.code) : this.closed);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new NetError(`no reply within ${timeoutMs / 1000}s`, 'ETIMEDOUT'));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  send(line: string): void {
    if (!this.closed) this.socket.write(`${line}\r\n`);
  }

  /** Sends a command and returns its (first) reply. */
  command(line: string, timeoutMs: number): Promise<Reply> {
    this.send(line);
    return this.next(timeoutMs);
  }

  /** QUIT politely, then close whatever the server does. */
  async quit(timeoutMs: number): Promise<void> {
    try {
      if (!this.closed) await this.command('QUIT', timeoutMs);
    } catch {
      // closing anyway
    } finally {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a data connection to host:port (PASV/EPSV). */
export function connectData(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return dial(host, port, timeoutMs, 'connecting to');
}

/** Connects with a time limit; failures become NetErrors that name the target. */
function dial(host: string, port: number, timeoutMs: number, failure: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetError(`connecting to ${host}:${port} timed out after ${timeoutMs / 1000}s`, 'ETIMEDOUT'));
    }, timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new NetError(`${failure} ${host}:${port}: ${err.message}`, err.code ?? 'EIO'));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {}); // reported by whoever uses the socket next
      resolve(socket);
    });
  });
}

/** A listening socket for one active-mode data connection (PORT/EPRT). */
export class ActiveListener {
  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly port: number,
  ) {}

  static open(address: string): Promise<ActiveListener> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true });
      server.once('error', (err: NodeJS.ErrnoException) => reject(new NetError(`cannot listen on ${address}: ${err.message}`, err.code ?? 'EIO')));
      server.listen({ host: address, port: 0 }, () => {
        const info = server.address() as AddressInfo;
        resolve(new ActiveListener(server, address, info.port));
      });
    });
  }

  /** The server's connection; rejects with ETIMEDOUT when none comes. */
  accept(timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.server.removeAllListeners('connection');
        reject(new NetError(`no connection from the server within ${timeoutMs / 1000}s`, 'ETIMEDOUT'));
      }, timeoutMs);
      this.server.once('connection', (socket: Socket) => {
        clearTimeout(timer);
        socket.on('error', () => {}); // reported by whoever uses the socket next
        resolve(socket);
      });
    });
  }

  close(): void {
    this.server.close();
  }
}

/** Sends all of `body` and closes the sending side (end of file for STOR). */
export function sendAll(socket: Socket, body: Buffer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.setTimeout(timeoutMs, () => socket.destroy(new NetError(`data connection stalled for ${timeoutMs / 1000}s`, 'ETIMEDOUT')));
    socket.on('error', (err: NodeJS.ErrnoException) => reject(new NetError(`data connection: ${err.message}`, err.code ?? 'EIO')));
    socket.on('data', () => {}); // nothing expected; keep the socket flowing
    socket.resume();
    socket.end(body, (err?: Error | null) => (err ? reject(new NetError(`data connection: ${err.message}`, 'EIO')) : resolve()));
  });
}

/** Reads the data connection to its end (RETR). */
export function receiveAll(socket: Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new NetError(`data connection stalled for ${timeoutMs / 1000}s`, 'ETIMEDOUT')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => reject(new NetError(`data connection: ${err.message}`, err.code ?? 'EIO')));
    socket.once('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.resume();
  });
}
