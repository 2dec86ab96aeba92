/**
 * A byte-for-byte TCP/Unix-socket forwarder that lets ftpfleet nodes inside the
 * lab's network namespaces reach the S3 server (Ceph RGW) on 127.0.0.1 of the
 * host namespace, which they cannot route to (the lab has no link to the root
 * namespace, by design).
 *
 *   node in fl-sN ─▶ 127.0.0.1:7480 (fl-sN's own loopback: this file, run as a script
 *                    with `ip netns exec fl-sN`)
 *                 ─▶ Unix socket in the shared filesystem (pathname Unix sockets are
 *                    not scoped to a network namespace)
 *                 ─▶ the test process (host namespace, forward() below) ─▶ RGW 127.0.0.1:7480
 *
 * Only loopback and a Unix socket are involved: lab traffic still never leaves the lab.
 *
 * As a script: `node s3forward.js LISTEN_HOST LISTEN_PORT UNIX_SOCKET_PATH`; prints
 * "listening" once ready; SIGTERM stops it. Imports nothing but node:, so the
 * compiled file runs on its own wherever it is copied.
 */
import { connect, createServer, type ListenOptions, type NetConnectOpts, type Socket } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Joins two sockets both ways, half-closes passed on, and an error on either side ends both. */
function splice(a: Socket, b: Socket): void {
  a.setNoDelay?.(true);
  b.setNoDelay?.(true);
  a.pipe(b);
  b.pipe(a);
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.on('close', (hadError) => hadError && b.destroy());
  b.on('close', (hadError) => hadError && a.destroy());
}

export interface Forwarder {
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes carried so far (both directions). */
  readonly bytes: number;
  /** Stops listening and ends every open connection. */
  close(): Promise<void>;
}

/** Listens on `listen` (TCP or a Unix socket path) and forwards each connection to `target`. */
export function forward(listen: ListenOptions, target: NetConnectOpts): Promise<Forwarder> {
  const open = new Set<Socket>();
  let connections = 0;
  let bytes = 0;
  const server = createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = connect({ ...target, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('data', (d: Buffer) => (bytes += d.length));
    }
    splice(client, upstream);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen, () => {
      server.off('error', reject);
      resolve({
        get connections() {
          return connections;
        },
        get bytes() {
          return bytes;
        },
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// `node --test dist/test/` also runs this file, without arguments, as if it were a test: then it does nothing.
if (isMain() && process.argv.length > 2) {
  const [host, port, path] = process.argv.slice(2);
  if (!host || !port || !path) {
    process.stderr.write('usage: node s3forward.js LISTEN_HOST LISTEN_PORT UNIX_SOCKET_PATH\n');
    process.exit(2);
  }
  const fwd = await forward({ host, port: Number(port) }, { path });
  process.stdout.write(`listening on ${host}:${port}, forwarding to ${path}\n`);
  const stop = () => void fwd.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
