/**
 * Moves the bytes of one transfer between the client's data connection and
 * the backend's, in whichever direction they flow, with backpressure both
 * ways (see forward()). The end of one side (FIN) ends the other, which is
 * how an upload or a download is finished through the gateway.
 */
import type { Socket } from 'node:net';

export interface RelayResult {
  /** Bytes from the client to the backend (an upload). */
  up: number;
  /** Bytes from the backend to the client (a download). */
  down: number;
  /** Both sides ended cleanly (no reset, timeout or abort). */
  complete: boolean;
}

export class DataRelay {
  readonly done: Promise<RelayResult>;
  private broken = false;

  constructor(
    private readonly client: Socket,
    private readonly backend: Socket,
    idleTimeoutMs: number,
  ) {
    this.done = new Promise((resolve) => {
      let open = 2;
      const closed = () => {
        if (--open > 0) return;
        resolve({ up: backend.bytesWritten, down: client.bytesWritten, complete: !this.broken });
      };
      for (const s of [client, backend]) {
        s.once('close', closed);
        s.on('error', () => this.abort());
        if (idleTimeoutMs > 0) s.setTimeout(idleTimeoutMs, () => this.abort());
      }
    });
    forward(client, backend);
    forward(backend, client);
  }

  /** Cuts both connections (ABOR, timeout, a session that ends). */
  abort(): void {
    this.broken = true;
    this.client.destroy();
    this.backend.destroy();
  }
}

/**
 * Copies `from` into `to`. Unlike pipe(), which pauses whenever the writer
 * holds more than its 16 KiB high-water mark (every 64 KiB read, on a fast
 * link), this lets up to MAX_IN_FLIGHT queue before pausing: far fewer
 * pause/resume round trips for the same backpressure.
 */
const MAX_IN_FLIGHT = 1 << 20;

function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    to.write(chunk);
    if (to.writableLength > MAX_IN_FLIGHT) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
  from.resume();
}
