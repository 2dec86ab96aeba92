/**
 * The parts of accepting control connections that a node and the gateway
 * share: listening on every configured address, and reading the PROXY header
 * of the balancer in front (only from trusted peers).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { NetworkList } from './addressMatch.js';
import type { ProxyHeader } from './proxyProtocol.js';
import { readProxyHeader } from './proxyReader.js';

/**
 * Listens on each address. Port 0 picks one free port shared by all of them;
 * "::" falls back to 0.0.0.0 where IPv6 is disabled. `pauseOnConnect`: read
 * nothing until asked (a connection handed to another process).
 */
export async function listenOnAll(
  addresses: readonly string[],
  port: number,
  onSocket: (socket: Socket) => void,
  onError: (err: Error) => void,
  pauseOnConnect = false,
): Promise<Server[]> {
  const servers: Server[] = [];
  for (const host of addresses) {
    const server = createServer({ noDelay: true, pauseOnConnect }, onSocket);
    server.on('error', onError);
    try {
      await listen(server, host, port);
    } catch (err) {
      if (host !== '::' || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
      await listen(server, '0.0.0.0', port);
    }
    servers.push(server);
    port = (server.address() as AddressInfo).port;
  }
  return servers;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: false, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export interface ControlProxyPolicy {
  control: 'off' | 'optional' | 'required';
  untrusted: 'refuse' | 'direct';
  /** Seconds. */
  headerTimeout: number;
  trusted: NetworkList;
}

/**
 * The balancer's PROXY header where the policy asks for one: the header, null
 * (none), or undefined when the connection was refused and destroyed (with
 * `onRefused` told why).
 */
export async function readControlProxy(
  socket: Socket,
  peer: string,
  policy: ControlProxyPolicy,
  onRefused: (reason: 'untrusted proxy peer' | 'proxy error', detail: string) => void,
): Promise<ProxyHeader | null | undefined> {
  if (policy.control === 'off') return null;
  if (!policy.trusted.has(peer)) {
    if (policy.untrusted === 'direct') return null;
    onRefused('untrusted proxy peer', 'connection from a peer not trusted to send PROXY headers refused');
    socket.destroy();
    return undefined;
  }
  try {
    return await readProxyHeader(socket, policy.headerTimeout * 1000, policy.control === 'required');
  } catch (err) {
    onRefused('proxy error', (err as Error).message);
    socket.destroy();
    return undefined;
  }
}
