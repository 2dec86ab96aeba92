/**
 * The passive port range of a node. Ports are handed out round robin (so a
 * port just released is not reused while its old connection lingers in
 * TIME_WAIT), never outside the range, and released exactly once.
 *
 * In shared mode one listening port serves many sessions at once: each
 * waits for its own client address, and an incoming data connection goes to
 * the session waiting for its peer. A client address waiting twice gets two
 * ports. This lets a node behind a balancer that forwards only a few ports
 * serve thousands of sessions.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** Every port of the range is taken (a node answers 425). */
export class PassivePortsExhaustedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PassivePortsExhaustedError';
  }
}

/**
 * The peer a data connection speaks for (after any PROXY header); null to
 * refuse it. `session` is the id of the session the port was leased to, when
 * the port is not shared (for its log lines).
 */
export type IdentifyPeer = (socket: Socket, session?: string) => Promise<string | null>;
export type OnDataConnection = (socket: Socket, peer: string) => void;

export interface PassiveLease {
  readonly port: number;
  /** Stops waiting on the port (and frees it); safe to call twice. */
  release(): void;
}

export interface PoolOptions {
  shared: boolean;
  identify: IdentifyPeer;
  /** A shared port got a connection nobody was waiting for. */
  onUnclaimed(peer: string | null): void;
}

interface SharedPort {
  server: Server;
  waiting: Map<string, OnDataConnection>;
}

export class PassivePortPool {
  private readonly inUse = new Set<number>();
  private readonly shared = new Map<string, SharedPort>();
  private cursor: number;
  private waiters = 0;

  constructor(
    readonly min: number,
    readonly max: number,
    private readonly options: PoolOptions,
  ) {
    this.cursor = min + Math.floor(Math.random() * (max - min + 1));
  }

  get size(): number {
    return this.max - this.min + 1;
  }

  /** Ports with a listener waiting for a connection. */
  get leased(): number {
    return this.options.shared ? this.shared.size : this.inUse.size;
  }

  /** Sessions waiting for a data connection. */
  get waiting(): number {
    return this.options.shared ? this.waiters : this.inUse.size;
  }

  /**
   * Waits on a port of the range, on `host`, for a data connection. In shared
   * mode `peer` (the expected client address) is required and picks the session.
   * `session` names the session waiting, for log lines.
   */
  async lease(host: string, peer: string | null, onConnection: OnDataConnection, session?: string): Promise<PassiveLease> {
    if (this.options.shared && peer !== null) return this.leaseShared(host, peer, onConnection);
    for (let tried = 0; tried < this.size; tried++) {
      const port = this.next();
      if (this.inUse.has(port)) continue;
      this.inUse.add(port);
      const server = this.createListener((socket) => {
        void this.options.identify(socket, session).then((p) => (p === null ? socket.destroy() : onConnection(socket, p)));
      });
      if (!(await listen(server, host, port))) {
        this.inUse.delete(port);
        continue;
      }
      let released = false;
      return {
        port,
        release: () => {
          if (released) return;
          released = true;
          server.close();
          this.inUse.delete(port);
        },
      };
    }
    throw this.exhausted();
  }

  private async leaseShared(host: string, peer: string, onConnection: OnDataConnection): Promise<PassiveLease> {
    for (let tried = 0; tried < this.size; tried++) {
      const port = this.next();
      const key = `${host}|${port}`;
      let entry = this.shared.get(key);
      if (entry?.waiting.has(peer)) continue;
      if (!entry) {
        const waiting = new Map<string, OnDataConnection>();
        const server = this.createListener((socket) => void this.dispatch(socket, waiting));
        entry = { server, waiting };
        this.shared.set(key, entry);
        if (!(await listen(server, host, port))) {
          this.shared.delete(key);
          continue;
        }
      }
      const { waiting, server } = entry;
      waiting.set(peer, onConnection);
      this.waiters++;
      let released = false;
      return {
        port,
        release: () => {
          if (released) return;
          released = true;
          if (waiting.get(peer) === onConnection) {
            waiting.delete(peer);
            this.waiters--;
          }
          if (waiting.size === 0 && this.shared.get(key)?.server === server) {
            this.shared.delete(key);
            server.close();
          }
        },
      };
    }
    throw this.exhausted();
  }

  private async dispatch(socket: Socket, waiting: Map<string, OnDataConnection>): Promise<void> {
    const peer = await this.options.identify(socket);
    const handler = peer === null ? undefined : waiting.get(peer);
    if (!handler) {
      socket.destroy();
      this.options.onUnclaimed(peer);
      return;
    }
    handler(socket, peer!);
  }

  private next(): number {
    const port = this.cursor;
    this.cursor = port === this.max ? this.min : port + 1;
    return port;
  }

  private createListener(onSocket: (socket: Socket) => void): Server {
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
      socket.on('error', () => {});
      onSocket(socket);
    });
    server.on('error', () => {});
    return server;
  }

  private exhausted(): PassivePortsExhaustedError {
    return new PassivePortsExhaustedError(`No passive port free in ${this.min}-${this.max}; try again later.`);
  }
}

/** Listens; false when the port is taken (by another process) or not bindable. */
function listen(server: Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = () => {
      server.close();
      resolve(false);
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, backlog: 64 }, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
}
