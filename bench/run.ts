/**
 * ftpfleet's benchmark harness (issue #6): starts ftpfleet and the reference
 * servers (vsftpd, pyftpdlib, pure-ftpd, ProFTPD; Debian packages) on
 * loopback, measures them interleaved (A B C A B C …), and writes
 * bench/RESULTS.md (between its markers) and bench/results.json.
 *
 * Run it with `npm run bench` (see bench/README.md); `-- --quick` for a
 * small development run.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, linkSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, cpus, totalmem, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { hashPassword } from '../src/auth/passwords.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BENCH = resolve(import.meta.dirname, '../../bench');
const REPO = resolve(BENCH, '..');
const CLI = resolve(import.meta.dirname, '../src/cli/main.js');
const CLIENT = resolve(import.meta.dirname, 'client.js');
const DEBROOT = join(BENCH, '.cache', 'debroot');
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  runs: number;
  sizeMiB: number;
  files: number;
  fileSize: number;
  stormClients: number;
  stormConcurrency: number;
  idle: number[];
  /** Process-per-session servers are held at most this many idle sessions (two processes each for vsftpd). */
  forkIdleCap: number;
  only: Set<string>;
  servers: Set<string> | null;
  workdir: string;
  out: string;
  json: string;
  keep: boolean;
  /** Extra node flags for the ftpfleet processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
  nodeArgs: string[];
  label: string;
  /** One unmeasured round of every transfer kind per server before measuring (JIT, heap sizing, caches). */
  warmup: boolean;
  /** Another build of ftpfleet (a directory holding dist/src/cli/main.js) run beside this one as "ftpfleet-baseline", fsync off. */
  baseline: string | null;
}

const ALL_MEASUREMENTS = ['retr', 'stor', 'ingest', 'storm', 'parallel', 'idle', 'gateway'];
/** Sessions at once in the "parallel" measurement: enough to give every core work. */
const PARALLEL_SESSIONS = 4;

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    runs: quick ? 1 : 3,
    sizeMiB: quick ? 64 : 1024,
    files: quick ? 200 : 2000,
    fileSize: 4096,
    stormClients: quick ? 100 : 500,
    stormConcurrency: quick ? 20 : 50,
    idle: quick ? [200] : [1000, 10000],
    forkIdleCap: 2000,
    only: new Set(ALL_MEASUREMENTS),
    servers: null,
    workdir: '/var/tmp/ftpfleet-bench',
    out: quick ? join(BENCH, 'out', 'RESULTS.quick.md') : join(BENCH, 'RESULTS.md'),
    json: quick ? join(BENCH, 'out', 'results.quick.json') : join(BENCH, 'results.json'),
    keep: false,
    nodeArgs: [],
    label: quick ? 'quick run' : 'full run',
    baseline: null,
    warmup: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    switch (flag) {
      case '--quick':
        break;
      case '--runs':
        o.runs = Number(value());
        break;
      case '--size':
        o.sizeMiB = Number(value());
        break;
      case '--files':
        o.files = Number(value());
        break;
      case '--storm':
        [o.stormClients, o.stormConcurrency] = value().split('/').map(Number) as [number, number];
        break;
      case '--idle':
        o.idle = value().split(',').map(Number);
        break;
      case '--fork-idle-cap':
        o.forkIdleCap = Number(value());
        break;
      case '--only':
        o.only = new Set(value().split(','));
        break;
      case '--servers':
        o.servers = new Set(value().split(','));
        break;
      case '--workdir':
        o.workdir = resolve(value());
        break;
      case '--out':
        o.out = resolve(value());
        break;
      case '--json':
        o.json = resolve(value());
        break;
      case '--no-warmup':
        o.warmup = false;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--node-args':
        o.nodeArgs = value().split(' ').filter(Boolean);
        break;
      case '--label':
        o.label = value();
        break;
      case '--baseline':
        o.baseline = resolve(value());
        break;
      case '--help':
        process.stdout.write(readFileSync(join(BENCH, 'README.md'), 'utf8'));
        process.exit(0);
      // falls through (never reached)
      default:
        throw new Error(`unknown option ${a} (see bench/README.md)`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- /proc accounting

let CLK_TCK = 100;

/** Fields of /proc/PID/stat after the command name, numbered as in proc(5). */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return ['', '', '', ...rest]; // so that field n is at index n
  } catch {
    return null;
  }
}

/** All live descendants of `pid` (not including it). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[4]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(name));
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/**
 * Each server runs in its own cpuacct cgroup (v1; /sys/fs/cgroup/cpuacct/ftpfleet-bench/NAME)
 * when the machine has one: it counts the CPU of every process the server
 * forks, including session processes that are reparented away from it (vsftpd's
 * are: their parent becomes PID 1, so the master's cutime never sees them), and
 * lists them for the memory reading.
 */
const CGROUP_ROOT = '/sys/fs/cgroup/cpuacct/ftpfleet-bench';

function makeCgroup(name: string): string | null {
  try {
    const dir = join(CGROUP_ROOT, name);
    mkdirSync(dir, { recursive: true });
    readFileSync(join(dir, 'cpuacct.usage'), 'utf8');
    return dir;
  } catch {
    return null;
  }
}

function joinCgroup(cgroup: string | null, pid: number): void {
  if (!cgroup) return;
  try {
    writeFileSync(join(cgroup, 'cgroup.procs'), `${pid}\n`);
  } catch {
    /* falls back to the process tree */
  }
}

function removeCgroups(): void {
  try {
    // cgroup directories go with rmdir(2); they must have no processes left.
    execFileSync('rmdir', [...readdirSync(CGROUP_ROOT).map((n) => join(CGROUP_ROOT, n)), CGROUP_ROOT], { stdio: 'ignore' });
  } catch {
    /* busy or gone */
  }
}

/** The processes of a server: its cgroup's, else the process and its live descendants. */
function processesOf(s: { pid: number; cgroup: string | null }): number[] {
  if (s.cgroup) {
    try {
      return readFileSync(join(s.cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      /* fall through */
    }
  }
  return [s.pid, ...descendants(s.pid)];
}

/**
 * CPU seconds (user + system) of a server: its cgroup's cpuacct.usage; without
 * one, the process, its reaped children (cutime/cstime) and its live descendants.
 */
function treeCpu(s: { pid: number; cgroup: string | null }): number {
  if (s.cgroup) {
    try {
      return Number(readFileSync(join(s.cgroup, 'cpuacct.usage'), 'utf8')) / 1e9;
    } catch {
      /* fall through */
    }
  }
  let ticks = 0;
  for (const p of [s.pid, ...descendants(s.pid)]) {
    const f = statFields(p);
    if (f) ticks += Number(f[14]) + Number(f[15]) + Number(f[16]) + Number(f[17]);
  }
  return ticks / CLK_TCK;
}

/** Resident memory of a server's processes: summed PSS (smem's method) and summed RSS, in KiB. */
function treeMemory(s: { pid: number; cgroup: string | null }): { pssKiB: number; rssKiB: number; processes: number } {
  let pss = 0;
  let rss = 0;
  let processes = 0;
  for (const p of processesOf(s)) {
    try {
      const rollup = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      processes++;
    } catch {
      // exited meanwhile
    }
  }
  return { pssKiB: pss, rssKiB: rss, processes };
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

// ---------------------------------------------------------------- servers

interface Server {
  name: string;
  /** ftpfleet variants compare with the peers; peers are the reference. */
  ftpfleet: boolean;
  fsync: boolean;
  forking: boolean;
  /** Processes that each serve a share of the sessions and need their own warm-up (ftpfleet's `workers`). */
  warmups: number;
  port: number;
  pasv: [number, number];
  /** Host directory that the benchmark user's "/" maps to. */
  root: string;
  user: string;
  password: string;
  version: string;
  proc: ChildProcess | null;
  pid: number;
  cgroup: string | null;
  auth: string;
  notes: string;
}

const SYSTEM_USER = 'ftpbench';

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await execFileP(cmd, args, { maxBuffer: 64 * MiB })).stdout;
  return new Promise((resolvePromise, reject) => {
    const child = execFile(cmd, args, (err, stdout) => (err ? reject(err) : resolvePromise(stdout)));
    child.stdin!.end(input);
  });
}

async function debVersion(pkg: string): Promise<string> {
  try {
    return (await sh('dpkg-query', ['-W', '-f', '${Version}', pkg])).trim();
  } catch {
    // extracted from the .deb into bench/.cache (the package conflicts with vsftpd's "ftp-server")
    try {
      return readFileSync(join(BENCH, '.cache', `${pkg}.version`), 'utf8').trim() + ' (extracted .deb)';
    } catch {
      return 'unknown';
    }
  }
}

function render(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => String(vars[k] ?? `{{${k}}}`));
}

/** Waits for a 220 greeting on the port. */
async function waitReady(port: number, proc: ChildProcess, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`exited with code ${proc.exitCode}`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: '127.0.0.1', port });
      let buf = '';
      const t = setTimeout(() => (s.destroy(), res(false)), 2000);
      s.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          clearTimeout(t);
          s.end('QUIT\r\n');
          s.destroy();
          res(buf.startsWith('220'));
        }
      });
      s.on('error', () => (clearTimeout(t), res(false)));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`no 220 greeting on port ${port} within ${ms} ms`);
}

async function ensureSystemUser(password: string, home: string): Promise<void> {
  const exists = await sh('getent', ['passwd', SYSTEM_USER]).then(
    () => true,
    () => false,
  );
  if (!exists) await sh('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/bash', SYSTEM_USER]);
  else await sh('usermod', ['--home', home, SYSTEM_USER]);
  // A fresh random password every run: nobody knows it afterwards.
  await sh('chpasswd', [], `${SYSTEM_USER}:${password}\n`);
}

async function chownTree(dir: string, user: string): Promise<void> {
  await sh('chown', ['-R', `${user}:${user}`, dir]);
}

interface Plan {
  name: string;
  /** See Server.warmups; 1 unless set. */
  warmups?: number;
  start(s: Server, work: string): Promise<ChildProcess>;
  available(): boolean;
  version(): Promise<string>;
  forking: boolean;
  auth: string;
  notes: string;
}

function logFd(work: string, name: string): number {
  return openSync(join(work, `${name}.out`), 'a');
}

function plans(o: Options): Plan[] {
  const ftpfleet = (fsync: boolean, name = fsync ? 'ftpfleet' : 'ftpfleet-nofsync', cli = CLI, workers = 1): Plan => ({
    name,
    warmups: workers,
    forking: false,
    auth: 'users file, argon2id (19 MiB, t=2), users.cacheTtl 60 s',
    notes:
      (cli === CLI ? '' : `the build in ${relative(dirname(dirname(dirname(dirname(cli)))))}; `) +
      (workers > 1 ? `workers ${workers} (a primary and ${workers} worker processes, one passive slice each); ` : '') +
      (fsync ? 'storage.local.fsync true (file + directory fsync before 226, the default)' : 'storage.local.fsync false'),
    available: () => existsSync(cli),
    version: async () => {
      if (cli !== CLI) return 'baseline build';
      const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
      const commit = await sh('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).then((s) => s.trim(), () => '?');
      const dirty = await sh('git', ['-C', REPO, 'diff-index', '--quiet', 'HEAD', '--']).then(() => '', () => '+changes');
      return `${pkg.version} (${commit}${dirty}), node ${process.version}`;
    },
    async start(s, work) {
      const dir = join(work, s.name);
      const users = { users: { [s.user]: { password: await hashPassword(s.password), home: '/' } } };
      writeFileSync(join(dir, 'users.yaml'), stringify(users));
      const config = {
        nodeId: s.name,
        ...(workers > 1 ? { workers } : {}), // (a baseline build may not know the key)
        listen: { addresses: ['127.0.0.1'], port: s.port },
        storage: { local: { root: s.root, fsync } },
        users: { file: join(dir, 'users.yaml'), cacheTtl: 60 },
        passive: { portRange: `${s.pasv[0]}-${s.pasv[1]}` },
        limits: {
          maxSessions: 30000,
          maxSessionsPerAddress: 30000,
          maxUnauthenticated: 30000,
          defender: { allow: ['127.0.0.0/8'] },
        },
        ops: { enabled: false },
        log: { level: 'info' },
      };
      writeFileSync(join(dir, 'config.yaml'), stringify(config));
      const fd = logFd(work, s.name);
      const profDir = join(work, `${s.name}-prof`);
      const nodeArgs = o.nodeArgs.map((a) => a.replace('{{PROF}}', profDir));
      return spawn(process.execPath, [...nodeArgs, cli, 'serve', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', fd, fd], cwd: dir });
    },
  });
  return [
    ftpfleet(true),
    ftpfleet(false),
    ...(availableParallelism() > 1 ? [ftpfleet(true, 'ftpfleet-workers', CLI, availableParallelism())] : []),
    ...(o.baseline ? [ftpfleet(false, 'ftpfleet-baseline', join(o.baseline, 'dist/src/cli/main.js'))] : []),
    {
      name: 'vsftpd',
      forking: true,
      auth: `PAM (local user ${SYSTEM_USER}, /etc/shadow hash)`,
      notes: 'Debian defaults + bench/peers/vsftpd.conf; sendfile() for RETR; 2 processes per logged-in session',
      available: () => existsSync('/usr/sbin/vsftpd'),
      version: () => debVersion('vsftpd'),
      async start(s, work) {
        const conf = join(work, 'vsftpd.conf');
        writeFileSync(conf, render(readFileSync(join(BENCH, 'peers', 'vsftpd.conf'), 'utf8'), { PORT: s.port, ROOT: s.root, PASV_MIN: s.pasv[0], PASV_MAX: s.pasv[1], WORK: work }));
        const fd = logFd(work, s.name);
        return spawn('/usr/sbin/vsftpd', [conf], { stdio: ['ignore', fd, fd] });
      },
    },
    {
      name: 'pyftpdlib',
      forking: false,
      auth: 'DummyAuthorizer (plain-text password in memory)',
      notes: 'FTPServer (single process, async I/O, sendfile() for RETR) run by /usr/bin/python3',
      available: () => existsSync('/usr/bin/python3') && existsSync('/usr/lib/python3/dist-packages/pyftpdlib'),
      version: async () => `${await debVersion('python3-pyftpdlib')}, ${(await sh('/usr/bin/python3', ['--version'])).trim()}`,
      async start(s, work) {
        const fd = logFd(work, s.name);
        return spawn('/usr/bin/python3', [join(BENCH, 'peers', 'pyftpdlib_server.py'), String(s.port), s.root, String(s.pasv[0]), String(s.pasv[1]), s.user, s.password], {
          stdio: ['ignore', fd, fd],
        });
      },
    },
    {
      name: 'pure-ftpd',
      forking: true,
      auth: `-l unix (local user ${SYSTEM_USER}, /etc/shadow hash)`,
      notes: 'standalone, privilege-separated, bench/peers/pure-ftpd.args',
      available: () => existsSync(join(DEBROOT, 'usr/sbin/pure-ftpd')),
      version: () => debVersion('pure-ftpd'),
      async start(s, work) {
        const args = readFileSync(join(BENCH, 'peers', 'pure-ftpd.args'), 'utf8')
          .split('\n')
          .filter((l) => l.trim() && !l.startsWith('#'))
          .flatMap((l) => render(l.trim(), { PORT: s.port, PASV_MIN: s.pasv[0], PASV_MAX: s.pasv[1], WORK: work }).split(/\s+/));
        const fd = logFd(work, s.name);
        return spawn(join(DEBROOT, 'usr/sbin/pure-ftpd'), args, { stdio: ['ignore', fd, fd] });
      },
    },
    {
      name: 'proftpd',
      forking: true,
      auth: `mod_auth_unix (local user ${SYSTEM_USER}, /etc/shadow hash)`,
      notes: 'standalone, one process per session, bench/peers/proftpd.conf',
      available: () => existsSync(join(DEBROOT, 'usr/sbin/proftpd')),
      version: () => debVersion('proftpd-core'),
      async start(s, work) {
        const conf = join(work, 'proftpd.conf');
        writeFileSync(conf, render(readFileSync(join(BENCH, 'peers', 'proftpd.conf'), 'utf8'), { PORT: s.port, ROOT: s.root, PASV_MIN: s.pasv[0], PASV_MAX: s.pasv[1], WORK: work }));
        const fd = logFd(work, s.name);
        return spawn(join(DEBROOT, 'usr/sbin/proftpd'), ['-n', '-q', '-c', conf], { stdio: ['ignore', fd, fd] });
      },
    },
  ];
}

async function stopServer(s: Server): Promise<void> {
  if (!s.proc || s.proc.exitCode !== null) return;
  const kids = processesOf(s).filter((p) => p !== s.pid);
  const exited = new Promise<void>((r) => s.proc!.once('exit', () => r()));
  process.kill(s.pid, 'SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(8000).then(() => false)]);
  if (!done) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await exited;
  }
  for (const k of kids) {
    try {
      process.kill(k, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

// ---------------------------------------------------------------- measurement helpers

interface Sample {
  value: number;
  /** Server CPU seconds during the sample. */
  serverCpu?: number;
  clientCpu?: number;
  bytes?: number;
  extra?: Record<string, unknown>;
}

interface Series {
  key: string;
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  samples: Record<string, Sample[]>;
  notes: string[];
}

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Runs curl through sh so that its own CPU time (the shell's cutime/cstime) comes back too. */
async function curl(args: string[]): Promise<{ out: string; cpu: number }> {
  const script = 'curl "$@"; rc=$?; echo; cat /proc/$$/stat; exit $rc';
  const { stdout } = await execFileP('sh', ['-c', script, 'sh', '-sS', ...args], { maxBuffer: MiB });
  const lines = stdout.trim().split('\n');
  const stat = lines.pop()!;
  const f = ['', '', '', ...stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
  return { out: lines.join('\n').trim(), cpu: (Number(f[16]) + Number(f[17])) / CLK_TCK };
}

function url(s: Server, path: string): string {
  return `ftp://${s.user}:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/${path}`;
}

interface ClientResult {
  [k: string]: any;
}

function runClient(mode: string, options: Record<string, unknown>): Promise<ClientResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLIENT, mode, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    // 'close', not 'exit': the result line may still be in the pipe when the process exits.
    child.on('close', () => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last);
        if (r.error) reject(new Error(r.error));
        else resolvePromise(r);
      } catch {
        reject(new Error(`client ${mode} printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

function removeMatching(dir: string, prefix: string): void {
  for (const name of readdirSync(dir)) if (name.startsWith(prefix)) rmSync(join(dir, name), { force: true });
}

async function syncDisks(): Promise<void> {
  await sh('sync', []);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  CLK_TCK = Number((await sh('getconf', ['CLK_TCK'])).trim()) || 100;
  const started = new Date();
  const loadBefore = loadavg();
  log(`ftpfleet bench (${o.label}): runs=${o.runs} size=${o.sizeMiB}MiB files=${o.files} storm=${o.stormClients}/${o.stormConcurrency} idle=${o.idle.join(',')}; load ${loadBefore}`);

  const work = o.workdir;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const password = randomBytes(12).toString('base64url');
  const sysPassword = randomBytes(12).toString('base64url');

  // The source file, made once and hard-linked into every server's root.
  const bigName = 'big.bin';
  const big = join(work, bigName);
  {
    const fd = openSync(big, 'w');
    const block = randomBytes(16 * MiB);
    for (let done = 0; done < o.sizeMiB * MiB; done += block.length) writeSync(fd, block, 0, Math.min(block.length, o.sizeMiB * MiB - done));
    closeSync(fd);
  }

  const all = plans(o).filter((p) => !o.servers || o.servers.has(p.name));
  const servers: Server[] = [];
  const skipped: string[] = [];
  let portBase = 22140;
  let pasvBase = 23000;
  for (const plan of all) {
    if (!plan.available()) {
      skipped.push(`${plan.name}: not installed (bench/bench.sh installs it)`);
      continue;
    }
    const isFleet = plan.name.startsWith('ftpfleet');
    const root = join(work, plan.name, 'root');
    mkdirSync(root, { recursive: true });
    linkSync(big, join(root, bigName));
    servers.push({
      name: plan.name,
      ftpfleet: isFleet,
      fsync: plan.name === 'ftpfleet',
      forking: plan.forking,
      warmups: plan.warmups ?? 1,
      port: portBase++,
      pasv: [pasvBase, pasvBase + 999],
      root,
      user: isFleet || plan.name === 'pyftpdlib' ? 'bench' : SYSTEM_USER,
      password: isFleet || plan.name === 'pyftpdlib' ? password : sysPassword,
      version: await plan.version(),
      proc: null,
      pid: 0,
      cgroup: makeCgroup(plan.name),
      auth: plan.auth,
      notes: plan.notes,
    });
    pasvBase += 1000;
  }
  if (servers.some((s) => s.user === SYSTEM_USER)) {
    const pure = servers.find((s) => s.name === 'pure-ftpd');
    // pure-ftpd serves the user's home directory from /etc/passwd.
    await ensureSystemUser(sysPassword, pure ? pure.root : work);
    for (const s of servers) if (s.user === SYSTEM_USER) await chownTree(join(work, s.name), SYSTEM_USER);
  }

  const cleanup = async () => {
    for (const s of servers) await stopServer(s).catch(() => {});
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  const planByName = new Map(all.map((p) => [p.name, p]));
  for (const s of [...servers]) {
    mkdirSync(join(work, s.name), { recursive: true });
    try {
      s.proc = await planByName.get(s.name)!.start(s, work);
      s.pid = s.proc.pid!;
      joinCgroup(s.cgroup, s.pid);
      s.proc.on('error', () => {});
      await waitReady(s.port, s.proc);
      log(`  started ${s.name} (pid ${s.pid}) on 127.0.0.1:${s.port}, passive ${s.pasv[0]}-${s.pasv[1]}: ${s.version}`);
    } catch (err) {
      skipped.push(`${s.name}: failed to start (${(err as Error).message}; see ${join(work, s.name + '.out')})`);
      log(`  ${s.name} failed to start: ${(err as Error).message}`);
      await stopServer(s).catch(() => {});
      servers.splice(servers.indexOf(s), 1);
    }
  }

  const restart = async (s: Server) => {
    await stopServer(s);
    s.proc = await planByName.get(s.name)!.start(s, work);
    s.pid = s.proc.pid!;
    joinCgroup(s.cgroup, s.pid);
    s.proc.on('error', () => {});
    await waitReady(s.port, s.proc);
  };

  const series: Series[] = [];
  /** The gateway overhead measurement (its own table: direct vs through the gateway, not server vs server). */
  const gatewaySeries: Series[] = [];
  let gateway: Server | null = null;
  const loads: Record<string, string> = { start: loadBefore };
  const result = () => ({
    date: started.toISOString(),
    label: o.label,
    options: { ...o, only: [...o.only], servers: o.servers ? [...o.servers] : null },
    machine: machineInfo(),
    load: loads,
    servers: servers.map((s) => ({ name: s.name, version: s.version, auth: s.auth, notes: s.notes, forking: s.forking })),
    skipped,
    series,
    ...(gatewaySeries.length > 0 ? { gateway: gatewaySeries } : {}),
  });
  const save = () => {
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify(result(), null, 2) + '\n');
  };

  /** Interleaves: run r visits the servers in rotated order. */
  const interleave = async (
    s: Series,
    who: Server[],
    measure: (srv: Server, run: number) => Promise<Sample>,
  ) => {
    series.push(s);
    loads[s.key] = loadavg();
    for (let run = 0; run < o.runs; run++) {
      const order = who.map((_, i) => who[(i + run) % who.length]!);
      for (const srv of order) {
        try {
          const sample = await measure(srv, run);
          (s.samples[srv.name] ??= []).push(sample);
          log(`  ${s.key} run ${run + 1} ${srv.name}: ${fmt(sample.value)} ${s.unit}${sample.serverCpu !== undefined ? ` (server cpu ${sample.serverCpu.toFixed(2)} s)` : ''}`);
        } catch (err) {
          s.notes.push(`${srv.name} run ${run + 1}: ${(err as Error).message}`);
          log(`  ${s.key} run ${run + 1} ${srv.name}: FAILED ${(err as Error).message}`);
        }
        save();
      }
    }
  };

  const main = servers.filter((s) => s.name !== 'ftpfleet-nofsync');

  // Warm-up, not measured: a fresh Node.js process spends its first GiB or so compiling
  // and sizing its heap (a first 256 MiB RETR costs it 3-5x the CPU of the third); a
  // long-running server has long done that. Every server gets the same round.
  if (o.warmup) {
    loads.warmup = loadavg();
    const warm = join(work, 'warm.bin');
    writeFileSync(warm, randomBytes(16 * MiB));
    for (const srv of servers) {
      try {
        // An ftpfleet node hands sessions to its workers in turn: `warmups` sessions in a row
        // of each kind give every worker process its own round.
        const each = async (fn: () => Promise<unknown>) => {
          for (let w = 0; w < srv.warmups; w++) await fn();
        };
        for (let i = 0; i < 2; i++) {
          await each(() => curl(['-r', `0-${Math.min(256, o.sizeMiB) * MiB - 1}`, '-o', '/dev/null', url(srv, bigName)]));
          await each(() => curl(['-T', warm, url(srv, 'warm-up.bin')]));
        }
        for (const mode of ['passive', 'active'] as const) {
          await each(() => runClient('ingest', { port: srv.port, user: srv.user, password: srv.password, mode, files: 100, size: o.fileSize, prefix: 'warm-' }));
        }
        await runClient('storm', { port: srv.port, user: srv.user, password: srv.password, clients: 20, concurrency: 10 });
      } catch (err) {
        log(`  warm-up of ${srv.name} failed: ${(err as Error).message}`);
      }
      removeMatching(srv.root, 'warm');
    }
    log(`  warm-up done (load ${loadavg()})`);
  }
  const bytes = o.sizeMiB * MiB;

  try {
    // 1. RETR with curl.
    if (o.only.has('retr')) {
      await sh('cat', [big]).catch(() => {}); // warm the page cache once: every server reads the same inode
      for (const mode of ['passive', 'active'] as const) {
        await interleave(
          { key: `retr_${mode}`, title: `RETR ${o.sizeMiB} MiB, curl, ${mode}`, unit: 'MB/s', better: 'higher', samples: {}, notes: [] },
          main,
          async (srv) => {
            const cpu0 = treeCpu(srv);
            const r = await curl([...(mode === 'active' ? ['-P', '127.0.0.1'] : []), '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url(srv, bigName)]);
            await sleep(300);
            const serverCpu = treeCpu(srv) - cpu0;
            const [size, time] = r.out.split(' ').map(Number) as [number, number];
            if (size !== bytes) throw new Error(`downloaded ${size} bytes of ${bytes}`);
            return { value: size / time / 1e6, serverCpu, clientCpu: r.cpu, bytes: size };
          },
        );
      }
    }

    // 2. STOR with curl.
    if (o.only.has('stor')) {
      await interleave(
        { key: 'stor', title: `STOR ${o.sizeMiB} MiB, curl, passive`, unit: 'MB/s', better: 'higher', samples: {}, notes: [] },
        servers,
        async (srv, run) => {
          await syncDisks();
          const name = `up-${run}.bin`;
          const cpu0 = treeCpu(srv);
          const r = await curl(['-T', big, '-w', '%{size_upload} %{time_total}', url(srv, name)]);
          await sleep(300);
          const serverCpu = treeCpu(srv) - cpu0;
          const [size, time] = r.out.split(' ').map(Number) as [number, number];
          const stored = statSync(join(srv.root, name)).size;
          rmSync(join(srv.root, name), { force: true });
          if (size !== bytes || stored !== bytes) throw new Error(`uploaded ${size} bytes, stored ${stored}, of ${bytes}`);
          return { value: size / time / 1e6, serverCpu, clientCpu: r.cpu, bytes: size };
        },
      );
    }

    // 3. Small-file ingest with the bench client.
    if (o.only.has('ingest')) {
      for (const mode of ['passive', 'active'] as const) {
        await interleave(
          {
            key: `ingest_${mode}`,
            title: `ingest ${o.files} × ${o.fileSize / 1024} KiB, one session, ${mode}`,
            unit: 'files/s',
            better: 'higher',
            samples: {},
            notes: [],
          },
          servers,
          async (srv, run) => {
            await syncDisks();
            const prefix = `in${run}-`;
            const cpu0 = treeCpu(srv);
            const r = await runClient('ingest', { port: srv.port, user: srv.user, password: srv.password, mode, files: o.files, size: o.fileSize, prefix });
            await sleep(300);
            const serverCpu = treeCpu(srv) - cpu0;
            const stored = readdirSync(srv.root).filter((n) => n.startsWith(prefix)).length;
            removeMatching(srv.root, prefix);
            if (stored !== o.files) throw new Error(`${stored} of ${o.files} files stored`);
            return { value: r.filesPerSec, serverCpu, clientCpu: r.clientCpu.user + r.clientCpu.system, extra: { seconds: r.seconds } };
          },
        );
      }
    }

    // 4. Connection storm.
    if (o.only.has('storm')) {
      const rate: Series = { key: 'storm', title: `connection storm: ${o.stormClients} clients, ${o.stormConcurrency} at a time, connect + login + LIST + QUIT`, unit: 'sessions/s', better: 'higher', samples: {}, notes: [] };
      const p99: Series = { key: 'storm_p99', title: 'connection storm: p99 session latency', unit: 'ms', better: 'lower', samples: {}, notes: [] };
      const ordered = interleave(rate, main, async (srv) => {
        const cpu0 = treeCpu(srv);
        const r = await runClient('storm', { port: srv.port, user: srv.user, password: srv.password, clients: o.stormClients, concurrency: o.stormConcurrency });
        await sleep(500);
        const serverCpu = treeCpu(srv) - cpu0;
        if (r.failed > 0) rate.notes.push(`${srv.name}: ${r.failed} sessions failed (${r.errors.join('; ')})`);
        (p99.samples[srv.name] ??= []).push({ value: r.p99ms, extra: { p50ms: r.p50ms, maxMs: r.maxMs } });
        return { value: r.sessionsPerSec, serverCpu, clientCpu: r.clientCpu.user + r.clientCpu.system, extra: { p50ms: r.p50ms, p99ms: r.p99ms, failed: r.failed } };
      });
      series.push(p99); // listed right after the rate
      await ordered;
    }

    // 5. Several sessions at once: what a second core (worker processes, or a process per session) buys.
    if (o.only.has('parallel')) {
      const size = Math.min(256, o.sizeMiB);
      await interleave(
        { key: 'parallel_retr', title: `${PARALLEL_SESSIONS} sessions at once, RETR ${size} MiB each, curl, passive`, unit: 'MB/s in all', better: 'higher', samples: {}, notes: [] },
        main,
        async (srv) => {
          const cpu0 = treeCpu(srv);
          const t0 = performance.now();
          const runs = await Promise.all(
            Array.from({ length: PARALLEL_SESSIONS }, () => curl(['-r', `0-${size * MiB - 1}`, '-o', '/dev/null', '-w', '%{size_download}', url(srv, bigName)])),
          );
          const seconds = (performance.now() - t0) / 1000;
          await sleep(300);
          const got = runs.reduce((sum, r) => sum + Number(r.out), 0);
          if (got !== PARALLEL_SESSIONS * size * MiB) throw new Error(`downloaded ${got} bytes of ${PARALLEL_SESSIONS * size * MiB}`);
          return { value: got / seconds / 1e6, serverCpu: treeCpu(srv) - cpu0, clientCpu: runs.reduce((sum, r) => sum + r.cpu, 0), bytes: got };
        },
      );
      const files = Math.ceil(o.files / PARALLEL_SESSIONS);
      await interleave(
        { key: 'parallel_ingest', title: `${PARALLEL_SESSIONS} sessions at once, ingest ${files} × ${o.fileSize / 1024} KiB each, passive`, unit: 'files/s in all', better: 'higher', samples: {}, notes: [] },
        main,
        async (srv, run) => {
          await syncDisks();
          const cpu0 = treeCpu(srv);
          const t0 = performance.now();
          const prefixes = Array.from({ length: PARALLEL_SESSIONS }, (_, i) => `par${run}-${i}-`);
          const runs = await Promise.all(
            prefixes.map((prefix) => runClient('ingest', { port: srv.port, user: srv.user, password: srv.password, mode: 'passive', files, size: o.fileSize, prefix })),
          );
          const seconds = (performance.now() - t0) / 1000;
          await sleep(300);
          const serverCpu = treeCpu(srv) - cpu0;
          const stored = readdirSync(srv.root).filter((n) => n.startsWith(`par${run}-`)).length;
          for (const prefix of prefixes) removeMatching(srv.root, prefix);
          if (stored !== files * PARALLEL_SESSIONS) throw new Error(`${stored} of ${files * PARALLEL_SESSIONS} files stored`);
          return { value: stored / seconds, serverCpu, clientCpu: runs.reduce((sum, r) => sum + r.clientCpu.user + r.clientCpu.system, 0) };
        },
      );
    }

    // 6. Idle sessions (one run each: it is a memory reading, not a rate).
    if (o.only.has('idle')) {
      for (const n of o.idle) {
        const s: Series = { key: `idle_${n}`, title: `${n} idle logged-in sessions: resident memory per session`, unit: 'KiB/session', better: 'lower', samples: {}, notes: [] };
        series.push(s);
        loads[s.key] = loadavg();
        const meanwhile: Series = { key: `idle_${n}_serving`, title: `while holding ${n} idle sessions: RETR ${Math.min(256, o.sizeMiB)} MiB (curl, passive)`, unit: 'MB/s', better: 'higher', samples: {}, notes: [] };
        for (const srv of main) {
          if (srv.forking && n > o.forkIdleCap) {
            s.notes.push(`${srv.name}: not run at ${n} (a process per session; capped at ${o.forkIdleCap} on this shared machine, pid_max ${readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()})`);
            continue;
          }
          try {
            // A fresh process, so that what earlier measurements left (heap garbage,
            // allocator pools) is not in the baseline nor freed during the reading.
            // (Its sessions' logins come after the baseline: their cost is counted.)
            await restart(srv);
            // A warmed-up server, as one that has been running (see the warm-up above).
            if (o.warmup) await curl(['-r', `0-${Math.min(256, o.sizeMiB) * MiB - 1}`, '-o', '/dev/null', url(srv, bigName)]).catch(() => {});
            await sleep(3000);
            const before = treeMemory(srv);
            const child = spawn(process.execPath, [CLIENT, 'idle', JSON.stringify({ port: srv.port, user: srv.user, password: srv.password, sessions: n, sources: Math.max(1, Math.ceil(n / 2000)) * 8 })], {
              stdio: ['pipe', 'pipe', 'inherit'],
            });
            const lines: string[] = [];
            let wake: (() => void) | null = null;
            let buf = '';
            child.stdout!.on('data', (d) => {
              buf += d;
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                lines.push(buf.slice(0, nl));
                buf = buf.slice(nl + 1);
                wake?.();
              }
            });
            const exited = new Promise<void>((r) => child.once('exit', () => (wake?.(), r())));
            const nextLine = async (): Promise<any> => {
              while (lines.length === 0) {
                if (child.exitCode !== null) throw new Error('idle client exited');
                await new Promise<void>((r) => (wake = r));
              }
              return JSON.parse(lines.shift()!);
            };
            const ready = await nextLine();
            if (ready.error) throw new Error(ready.error);
            await sleep(3000);
            const after = treeMemory(srv);
            const perSession = (after.pssKiB - before.pssKiB) / ready.opened;
            log(`  idle ${n} ${srv.name}: ${ready.opened} open (${ready.failed} failed) in ${ready.seconds.toFixed(1)} s; PSS ${before.pssKiB} → ${after.pssKiB} KiB over ${after.processes} processes: ${perSession.toFixed(1)} KiB/session`);
            if (ready.failed > 0) s.notes.push(`${srv.name}: ${ready.failed} of ${n} sessions failed to open (${ready.errors.join('; ')})`);
            const sample: Sample = {
              value: perSession,
              extra: { opened: ready.opened, failed: ready.failed, openSeconds: ready.seconds, pssBeforeKiB: before.pssKiB, pssAfterKiB: after.pssKiB, rssBeforeKiB: before.rssKiB, rssAfterKiB: after.rssKiB, processes: after.processes },
            };
            // The node keeps serving meanwhile: one download with the sessions held.
            if (n === Math.max(...o.idle) || srv.ftpfleet) {
              const size = Math.min(256, o.sizeMiB);
              try {
                const r = await curl(['-r', `0-${size * MiB - 1}`, '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url(srv, bigName)]);
                const [got, time] = r.out.split(' ').map(Number) as [number, number];
                (meanwhile.samples[srv.name] ??= []).push({ value: got / time / 1e6, bytes: got });
              } catch (err) {
                meanwhile.notes.push(`${srv.name}: ${(err as Error).message}`);
              }
            }
            child.stdin!.end('stop\n');
            const done = await nextLine().catch(() => ({}));
            sample.extra!.droppedWhileHeld = done.dropped;
            await exited;
            (s.samples[srv.name] ??= []).push(sample);
          } catch (err) {
            s.notes.push(`${srv.name}: ${(err as Error).message}`);
            log(`  idle ${n} ${srv.name}: FAILED ${(err as Error).message}`);
          }
          save();
        }
        series.push(meanwhile);
        // Let the servers reap their sessions before anything else is measured.
        await sleep(3000);
      }
    }

    // 7. Gateway overhead: the same node directly and through `ftpfleet gateway` in front of it.
    if (o.only.has('gateway')) {
      const node = servers.find((s) => s.name === 'ftpfleet-nofsync') ?? servers.find((s) => s.name === 'ftpfleet');
      if (!node) skipped.push('gateway: needs the ftpfleet or ftpfleet-nofsync server (--servers)');
      else {
        gateway = await startGateway(o, work, node, portBase++, [pasvBase, pasvBase + 999]);
        pasvBase += 1000;
        log(`  started gateway (pid ${gateway.pid}) on 127.0.0.1:${gateway.port} in front of ${node.name}`);
        await measureGateway(o, node, gateway, bigName, big, gatewaySeries, loads, save);
      }
    }
  } finally {
    loads.end = loadavg();
    if (gateway) await stopServer(gateway).catch(() => {});
    await cleanup();
    await sleep(500);
    removeCgroups();
  }
  save();
  writeMarkdown(o, result());
  if (!o.keep) rmSync(work, { recursive: true, force: true });
  log(`done: ${o.out}, ${o.json}; load ${loadBefore} → ${loads.end}`);
}

// ---------------------------------------------------------------- gateway overhead

/** `ftpfleet gateway` on 127.0.0.1:port in front of `node` (plain FTP, dataPolicy "client"), in its own cgroup. */
async function startGateway(o: Options, work: string, node: Server, port: number, pasv: [number, number]): Promise<Server> {
  const dir = join(work, 'gateway');
  mkdirSync(dir, { recursive: true });
  const config = {
    nodeId: 'bench-gateway',
    listen: { addresses: ['127.0.0.1'], port },
    backends: [{ name: node.name, host: '127.0.0.1', port: node.port, dataPolicy: 'client' }],
    passive: { portRange: `${pasv[0]}-${pasv[1]}` },
    tls: { enabled: false },
    limits: { maxSessions: 30000, maxSessionsPerAddress: 30000, maxUnauthenticated: 30000, defender: { allow: ['127.0.0.0/8'] } },
    ops: { enabled: false },
    log: { level: 'info' },
  };
  writeFileSync(join(dir, 'gateway.yaml'), stringify(config));
  const fd = logFd(work, 'gateway');
  const nodeArgs = o.nodeArgs.map((a) => a.replace('{{PROF}}', join(work, 'gateway-prof')));
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'gateway', '--config', join(dir, 'gateway.yaml')], { stdio: ['ignore', fd, fd], cwd: dir });
  proc.on('error', () => {});
  const gw: Server = {
    ...node,
    name: 'gateway',
    port,
    pasv,
    version: 'ftpfleet gateway (this build)',
    proc,
    pid: proc.pid!,
    cgroup: makeCgroup('gateway'),
    notes: `in front of ${node.name}`,
  };
  joinCgroup(gw.cgroup, gw.pid);
  await waitReady(port, proc);
  return gw;
}

/**
 * RETR (passive and active) and STOR of the big file with curl, to the node
 * directly and through the gateway, interleaved (run r: direct first when r
 * is even), at least 3 runs. Each sample carries the node's CPU (serverCpu)
 * and the gateway's (extra.gatewayCpu).
 */
async function measureGateway(
  o: Options,
  node: Server,
  gw: Server,
  bigName: string,
  big: string,
  out: Series[],
  loads: Record<string, string>,
  save: () => void,
): Promise<void> {
  const bytes = o.sizeMiB * MiB;
  const runs = Math.max(3, o.runs);
  const target = (via: 'direct' | 'gateway') => (via === 'direct' ? node : gw);
  if (o.warmup) {
    // a fresh Node.js process (see the warm-up above); the node has had its own
    for (let i = 0; i < 2; i++) {
      await curl(['-r', `0-${Math.min(256, o.sizeMiB) * MiB - 1}`, '-o', '/dev/null', url(gw, bigName)]);
      await curl(['-T', big, url(gw, 'gw-warm.bin')]);
    }
    rmSync(join(node.root, 'gw-warm.bin'), { force: true });
  }
  await sh('cat', [big]).catch(() => {});
  const kinds = [
    { key: 'gateway_retr_passive', title: `RETR ${o.sizeMiB} MiB, curl, passive`, up: false, active: false },
    { key: 'gateway_retr_active', title: `RETR ${o.sizeMiB} MiB, curl, active (-P 127.0.0.1)`, up: false, active: true },
    { key: 'gateway_stor', title: `STOR ${o.sizeMiB} MiB, curl, passive`, up: true, active: false },
  ];
  for (const k of kinds) {
    const s: Series = { key: k.key, title: k.title, unit: 'MB/s', better: 'higher', samples: {}, notes: [] };
    out.push(s);
    loads[k.key] = loadavg();
    for (let run = 0; run < runs; run++) {
      const order: Array<'direct' | 'gateway'> = run % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
      for (const via of order) {
        try {
          if (k.up) await syncDisks();
          const name = `gw-up-${via}-${run}.bin`;
          const cpuNode0 = treeCpu(node);
          const cpuGw0 = treeCpu(gw);
          const args = k.up
            ? ['-T', big, '-w', '%{size_upload} %{time_total}', url(target(via), name)]
            : [...(k.active ? ['-P', '127.0.0.1'] : []), '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url(target(via), bigName)];
          const r = await curl(args);
          await sleep(300);
          const serverCpu = treeCpu(node) - cpuNode0;
          const gatewayCpu = treeCpu(gw) - cpuGw0;
          const [size, time] = r.out.split(' ').map(Number) as [number, number];
          if (k.up) {
            const stored = statSync(join(node.root, name)).size;
            rmSync(join(node.root, name), { force: true });
            if (stored !== bytes) throw new Error(`stored ${stored} bytes of ${bytes}`);
          }
          if (size !== bytes) throw new Error(`moved ${size} bytes of ${bytes}`);
          const sample: Sample = { value: size / time / 1e6, serverCpu, clientCpu: r.cpu, bytes: size, extra: via === 'gateway' ? { gatewayCpu } : {} };
          (s.samples[via] ??= []).push(sample);
          log(`  ${k.key} run ${run + 1} ${via}: ${fmt(sample.value)} MB/s (node cpu ${serverCpu.toFixed(2)} s${via === 'gateway' ? `, gateway cpu ${gatewayCpu.toFixed(2)} s` : ''})`);
        } catch (err) {
          s.notes.push(`${via} run ${run + 1}: ${(err as Error).message}`);
          log(`  ${k.key} run ${run + 1} ${via}: FAILED ${(err as Error).message}`);
        }
        save();
      }
    }
    const med = (v: string) => median((s.samples[v] ?? []).map((x) => x.value));
    log(`  ${k.key}: gateway ÷ direct = ${fmt(med('gateway') / med('direct'))}`);
  }
}

// ---------------------------------------------------------------- report

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function machineInfo() {
  const cpuModel = cpus()[0]?.model ?? '?';
  let kernel = '?';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* */
  }
  let os = '?';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?';
  } catch {
    /* */
  }
  let curlVersion = '?';
  try {
    curlVersion = /^curl (\S+)/.exec(execFileSync('curl', ['--version'], { encoding: 'utf8' }))?.[1] ?? '?';
  } catch {
    /* not installed */
  }
  return { host: hostname(), cpu: cpuModel, cores: cpus().length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), kernel, os, node: process.version, curl: curlVersion };
}

interface Target {
  series: string;
  /** Which ftpfleet variant is compared. */
  variant: string;
  /** ratio of ftpfleet to: a named peer, or the best peer. */
  against: string | 'best';
  min?: number;
  maxAbs?: number;
  label: string;
}

const TARGETS: Target[] = [
  { series: 'retr_passive', variant: 'ftpfleet', against: 'vsftpd', min: 0.8, label: '≥ 0.8× vsftpd' },
  { series: 'retr_active', variant: 'ftpfleet', against: 'vsftpd', min: 0.8, label: '≥ 0.8× vsftpd' },
  { series: 'stor', variant: 'ftpfleet-nofsync', against: 'best', min: 1.0, label: '≥ 1.0× best peer' },
  { series: 'ingest_passive', variant: 'ftpfleet-nofsync', against: 'best', min: 1.5, label: '≥ 1.5× best peer' },
  { series: 'ingest_passive', variant: 'ftpfleet', against: 'best', min: 1.0, label: '≥ 1.0× best peer (ftpfleet with fsync)' },
  { series: 'ingest_active', variant: 'ftpfleet-nofsync', against: 'best', min: 1.5, label: '≥ 1.5× best peer' },
  { series: 'ingest_active', variant: 'ftpfleet', against: 'best', min: 1.0, label: '≥ 1.0× best peer (ftpfleet with fsync)' },
  { series: 'storm', variant: 'ftpfleet', against: 'vsftpd', min: 3.0, label: '≥ 3× vsftpd' },
  { series: 'idle_10000', variant: 'ftpfleet', against: 'vsftpd', maxAbs: 10, label: '≤ 10 KiB/session' },
];

function writeMarkdown(o: Options, r: ReturnType<typeof Object>): void {
  const res = r as { date: string; label: string; machine: ReturnType<typeof machineInfo>; load: Record<string, string>; servers: Array<{ name: string; version: string; auth: string; notes: string; forking: boolean }>; skipped: string[]; series: Series[]; options: Record<string, unknown> };
  const names = res.servers.map((s) => s.name);
  const peers = names.filter((n) => !n.startsWith('ftpfleet'));
  const md: string[] = [];
  md.push(`Generated by \`npm run bench${o.quick ? ' -- --quick' : ''}\` (${res.label}) on ${res.date.slice(0, 16).replace('T', ' ')} UTC; medians of ${o.runs} interleaved run(s) each. Raw samples: \`${relative(o.json)}\`.`);
  md.push('');
  md.push(`Machine: ${res.machine.cpu}, ${res.machine.cores} cores, ${res.machine.memoryGiB} GiB, ${res.machine.os}, Linux ${res.machine.kernel}; Node.js ${res.machine.node}, curl ${res.machine.curl}. ` +
    `Load average (1/5/15 min) before: ${res.load.start}; after: ${res.load.end}. Other work was running on this shared machine; see the notes.`);
  md.push('');
  md.push('| server | version | authentication | notes |');
  md.push('|---|---|---|---|');
  for (const s of res.servers) md.push(`| ${s.name} | ${s.version} | ${s.auth} | ${s.notes} |`);
  for (const s of res.skipped) md.push(`| ${s.split(':')[0]} | – | – | skipped: ${s.slice(s.indexOf(':') + 2)} |`);
  md.push('');
  md.push('### Medians');
  md.push('');
  md.push(`| measurement | unit | ${names.join(' | ')} |`);
  md.push(`|---|---|${names.map(() => '---:').join('|')}|`);
  const med = (s: Series, n: string) => median((s.samples[n] ?? []).map((x) => x.value));
  for (const s of res.series) {
    md.push(`| ${s.title} | ${s.unit} (${s.better} is better) | ${names.map((n) => fmt(med(s, n))).join(' | ')} |`);
  }
  for (const s of res.series.filter((x) => /^idle_\d+$/.test(x.key))) {
    const rss = (n: string) => median((s.samples[n] ?? []).map((x) => (Number(x.extra?.rssAfterKiB) - Number(x.extra?.rssBeforeKiB)) / Number(x.extra?.opened)));
    md.push(`| ${s.title.replace('resident memory', 'summed RSS')} | KiB/session (lower is better) | ${names.map((n) => fmt(rss(n))).join(' | ')} |`);
  }
  // CPU per GiB for the bulk transfers.
  for (const s of res.series.filter((x) => x.key.startsWith('retr') || x.key === 'stor')) {
    const cpuPerGiB = (n: string) => median((s.samples[n] ?? []).map((x) => (x.serverCpu ?? NaN) / ((x.bytes ?? NaN) / 2 ** 30)));
    md.push(`| server CPU per GiB, ${s.title} | s/GiB (lower is better) | ${names.map((n) => fmt(cpuPerGiB(n))).join(' | ')} |`);
  }
  for (const s of res.series.filter((x) => x.key.startsWith('ingest') || x.key === 'storm')) {
    const per = s.key === 'storm' ? o.stormClients : o.files;
    const cpuPer = (n: string) => median((s.samples[n] ?? []).map((x) => ((x.serverCpu ?? NaN) * 1000) / per));
    md.push(`| server CPU per ${s.key === 'storm' ? 'session' : 'file'}, ${s.title} | ms (lower is better) | ${names.map((n) => fmt(cpuPer(n))).join(' | ')} |`);
  }
  for (const s of res.series.filter((x) => x.key.startsWith('retr') || x.key === 'stor' || x.key.startsWith('ingest') || x.key === 'storm')) {
    const c = (n: string) => median((s.samples[n] ?? []).map((x) => x.clientCpu ?? NaN));
    md.push(`| client CPU (${s.key.startsWith('retr') || s.key === 'stor' ? 'curl' : 'bench client'}), ${s.title} | s | ${names.map((n) => fmt(c(n))).join(' | ')} |`);
  }
  md.push('');
  md.push('### ftpfleet as a ratio to each peer');
  md.push('');
  md.push('For rates, ftpfleet ÷ peer (above 1: ftpfleet is faster); for latency, memory and CPU, peer ÷ ftpfleet (above 1: ftpfleet uses less).');
  md.push('');
  md.push(`| measurement | ftpfleet variant | ${peers.map((p) => `vs ${p}`).join(' | ')} | vs best peer | target | met |`);
  md.push(`|---|---|${peers.map(() => '---:').join('|')}|---:|---|---|`);
  for (const s of res.series) {
    const variants = names.filter((n) => n.startsWith('ftpfleet') && s.samples[n]?.length);
    for (const v of variants) {
      const mine = med(s, v);
      const ratio = (p: string) => (s.better === 'higher' ? mine / med(s, p) : med(s, p) / mine);
      const peerVals = peers.map((p) => med(s, p)).filter((x) => Number.isFinite(x));
      const best = peerVals.length === 0 ? NaN : s.better === 'higher' ? Math.max(...peerVals) : Math.min(...peerVals);
      const bestRatio = s.better === 'higher' ? mine / best : best / mine;
      const t = TARGETS.find((x) => x.series === s.key && x.variant === v);
      let met = '';
      if (t) {
        const value = t.maxAbs !== undefined ? mine : t.against === 'best' ? bestRatio : ratio(t.against);
        met = !Number.isFinite(value) ? 'n/a' : (t.maxAbs !== undefined ? value <= t.maxAbs : value >= t.min!) ? '**yes**' : '**no**';
      }
      md.push(`| ${s.title} | ${v} | ${peers.map((p) => (Number.isFinite(ratio(p)) ? `${fmt(ratio(p))}×` : '–')).join(' | ')} | ${Number.isFinite(bestRatio) ? `${fmt(bestRatio)}×` : '–'} | ${t?.label ?? ''} | ${met} |`);
    }
  }
  const gw = (r as { gateway?: Series[] }).gateway;
  if (gw && gw.length > 0) {
    const runs = Math.max(...gw.map((s) => (s.samples.direct ?? []).length));
    md.push('');
    md.push('### Gateway overhead');
    md.push('');
    md.push(
      `One ftpfleet node reached directly and through \`ftpfleet gateway\` in front of it (backend dataPolicy "client", plain FTP, all on 127.0.0.1); ` +
        `curl, ${runs} interleaved runs, medians. CPU per GiB: user+sys seconds of the gateway process, and of the node, per GiB moved.`,
    );
    md.push('');
    md.push('| transfer | direct MB/s | through gateway MB/s | gateway ÷ direct | gateway CPU s/GiB | node CPU s/GiB, direct | node CPU s/GiB, via gateway |');
    md.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const s of gw) {
      const m = (k: string) => median((s.samples[k] ?? []).map((x) => x.value));
      const perGiB = (k: string, cpu: (x: Sample) => number) => median((s.samples[k] ?? []).map((x) => cpu(x) / ((x.bytes ?? NaN) / 2 ** 30)));
      const gwCpu = perGiB('gateway', (x) => Number(x.extra?.gatewayCpu ?? NaN));
      md.push(
        `| ${s.title} | ${fmt(m('direct'))} | ${fmt(m('gateway'))} | ${fmt(m('gateway') / m('direct'))}× | ${fmt(gwCpu)} | ${fmt(perGiB('direct', (x) => x.serverCpu ?? NaN))} | ${fmt(perGiB('gateway', (x) => x.serverCpu ?? NaN))} |`,
      );
    }
  }
  const notes = [...res.series, ...(gw ?? [])].flatMap((s) => s.notes.map((n) => `${s.key}: ${n}`));
  if (notes.length > 0) {
    md.push('');
    md.push('Notes from this run:');
    md.push('');
    for (const n of notes) md.push(`- ${n}`);
  }
  md.push('');
  md.push(`Load average at the start of each measurement: ${Object.entries(res.load).map(([k, v]) => `${k} ${v}`).join('; ')}.`);

  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  let text = existsSync(o.out) ? readFileSync(o.out, 'utf8') : `# ftpfleet benchmark results\n\n${begin}\n${end}\n`;
  if (!text.includes(begin)) text += `\n${begin}\n${end}\n`;
  text = text.slice(0, text.indexOf(begin) + begin.length) + '\n' + md.join('\n') + '\n' + text.slice(text.indexOf(end));
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, text);
}

function relative(p: string): string {
  return p.startsWith(REPO + '/') ? p.slice(REPO.length + 1) : p;
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
