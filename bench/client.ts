/**
 * The benchmark's own FTP load generator, run as a separate process by
 * bench/run.ts so that its CPU is not the server's and can be reported:
 *
 *   node dist/bench/client.js ingest '{"port":2121,"user":"u","password":"p","mode":"passive","files":2000,"size":4096,"prefix":"r1-"}'
 *   node dist/bench/client.js storm  '{"port":2121,"user":"u","password":"p","clients":500,"concurrency":50}'
 *   node dist/bench/client.js idle   '{"port":2121,"user":"u","password":"p","sessions":1000,"sources":50}'
 *
 * Each prints one JSON line with its result (idle prints one when all
 * sessions are logged in, then waits for "stop" on stdin, closes them and
 * prints another).
 */
import { createInterface } from 'node:readline';
import { Control, readAll, sendAll, transfer, type DataMode } from './ftpclient.js';

interface Common {
  host?: string;
  port: number;
  user: string;
  password: string;
}

/** CPU seconds of this client since `from` (process start by default). */
function cpu(from?: NodeJS.CpuUsage): { user: number; system: number } {
  const u = process.cpuUsage(from);
  return { user: u.user / 1e6, system: u.system / 1e6 };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Small-file ingest, the device pattern: one session, one fresh data connection per file. */
async function ingest(o: Common & { mode: DataMode; files: number; size: number; prefix: string }) {
  const host = o.host ?? '127.0.0.1';
  const payload = Buffer.alloc(o.size, 0x5a);
  const ctl = await Control.open(host, o.port);
  await ctl.login(o.user, o.password);
  await ctl.cmd('TYPE I', 200);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < o.files; i++) {
    await transfer(ctl, o.mode, `STOR ${o.prefix}${String(i).padStart(5, '0')}.bin`, sendAll(payload), host);
  }
  const seconds = (performance.now() - start) / 1000;
  await ctl.quit().catch(() => {});
  return { files: o.files, seconds, filesPerSec: o.files / seconds, clientCpu: cpu(cpu0) };
}

/** Connection storm: `clients` sessions, `concurrency` at a time, each connect + login + LIST + quit. */
async function storm(o: Common & { clients: number; concurrency: number }) {
  const host = o.host ?? '127.0.0.1';
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  let failed = 0;
  const one = async () => {
    const t0 = performance.now();
    let ctl: Control | null = null;
    try {
      ctl = await Control.open(host, o.port);
      await ctl.login(o.user, o.password);
      const count = { bytes: 0 };
      await transfer(ctl, 'passive', 'LIST', readAll(count), host);
      ctl.send('QUIT');
      const bye = await ctl.read();
      if (bye.code !== 221) throw new Error(`QUIT: ${bye.code} ${bye.text}`);
      latencies.push(performance.now() - t0);
    } catch (err) {
      failed++;
      if (errors.length < 5) errors.push((err as Error).message);
    } finally {
      ctl?.destroy();
    }
  };
  const worker = async () => {
    while (next < o.clients) {
      next++;
      await one();
    }
  };
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.clients) }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    sessions: latencies.length,
    failed,
    errors,
    seconds,
    sessionsPerSec: latencies.length / seconds,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
    clientCpu: cpu(cpu0),
  };
}

/**
 * Idle sessions: opens `sessions` logged-in sessions from `sources` loopback
 * addresses (127.0.0.2, .3, ...: one source address has only ~28,000
 * ephemeral ports towards one server port), reports, holds them until "stop".
 */
async function idle(o: Common & { sessions: number; sources: number; concurrency?: number }) {
  const host = o.host ?? '127.0.0.1';
  const open: Control[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < o.sessions) {
      const i = next++;
      const source = `127.0.0.${2 + (i % o.sources)}`;
      try {
        const ctl = await Control.open(host, o.port, source, 60000);
        await ctl.login(o.user, o.password);
        open.push(ctl);
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 50 }, worker));
  const seconds = (performance.now() - start) / 1000;
  process.stdout.write(JSON.stringify({ ready: true, opened: open.length, failed, errors, seconds, clientCpu: cpu() }) + '\n');
  // Hold until told to stop; count sessions the server closed meanwhile.
  let dropped = 0;
  for (const c of open) c.socket.once('close', () => dropped++);
  await new Promise<void>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l.trim() === 'stop') {
        rl.close();
        resolve();
      }
    });
    rl.on('close', () => resolve());
  });
  const stillOpen = open.length - dropped;
  for (const c of open) c.destroy();
  return { done: true, stillOpen, dropped };
}

const [mode, json] = process.argv.slice(2);
const options = JSON.parse(json ?? '{}');
const run = { ingest, storm, idle }[mode as 'ingest' | 'storm' | 'idle'];
if (!run) {
  process.stderr.write('usage: client.js ingest|storm|idle JSON\n');
  process.exit(2);
}
run(options).then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  },
  (err) => {
    process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
    process.exit(1);
  },
);
