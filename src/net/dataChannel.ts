/**
 * Data connections (RFC 959 §3.2-3.3): a passive listener that accepts one
 * connection from the expected client, or an active connection made out to
 * the client. Either is used for one transfer and then closed.
 */
import { connect, type Socket } from 'node:net';
import { sameAddress } from './addressMatch.js';
import type { PassiveLease, PassivePortPool } from './passivePortPool.js';

export type DataMode = 'passive' | 'active';

/** No data connection could be set up (timeout, refused connect, closed). */
export class DataConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataConnectionError';
  }
}

export interface DataChannel {
  readonly mode: DataMode;
  /** The connected data socket (waits for the client in passive mode). */
  open(): Promise<Socket>;
  /** Closes the listener and any connection not yet handed out. */
  close(): void;
}

export interface PassiveOptions {
  pool: PassivePortPool;
  bindAddress: string;
  /** Only this client address may connect; null accepts any. */
  expectedPeer: string | null;
  acceptTimeoutMs: number;
  /** Called for each connection refused for its source address. */
  onForeignPeer: (address: string) => void;
  /** No connection came within acceptTimeoutMs. */
  onTimeout: () => void;
  /** The session's id, for log lines about its data connections. */
  sessionId?: string;
}

export class PassiveDataChannel implements DataChannel {
  readonly mode = 'passive';
  private socket: Socket | null = null;
  private failure: Error | null = null;
  private waiter: { resolve: (s: Socket) => void; reject: (e: Error) => void } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lease: PassiveLease | null = null;
  private handedOut = false;

  private constructor(private readonly options: PassiveOptions) {}

  static async create(options: PassiveOptions): Promise<PassiveDataChannel> {
    const channel = new PassiveDataChannel(options);
    channel.lease = await options.pool.lease(options.bindAddress, options.expectedPeer, (s, peer) => channel.onConnection(s, peer), options.sessionId);
    channel.timer = setTimeout(() => {
      options.onTimeout();
      channel.fail(new DataConnectionError(`No data connection within ${options.acceptTimeoutMs / 1000}s.`));
    }, options.acceptTimeoutMs);
    return channel;
  }

  get port(): number {
    return this.lease!.port;
  }

  private onConnection(socket: Socket, peer: string): void {
    if (this.socket || this.failure) {
      socket.destroy();
      return;
    }
    if (this.options.expectedPeer !== null && !sameAddress(peer, this.options.expectedPeer)) {
      // Someone else is trying to take this session's data port.
      socket.destroy();
      this.options.onForeignPeer(peer);
      return;
    }
    this.socket = socket;
    this.stopListening();
    if (this.waiter) {
      this.handedOut = true;
      this.waiter.resolve(socket);
      this.waiter = null;
    }
  }

  private stopListening(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lease?.release();
  }

  private fail(err: Error): void {
    if (this.socket || this.failure) return;
    this.failure = err;
    this.stopListening();
    this.waiter?.reject(err);
    this.waiter = null;
  }

  open(): Promise<Socket> {
    if (this.socket) {
      this.handedOut = true;
      return Promise.resolve(this.socket);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    // (No error object, and its stack trace, for a channel that already has its connection.)
    if (!this.socket && !this.failure) this.fail(new DataConnectionError('Data connection closed.'));
    this.stopListening();
    if (this.socket && !this.handedOut) this.socket.destroy();
  }
}

export interface ActiveOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
  connectTimeoutMs: number;
  onRefused: () => void;
}

export class ActiveDataChannel implements DataChannel {
  readonly mode = 'active';
  private socket: Socket | null = null;
  private closed = false;

  constructor(private readonly options: ActiveOptions) {}

  open(): Promise<Socket> {
    if (this.closed) return Promise.reject(new DataConnectionError('Data connection closed.'));
    const { host, port, localAddress, localPort, connectTimeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, localAddress, localPort, noDelay: true });
      this.socket = socket;
      const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        // Like accepted passive sockets: nothing is read until the transfer (or TLS) takes over.
        socket.pause();
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        this.options.onRefused();
        reject(new DataConnectionError(`Can't open data connection to ${host} port ${port}: ${err.message}.`));
      });
    });
  }

  close(): void {
    this.closed = true;
    if (this.socket && this.socket.connecting) this.socket.destroy();
  }
}
