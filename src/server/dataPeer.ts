/**
 * Who a passive data connection speaks for: its TCP peer, or, with PROXY
 * protocol on the data ports, the client named in the header.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { NetworkList, normalizeAddress } from '../net/addressMatch.js';
import { readProxyHeader } from '../net/proxyReader.js';
import type { MetricsSink } from './metricsSink.js';
import type { IdentifyPeer } from '../net/passivePortPool.js';

export function dataPeerIdentifier(config: Config, log: Logger, metrics: MetricsSink): IdentifyPeer {
  const pp = config.proxyProtocol;
  const trusted = new NetworkList(pp.trustedNetworks);
  return async (socket: Socket, session?: string) => {
    const peer = normalizeAddress(socket.remoteAddress ?? '');
    if (pp.data === 'off') return peer;
    // A shared port knows its session only from the header's client address.
    const fields = session === undefined ? { from: peer } : { session, from: peer };
    if (!trusted.has(peer)) {
      if (pp.untrusted === 'direct') return peer;
      log.warn(fields, 'data connection from a peer not trusted to send PROXY headers refused');
      metrics.dataFailure('proxy_error');
      return null;
    }
    try {
      const header = await readProxyHeader(socket, pp.headerTimeout * 1000, pp.data === 'required');
      return header?.source ? normalizeAddress(header.source.address) : peer;
    } catch (err) {
      log.warn({ ...fields, err: (err as Error).message }, 'PROXY header on a data connection refused');
      metrics.dataFailure('proxy_error');
      return null;
    }
  };
}
