/**
 * Driving the network-namespace lab (../shared/lab/lab.sh) from a test:
 * bringing it up and down, switching the balancer mode, and running ftpfleet
 * nodes on the backends with the settings each mode needs (lab README,
 * "Server settings each mode needs"). No side effects at import.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/auth/passwords.js';

/** The repository root (this file runs from dist/test/lab/). */
export const ROOT = resolve(import.meta.dirname, '../../..');
export const LAB_SH = process.env.FTPFLEET_LAB_SH ?? resolve(ROOT, '../shared/lab/lab.sh');
export const CLI = resolve(ROOT, 'dist/src/cli/main.js');

export const VIP = '198.18.1.100';
export const LB_SERVER_SIDE = '198.18.2.1';
/** The client namespace's 17 source addresses, 198.18.1.10 … .26. */
export const CLIENT_ADDRESSES = Array.from({ length: 17 }, (_, i) => `198.18.1.${10 + i}`);

export const ADMIN_TOKEN = 'lab-admin-token-9f3c1e77';

export type LbMode = 'haproxy' | 'haproxy-pp2' | 'nat' | 'nat-helper';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  started: number;
  ended: number;
}

/** Runs a command, collecting its output; a time limit kills it (and is reported, not thrown). */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const started = Date.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, timedOut, started, ended: Date.now() });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Why the lab cannot run here, or null when it can: it needs Linux, root,
 * lab.sh, the built CLI and the right to create network namespaces.
 */
export function labSkipReason(): string | null {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, iptables, port 21)';
  if (!existsSync(LAB_SH)) return `lab.sh not found at ${LAB_SH} (set FTPFLEET_LAB_SH)`;
  if (!existsSync(CLI)) return `the CLI is not built (${CLI})`;
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return `"ip netns" does not work here: ${ip.error?.message ?? ip.stderr.trim()}`;
  const ns = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8' });
  if (ns.error || ns.status !== 0) return `cannot create network namespaces: ${ns.error?.message ?? ns.stderr.trim()}`;
  return null;
}

/** Held for the whole run, so that two runs of the lab test (two `npm test`s) never share the one lab. */
export const LOCK_FILE = '/run/lock/ftpfleet-lab-test.lock';

/**
 * Takes the machine-wide lock of the lab test, waiting up to `timeoutS`.
 * flock(1) keeps it while `cat` reads our stdin: it is released by `release()`
 * or when this process dies (the pipe closes), never left behind.
 * Resolves with the release function; rejects with why it could not be taken
 * (a lab held that long by another run is a failure to report, not a skip).
 */
export function acquireLabLock(timeoutS: number): Promise<() => void> {
  mkdirSync('/run/lock', { recursive: true });
  return new Promise((res, rej) => {
    const child = spawn('flock', ['-w', String(timeoutS), LOCK_FILE, '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let settled = false;
    const release = () => child.stdin.end();
    process.once('exit', () => child.kill());
    child.stdin.on('error', () => {});
    child.stdout.on('data', (d) => {
      out += d;
      if (!settled && out.includes('locked')) {
        settled = true;
        // never keep the test process alive for the lock's sake
        child.unref();
        (child.stdin as unknown as { unref(): void }).unref();
        child.stdout.destroy();
        (child.stderr as unknown as { unref(): void }).unref();
        res(release);
      }
    });
    child.on('error', (err) => {
      if (!settled) rej(new Error(`flock(1) is not available: ${err.message}`));
      settled = true;
    });
    child.on('exit', (code) => {
      if (!settled) rej(new Error(`another run of the lab test held the lab for ${timeoutS} s (${LOCK_FILE}, flock exit ${code})`));
      settled = true;
    });
  });
}

/**
 * Copies the built server (dist/src, package.json, a link to node_modules) to
 * `dir` and returns its CLI: the nodes and the probe then run the build this
 * run started with, even if dist/ is rebuilt meanwhile (tsc --watch, another npm test).
 */
export async function snapshotBuild(dir: string): Promise<string> {
  const cli = join(dir, 'dist/src/cli/main.js');
  for (let attempt = 1; ; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, 'dist'), { recursive: true });
      cpSync(join(ROOT, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
      if (!existsSync(cli)) throw new Error(`${CLI} is missing`);
      break;
    } catch (err) {
      // dist/ being rebuilt right now (npm run build empties it first): try again shortly
      if (attempt >= 10) throw new Error(`cannot copy the build: ${(err as Error).message}`);
      await sleep(3000);
    }
  }
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return cli;
}

export class LabError extends Error {}

/** The lab's commands (lab.sh writes its messages to stderr; stdout carries only results). */
export class Lab {
  env: Record<string, string> = {};

  async sh(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    const r = await run(LAB_SH, args, { timeoutMs });
    if (r.code !== 0) {
      throw new LabError(`lab.sh ${args.join(' ')} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n${r.stderr.trim()}\n${r.stdout.trim()}`);
    }
    return r;
  }

  /** `lab.sh up`, retried while another apt/dpkg holds the package lock (first-use install). */
  async up(backends: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sh(['up', '--backends', String(backends)], 600_000);
        break;
      } catch (err) {
        const msg = (err as Error).message;
        if (attempt >= 6 || !/lock|apt-get/i.test(msg)) throw err;
        await this.sh(['down']).catch(() => {});
        await sleep(10_000);
      }
    }
    await this.loadEnv();
  }

  async down(): Promise<void> {
    await this.sh(['down'], 180_000);
  }

  async loadEnv(): Promise<void> {
    const r = await this.sh(['env']);
    this.env = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) this.env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
  }

  get stateDir(): string {
    return this.env.FL_STATE_DIR!;
  }

  get backends(): number {
    return Number(this.env.FL_BACKENDS);
  }

  pasvRange(i: number): string {
    return `${this.env[`FL_S${i}_PASV_MIN`]}-${this.env[`FL_S${i}_PASV_MAX`]}`;
  }

  /** `lab.sh lb MODE [ARGS]`, e.g. ['--pp-data']. */
  async lb(mode: LbMode, args: string[] = []): Promise<void> {
    await this.sh(['lb', mode, ...args]);
  }

  exec(node: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return run(LAB_SH, ['exec', node, ...args], { timeoutMs });
  }

  /** `lab.sh spawn`: the PID of the process, which runs in NODE's namespace. */
  async spawn(node: string, name: string, args: string[]): Promise<number> {
    const r = await this.sh(['spawn', node, name, ...args]);
    const pid = Number(r.stdout.trim().split('\n').at(-1));
    if (!Number.isInteger(pid) || pid <= 0) throw new LabError(`lab.sh spawn printed no PID: ${r.stdout}`);
    return pid;
  }

  async stop(name: string): Promise<void> {
    await this.sh(['stop', name]);
  }

  async waitReady(seconds = 30): Promise<void> {
    await this.sh(['wait-ready', String(seconds)], (seconds + 30) * 1000);
  }

  /**
   * Per backend: `lab.sh health`'s line, e.g. "s1 UP (haproxy check L7OK)" or
   * "s1 DOWN (haproxy: UP 1/2, check L4CON)".
   */
  async health(): Promise<Map<string, string>> {
    const r = await this.sh(['health'], 30_000);
    const out = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^(s\d+) (.*)$/.exec(line);
      if (m) out.set(m[1]!, m[2]!);
    }
    return out;
  }

  /**
   * Whether the balancer has taken `backend` out of rotation. lab.sh health says
   * DOWN as soon as one HAProxy check fails ("UP 1/2", still getting sessions, as
   * wait-ready wants it); out of rotation is HAProxy's own status DOWN (fall 2).
   */
  async outOfRotation(backend: string): Promise<boolean> {
    const h = (await this.health()).get(backend) ?? '';
    return /^DOWN \(haproxy: DOWN\b/.test(h) || (h.startsWith('DOWN') && !h.includes('haproxy'));
  }

  logPath(name: string): string {
    return join(this.stateDir, 'logs', `${name}.log`);
  }
}

/** The settings a node needs behind each balancer mode (lab README table). */
export function modeSettings(mode: LbMode): Record<string, any> {
  switch (mode) {
    case 'haproxy':
      // HAProxy reads no FTP: the 227 must carry the VIP. Every connection comes
      // from the balancer (198.18.2.1), so PORT/EPRT name another address than the
      // control peer: accept it (no PROXY protocol in this mode).
      return { passive: { address: VIP }, active: { allowForeignAddress: true } };
    case 'haproxy-pp2':
      // PROXY v2 from the balancer only; the client's address comes from the header
      // (PORT/EPRT checked against it). Passive data connections come without a
      // header from 198.18.2.1, the control connection's TCP peer (proxyProtocol.data off).
      return {
        passive: { address: VIP },
        proxyProtocol: { control: 'required', data: 'off', trustedNetworks: [`${LB_SERVER_SIDE}/32`] },
      };
    case 'nat':
      // DNAT rewrites no payload: advertise the VIP; active data only leaves with
      // the VIP from port 20 (the Red Hat MASQUERADE rule).
      return { passive: { address: VIP }, active: { sourcePort: 20 } };
    case 'nat-helper':
      // The kernel FTP helper rewrites the node's own address in 227 to the VIP.
      return { passive: { address: 'auto' }, active: { sourcePort: 20 } };
  }
}

function merge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k], v) : v;
  }
  return out;
}

/** Settings over a mode's own: the same for every node, or per node (1, 2, …). */
export type Overrides = Record<string, any> | ((i: number) => Record<string, any>);

export interface FleetNode {
  /** Backend namespace (s1, s2, …) and nodeId. */
  backend: string;
  /** Name under which lab.sh tracks the process (and its log file). */
  name: string;
  pid: number;
  config: string;
  log: string;
}

/** ftpfleet nodes on the lab's backends, all serving one shared storage directory. */
export class Fleet {
  nodes: FleetNode[] = [];
  private generation = 0;

  constructor(
    private readonly lab: Lab,
    private readonly workDir: string,
    readonly storageDir: string,
    private readonly usersFile: string,
    /** The ftpfleet CLI the nodes run (see snapshotBuild). */
    private readonly cli: string = CLI,
  ) {}

  /** Node `i`'s full config for `mode` (and any overrides, deep-merged). */
  config(mode: LbMode, i: number, overrides: Overrides = {}): Record<string, any> {
    const base = {
      nodeId: `s${i}`,
      banner: `ftpfleet lab s${i} ready`,
      // listen.addresses stays at its default ("::", dual stack) although the lab has IPv6
      // switched off: clients and balancers then appear as IPv4-mapped addresses, as on many hosts
      listen: { port: 21 },
      storage: { local: { root: this.storageDir, fsync: true } },
      users: { file: this.usersFile },
      // The lab is plain FTP: the FTP helpers (natgw ALG, nat-helper) read the
      // control connection. (It also spares the nodes creating one self-signed
      // pair in the shared directory at the same time.)
      tls: { enabled: false },
      passive: { portRange: this.lab.pasvRange(i) },
      shutdown: { grace: 30 },
      // the ops port on each node's own loopback; the admin API for the drain test
      ops: { address: '127.0.0.1', port: 9121, adminToken: ADMIN_TOKEN },
      log: { level: 'info' },
    };
    return merge(merge(base, modeSettings(mode)), typeof overrides === 'function' ? overrides(i) : overrides);
  }

  /**
   * Stops whatever runs, switches the balancer to `mode`, starts `count` nodes
   * (default: one per backend) and waits until the balancer sees them up.
   */
  async start(
    mode: LbMode,
    opts: { count?: number; overrides?: Overrides; tag?: string; lbArgs?: string[] } = {},
  ): Promise<void> {
    const { count = this.lab.backends, overrides = {}, lbArgs = [] } = opts;
    const tag = (opts.tag ?? mode).replace(/[^A-Za-z0-9.-]+/g, '-');
    await this.stopAll();
    await this.lab.lb(mode, lbArgs);
    const gen = ++this.generation;
    for (let i = 1; i <= count; i++) {
      const config = join(this.workDir, `s${i}-${gen}-${tag}.yaml`);
      writeFileSync(config, stringify(this.config(mode, i, overrides)));
      const name = `ftpfleet-${gen}-${tag}-s${i}`;
      const pid = await this.lab.spawn(`s${i}`, name, [process.execPath, this.cli, 'serve', '--config', config]);
      this.nodes.push({ backend: `s${i}`, name, pid, config, log: this.lab.logPath(name) });
    }
    for (const node of this.nodes) await this.waitStarted(node);
    await this.lab.waitReady(30);
  }

  private async waitStarted(node: FleetNode): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.logLines(node).some((l) => l.msg === 'ftpfleet started')) return;
      if (!alive(node.pid)) throw new LabError(`ftpfleet on ${node.backend} exited at start:\n${tail(node.log)}`);
      if (Date.now() > deadline) throw new LabError(`ftpfleet on ${node.backend} did not start within 30 s:\n${tail(node.log)}`);
      await sleep(100);
    }
  }

  async stopAll(): Promise<void> {
    for (const node of this.nodes) await this.lab.stop(node.name);
    this.nodes = [];
  }

  node(backend: string): FleetNode {
    const n = this.nodes.find((x) => x.backend === backend);
    if (!n) throw new Error(`no node on ${backend}`);
    return n;
  }

  /** The node's JSON log lines so far. */
  logLines(node: FleetNode): Array<Record<string, any>> {
    return jsonLines(node.log);
  }
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${pid}/status`));
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function tail(path: string, lines = 30): string {
  return safeRead(path).split('\n').slice(-lines).join('\n');
}

/** The JSON lines of a log file written so far (a line still being written is skipped). */
export function jsonLines(path: string): Array<Record<string, any>> {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Array<Record<string, any>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* a line being written */
    }
  }
  return out;
}

/** A fresh work directory with a storage root, a users file holding one user, and a random payload file. */
export async function labWorkDir(
  prefix: string,
  user: string,
  password: string,
  payloadSize: number,
): Promise<{ work: string; storage: string; usersFile: string; payload: string }> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const storage = join(work, 'storage');
  mkdirSync(storage);
  const usersFile = join(work, 'users.yaml');
  writeFileSync(usersFile, stringify({ users: { [user]: { password: await hashPassword(password), home: '/' } } }));
  const payload = join(work, 'payload.bin');
  writeFileSync(payload, randomBytes(payloadSize));
  return { work, storage, usersFile, payload };
}

/** Fails clearly when a client program the lab tests drive is missing. */
export function requireTools(tools: string[]): void {
  for (const tool of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y ${tool}; .ci/run does)`);
  }
}

/**
 * One lab suite's run: `tracked` hooks and tests mark it failed when they
 * throw (its logs are then kept), and SIGINT/SIGTERM take the lab down
 * between trapSignals() and releaseSignals().
 */
export class LabRun {
  failed = false;
  private readonly emergencyDown = () => {
    spawnSync(LAB_SH, ['down'], { stdio: 'ignore' });
    process.exit(130);
  };

  /** Keep the work directory and the lab's logs: after a failure, or when FTPFLEET_LAB_KEEP=1. */
  get keep(): boolean {
    return this.failed || process.env.FTPFLEET_LAB_KEEP === '1';
  }

  tracked<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
    return async (...args) => {
      try {
        await fn(...args);
      } catch (err) {
        this.failed = true;
        throw err;
      }
    };
  }

  trapSignals(): void {
    process.once('SIGINT', this.emergencyDown);
    process.once('SIGTERM', this.emergencyDown);
  }

  releaseSignals(): void {
    process.off('SIGINT', this.emergencyDown);
    process.off('SIGTERM', this.emergencyDown);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
