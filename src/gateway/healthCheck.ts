/**
 * One health check of a backend: connect and wait for its 220 banner (with
 * a PROXY v2 LOCAL header and implicit TLS where the backend expects them),
 * or GET its /readyz. Resolves on success, rejects with the reason.
 */
import type { BackendConfig } from '../config/gatewaySchema.js';
import { encodeProxyV2Local } from '../net/proxyProtocol.js';
import { ReplyParser } from '../protocol/replyParser.js';
import { backendTlsOptions, dial, startTls } from './backendControl.js';

export async function checkBackend(config: BackendConfig, timeoutMs: number): Promise<void> {
  if (config.health.check === 'readyz') return checkReadyz(config.health.url!, timeoutMs);
  return checkBanner(config, timeoutMs);
}

async function checkReadyz(url: string, timeoutMs: number): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
}

async function checkBanner(config: BackendConfig, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let socket = await dial(config.host, config.port, timeoutMs);
  try {
    if (config.proxyProtocol) socket.write(encodeProxyV2Local());
    if (config.tls === 'implicit') socket = await startTls(socket, backendTlsOptions(config), Math.max(1, deadline - Date.now()));
    const banner = await new Promise<number>((resolve, reject) => {
      const parser = new ReplyParser();
      const timer = setTimeout(() => reject(new Error('no banner in time')), Math.max(1, deadline - Date.now()));
      socket.on('data', (chunk: Buffer) => {
        try {
          const r = parser.push(chunk).find((x) => x.code >= 200);
          if (r) {
            clearTimeout(timer);
            resolve(r.code);
          }
        } catch (err) {
          clearTimeout(timer);
          reject(err);
        }
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error('closed before the banner'));
      });
    });
    if (banner !== 220) throw new Error(`banner ${banner}`);
    socket.write('QUIT\r\n');
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
