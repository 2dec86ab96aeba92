/**
 * A node on several cores (`workers` > 1). The primary process accepts every
 * control connection, reads the balancer's PROXY header, admits the client
 * (defender, session caps) and hands the socket to the worker process with
 * the fewest sessions. Each worker serves its sessions whole — commands,
 * transfers, its own slice of the passive range — so no byte of data passes
 * through the primary. The primary keeps what must be counted node-wide:
 * sessions per address and per user, the defender's scores and bans; it
 * serves the ops port with the workers' metrics merged, and drains them on
 * SIGTERM.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type pino from 'pino';
import type { Config } from '../config/schema.js';
import { NetworkList } from '../net/addressMatch.js';
import { listenOnAll } from '../net/controlListener.js';
import type { Defender } from '../net/defender.js';
import { SessionAdmission, acceptControl, type Refusal } from '../net/sessionAdmission.js';
import { Metrics } from '../ops/metrics.js';
import type { Readiness } from '../ops/opsServer.js';
import { SHUTTING_DOWN } from '../server/listener.js';
import { createDefender, loadTls, serveOpsAndStop } from './common.js';
import type { FromWorker, Question, ToWorker } from './workerMessages.js';

const WORKER_MAIN = fileURLToPath(new URL('./nodeWorker.js', import.meta.url));
/** How long the ops port waits for a worker's answer. */
const ANSWER_TIMEOUT_MS = 2000;
/** A worker that died is started again after this long (not in a tight loop). */
const RESTART_DELAY_MS = 1000;

/** The `index`-th of `count` near-equal slices of a passive port range. */
export function passiveSlice(range: { min: number; max: number }, index: number, count: number): { min: number; max: number } {
  const size = range.max - range.min + 1;
  const start = range.min + Math.floor((size * index) / count);
  const end = range.min + Math.floor((size * (index + 1)) / count) - 1;
  return { min: start, max: end };
}

interface Worker {
  index: number;
  child: ChildProcess;
  ready: boolean;
  sessions: number;
}

interface SessionEntry {
  worker: Worker;
  address: string;
  user: string | null;
}

class NodePrimary {
  private readonly workers: Array<Worker | null>;
  private readonly sessions = new Map<number, SessionEntry>();
  private readonly servers: Server[] = [];
  private readonly defender: Defender;
  private readonly admission: SessionAdmission;
  private readonly trustedProxies: NetworkList;
  private readonly pending = new Map<number, (value: unknown) => void>();
  readonly metrics: Metrics;
  private nextKey = 0;
  private nextId = 0;
  private turn = 0;
  private stopping = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: Config,
    private readonly log: pino.Logger,
  ) {
    this.workers = new Array<Worker | null>(config.workers).fill(null);
    this.defender = createDefender(config.limits.defender, log);
    this.admission = new SessionAdmission(config.limits, this.defender);
    this.trustedProxies = new NetworkList(config.proxyProtocol.trustedNetworks);
    this.metrics = new Metrics(config.nodeId);
    this.metrics.watchDefender(this.defender);
  }

  async start(): Promise<void> {
    try {
      await Promise.all(this.workers.map((_, i) => this.startWorker(i)));
    } catch (err) {
      this.stopping = true;
      for (const w of this.workers) w?.child.kill();
      throw err;
    }
    this.sweeper = setInterval(() => this.defender.sweep(), 1000).unref();
    const { listen, tls } = this.config;
    await this.listenAll(listen.port, false);
    if (tls.enabled && tls.implicitPort !== null) await this.listenAll(tls.implicitPort, true);
  }

  private async listenAll(port: number, implicitTls: boolean): Promise<void> {
    const onSocket = (socket: Socket) => void this.onConnection(socket, implicitTls);
    const servers = await listenOnAll(this.config.listen.addresses, port, onSocket, (err) => this.log.error({ err }, 'listener error'), true);
    for (const server of servers) {
      this.servers.push(server);
      const a = server.address() as import('node:net').AddressInfo;
      this.log.info({ address: a.address, port: a.port, implicitTls: implicitTls || undefined, workers: this.workers.length }, 'listening');
    }
  }

  /** Forks worker `index` and resolves once it serves; rejects if it cannot start. */
  private startWorker(index: number): Promise<void> {
    const child = fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: 'inherit' });
    const worker: Worker = { index, child, ready: false, sessions: 0 };
    this.workers[index] = worker;
    return new Promise((resolve, reject) => {
      child.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          worker.ready = true;
          resolve();
        } else if (m.t === 'failed') reject(new Error(`worker ${index}: ${m.error}`));
        else this.onMessage(worker, m);
      });
      child.on('exit', (code, signal) => {
        reject(new Error(`worker ${index} exited (${signal ?? code}) while starting`));
        this.onWorkerExit(worker, code, signal);
      });
      const config: Config = { ...this.config, passive: { ...this.config.passive, portRange: passiveSlice(this.config.passive.portRange, index, this.workers.length) } };
      this.send(worker, { t: 'start', index, config });
    });
  }

  private onWorkerExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.workers[worker.index] !== worker) return;
    this.workers[worker.index] = null;
    for (const [key, s] of this.sessions) if (s.worker === worker) this.release(key);
    if (this.stopping) return;
    this.log.error({ worker: worker.index, code, signal }, 'worker process exited; starting it again');
    setTimeout(() => {
      if (!this.stopping) this.startWorker(worker.index).catch((err) => this.log.error({ worker: worker.index, err: (err as Error).message }, 'worker restart failed'));
    }, RESTART_DELAY_MS).unref();
  }

  private send(worker: Worker, message: ToWorker, handle?: Socket): void {
    if (worker.child.connected) worker.child.send(message, handle as never);
  }

  private async onConnection(socket: Socket, implicitTls: boolean): Promise<void> {
    const accepted = await acceptControl(socket, {
      proxy: { ...this.config.proxyProtocol, trusted: this.trustedProxies },
      log: this.log,
      metrics: this.metrics,
      admit: (address) => this.admit(address),
    });
    if (!accepted) return;
    const worker = this.leastBusy();
    if (!worker) {
      // admitted a moment ago; every worker is restarting
      this.admission.release(accepted.address);
      socket.destroy();
      return;
    }
    // Bytes that came with the PROXY header; nothing else has been read.
    const chunks: Buffer[] = [];
    for (let c: Buffer | null; (c = socket.read() as Buffer | null) !== null; ) chunks.push(c);
    const key = ++this.nextKey;
    this.sessions.set(key, { worker, address: accepted.address, user: null });
    worker.sessions++;
    const head = chunks.length > 0 ? Buffer.concat(chunks) : null;
    this.send(worker, { t: 'session', key, implicitTls, proxy: accepted.proxy, head }, socket);
  }

  private admit(address: string): Refusal | null {
    if (this.stopping) return SHUTTING_DOWN;
    let unauthenticated = 0;
    for (const s of this.sessions.values()) if (s.user === null) unauthenticated++;
    return this.admission.admit(address, unauthenticated);
  }

  /** The ready worker with the fewest sessions; ties taken in turn. */
  private leastBusy(): Worker | null {
    let best: Worker | null = null;
    const n = this.workers.length;
    this.turn = (this.turn + 1) % n;
    for (let i = 0; i < n; i++) {
      const w = this.workers[(this.turn + i) % n];
      if (w?.ready && (!best || w.sessions < best.sessions)) best = w;
    }
    return best;
  }

  private release(key: number): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    s.worker.sessions--;
    this.admission.release(s.address);
  }

  private onMessage(worker: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'closed':
        return this.release(m.key);
      case 'claim': {
        const s = this.sessions.get(m.key);
        let others = 0;
        for (const [key, o] of this.sessions) if (key !== m.key && o.user === m.user) others++;
        const ok = s !== undefined && (m.max === null || others < m.max);
        if (ok) s.user = m.user;
        return this.send(worker, { t: 'claimed', id: m.id, ok });
      }
      case 'loggedOut': {
        const s = this.sessions.get(m.key);
        if (s) s.user = null;
        return;
      }
      case 'offence': {
        if (!this.defender.record(m.address, m.offence, m.user).banned) return;
        const until = this.defender.bannedUntil(m.address);
        if (until === null) return;
        for (const w of this.workers) if (w) this.send(w, { t: 'ban', address: m.address, until });
        return;
      }
      case 'forgive':
        return this.defender.forgive(m.address, m.user);
      case 'answer': {
        const resolve = this.pending.get(m.id);
        this.pending.delete(m.id);
        return resolve?.(m.value);
      }
    }
  }

  /** Every running worker's answer (null for one that did not answer in time). */
  private ask<T>(what: Question): Promise<Array<{ index: number; value: T | null }>> {
    return Promise.all(
      this.workers
        .filter((w): w is Worker => w !== null && w.ready)
        .map(
          (w) =>
            new Promise<{ index: number; value: T | null }>((resolve) => {
              const id = ++this.nextId;
              const timer = setTimeout(() => {
                this.pending.delete(id);
                resolve({ index: w.index, value: null });
              }, ANSWER_TIMEOUT_MS);
              this.pending.set(id, (value) => {
                clearTimeout(timer);
                resolve({ index: w.index, value: value as T });
              });
              this.send(w, { t: 'ask', id, what });
            }),
        ),
    );
  }

  /** Ready when not draining, every worker runs and answers, and each of their checks passes. */
  async readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    checks.draining = this.stopping ? { ok: false, detail: 'draining' } : { ok: true };
    const answers = await this.ask<Readiness>('readiness');
    const answering = answers.filter((a) => a.value !== null).length;
    checks.workers = { ok: answering === this.workers.length, detail: `${answering} of ${this.workers.length} workers serving` };
    for (const { index, value } of answers) {
      for (const [name, c] of Object.entries(value?.checks ?? {})) {
        if (name === 'draining') continue;
        const merged = (checks[name] ??= { ok: true });
        merged.ok &&= c.ok;
        if (c.detail) merged.detail = [merged.detail, `worker ${index}: ${c.detail}`].filter(Boolean).join('; ');
      }
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  async status(): Promise<Record<string, unknown>> {
    const answers = await this.ask<Record<string, unknown>>('status');
    return {
      node: this.config.nodeId,
      draining: this.stopping,
      sessions: this.sessions.size,
      loggedIn: [...this.sessions.values()].filter((s) => s.user !== null).length,
      bannedAddresses: this.defender.activeBans,
      workers: answers.map(({ index, value }) => ({ index, ...(value ?? { answered: false }) })),
    };
  }

  /** The primary's metrics (refusals, bans) and every worker's, merged as prom-client does for a cluster. */
  async metricsText(): Promise<string> {
    type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
    const answers = await this.ask<Json>('metrics');
    const all = [await this.metrics.registry.getMetricsAsJSON(), ...answers.flatMap((a) => (a.value ? [a.value] : []))];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  reloadTls(): void {
    for (const w of this.workers) if (w) this.send(w, { t: 'reloadTls' });
  }

  /** Stops accepting and has every worker drain (they exit when done); waits for them. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const s of this.servers) s.close();
    const running = this.workers.filter((w): w is Worker => w !== null);
    await Promise.all(
      running.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            this.send(w, { t: 'drain', graceMs });
            setTimeout(() => w.child.kill('SIGKILL'), graceMs + 3000).unref();
          }),
      ),
    );
  }
}

export async function runPrimary(config: Config, log: pino.Logger): Promise<{ reloadTls(): void }> {
  // Created here once (a self-signed pair at first start), not by each worker at the same time.
  await loadTls(config.tls, dirname(config.users.file), 'ftpfleet-tls', log);
  const primary = new NodePrimary(config, log);
  await primary.start();
  const metrics = { text: () => primary.metricsText(), contentType: primary.metrics.contentType };
  await serveOpsAndStop(primary, { ops: config.ops, graceSec: config.shutdown.grace, metrics, log, andThen: () => {} });
  log.info({ workers: config.workers, passive: config.passive.portRange, version: process.env.npm_package_version }, 'ftpfleet started');
  return primary;
}
