/**
 * Reads a PROXY protocol header off the start of a socket, leaving every byte
 * after it in the socket for whoever reads next.
 */
import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxyHeader } from './proxyProtocol.js';

export class ProxyHeaderError extends Error {}

/**
 * Resolves with the header, or with null when `required` is false and the
 * peer sent something else (or nothing within the timeout).
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, required: boolean): Promise<ProxyHeader | null> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (err: Error | null, header: ProxyHeader | null, rest: Buffer) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onEnd);
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      if (err) reject(err);
      else resolve(header);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const r = parseProxyHeader(buffered);
      if (r.status === 'incomplete') return;
      if (r.status === 'ok') return finish(null, r.header, buffered.subarray(r.length));
      if (required) return finish(new ProxyHeaderError(`invalid PROXY header: ${r.reason}`), null, Buffer.alloc(0));
      finish(null, null, buffered);
    };
    const onEnd = () => finish(new ProxyHeaderError('connection closed before the PROXY header'), null, Buffer.alloc(0));
    const timer = setTimeout(() => {
      if (required || buffered.length > 0) finish(new ProxyHeaderError('no PROXY header in time'), null, Buffer.alloc(0));
      else finish(null, null, Buffer.alloc(0));
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    socket.resume();
  });
}
