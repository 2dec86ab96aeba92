/**
 * The HTTP ops port: /healthz (alive), /readyz (can take sessions), /metrics
 * (Prometheus), and a small admin API behind a bearer token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';

/** What /metrics serves: one process's registry, or a node's worker processes' merged. */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface OpsHooks {
  metrics: MetricsSource;
  readiness(): Promise<Readiness>;
  /** Starts a graceful drain (as SIGTERM does). */
  drain(): void;
  status(): Record<string, unknown> | Promise<Record<string, unknown>>;
}

export interface OpsOptions {
  host: string;
  port: number;
  /** Bearer token for /admin/*; null disables the admin API. */
  adminToken: string | null;
}

function send(res: ServerResponse, code: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

function authorized(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return false;
  const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export async function startOpsServer(options: OpsOptions, hooks: OpsHooks, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://ops');
    const route = `${req.method} ${url.pathname}`;
    void (async () => {
      switch (route) {
        case 'GET /healthz':
          return send(res, 200, 'ok\n', 'text/plain');
        case 'GET /readyz': {
          const r = await hooks.readiness();
          return send(res, r.ready ? 200 : 503, r);
        }
        case 'GET /metrics':
          return send(res, 200, await hooks.metrics.text(), hooks.metrics.contentType);
        case 'GET /admin/status':
        case 'POST /admin/drain':
          if (!authorized(req, options.adminToken)) return send(res, 401, { error: 'admin token required' });
          if (route === 'GET /admin/status') return send(res, 200, await hooks.status());
          log.warn('drain requested through the admin API');
          hooks.drain();
          return send(res, 202, { draining: true });
        default:
          return send(res, 404, { error: `no route ${route}` });
      }
    })().catch((err) => {
      log.error({ err }, 'ops request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  if (a && typeof a === 'object') log.info({ address: a.address, port: a.port }, 'ops listening');
  return server;
}
