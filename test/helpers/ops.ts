/** The ops port of a test server: HTTP requests, and reading Prometheus text. */
import assert from 'node:assert/strict';
import type { TestServer } from './server.js';

export function opsPort(srv: TestServer): number {
  const line = srv.logs.find((l) => l.msg === 'ops listening');
  assert.ok(line, 'ops listening logged');
  return line.port as number;
}

export async function ops(srv: TestServer, path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${opsPort(srv)}${path}`, init);
  return { status: r.status, text: await r.text() };
}

/** Sum of a Prometheus metric's samples whose labels include `labels`; undefined when none. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}
