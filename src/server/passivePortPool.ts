/**
 * The passive port range of a node. Ports are handed out round robin (so a
 * port just released is not reused while its old connection lingers in
 * TIME_WAIT), never outside the range, and released exactly once.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { PassivePortsExhaustedError } from './errors.js';

export interface PassiveLease {
  readonly port: number;
  readonly server: Server;
  /** Stops listening and returns the port to the pool; safe to call twice. */
  release(): void;
}

export class PassivePortPool {
  private readonly inUse = new Set<number>();
  private cursor: number;

  constructor(readonly min: number, readonly max: number) {
    this.cursor = min + Math.floor(Math.random() * (max - min + 1));
  }

  get size(): number {
    return this.max - this.min + 1;
  }

  get leased(): number {
    return this.inUse.size;
  }

  /** Listens on a free port of the range, on `host`. */
  async lease(host: string, onConnection: (socket: Socket) => void): Promise<PassiveLease> {
    for (let tried = 0; tried < this.size; tried++) {
      const port = this.cursor;
      this.cursor = port === this.max ? this.min : port + 1;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port);
      const server = createServer({ noDelay: true, pauseOnConnect: true }, onConnection);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port, exclusive: true, backlog: 4 }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch {
        // Taken by another process (or not bindable): try the next one.
        this.inUse.delete(port);
        server.close();
        continue;
      }
      let released = false;
      return {
        port,
        server,
        release: () => {
          if (released) return;
          released = true;
          server.close();
          this.inUse.delete(port);
        },
      };
    }
    throw new PassivePortsExhaustedError(`No passive port free in ${this.min}-${this.max}; try again later.`);
  }
}
