/**
 * Interop: `ftpfleet gateway` in front of FOREIGN FTP servers, on loopback.
 *
 * - vsftpd with active mode switched off (port_enable=NO: a stand-in for a
 *   passive-only service such as AWS Transfer Family). Directly, an active
 *   client fails (PORT/EPRT → 5xx); through the gateway (backend dataPolicy
 *   "passive") the same clients in active mode — curl -P (EPRT and PORT), lftp
 *   with ftp:passive-mode off, Python ftplib with set_pasv(False) — upload and
 *   download, sha256 checked, and the gateway logs each transfer as
 *   client active ⇄ backend passive. Passive clients work through it too. With
 *   dataPolicy "active" toward it, vsftpd's refusal of PORT reaches the client
 *   as a 425 at once.
 * - pyftpdlib (Debian's python3-pyftpdlib) behind the gateway with dataPolicy
 *   "passive", "client" and "active": active and passive clients, sha256 checked.
 *
 * vsftpd needs root (it authenticates a local system user through PAM and
 * chroots); the test creates the user `ftpfleet-gwt` with a fresh random
 * password under a machine-wide lock. Missing packages or no root: skipped
 * with the reason, except under CI=true, where it fails (.ci/run installs
 * vsftpd and python3-pyftpdlib).
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRandomFile, run, runPythonJson, sha256File, type RunResult } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const MiB = 1024 * 1024;
const PAYLOAD_SIZE = 3 * MiB + 4321; // an odd tail, so that truncation cannot hide
const VSFTPD = '/usr/sbin/vsftpd';
const SYSTEM_PYTHON = '/usr/bin/python3';
const SYS_USER = 'ftpfleet-gwt';
const LOCK_FILE = '/run/lock/ftpfleet-gateway-foreign.lock';
const CI = Boolean(process.env.CI) && process.env.CI !== 'false';

interface FtpUser {
  name: string;
  password: string;
}

type ClientMode = 'active' | 'passive';
type Tool = 'curl-eprt' | 'curl-port' | 'curl-pasv' | 'lftp' | 'ftplib';

/* ---------------------------------------------------------------- what can run here */

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function clientsMissing(): string | null {
  for (const tool of ['curl', 'lftp', 'python3']) if (!commandExists(tool)) return `${tool} is not installed`;
  return null;
}

function vsftpdSkipReason(): string | null {
  if (process.platform !== 'linux') return 'vsftpd runs on Linux only';
  if (process.getuid?.() !== 0) return 'vsftpd needs root (PAM login of a local user, chroot)';
  if (!existsSync(VSFTPD)) return `${VSFTPD} is not installed (apt-get install --no-install-recommends vsftpd; .ci/run does)`;
  for (const cmd of ['useradd', 'usermod', 'chpasswd', 'flock']) if (!commandExists(cmd)) return `${cmd} is not available`;
  return clientsMissing();
}

function pyftpdlibSkipReason(): string | null {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} is not installed`;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import pyftpdlib'], { encoding: 'utf8' });
  if (r.status !== 0) return `pyftpdlib is not installed for ${SYSTEM_PYTHON} (apt-get install --no-install-recommends python3-pyftpdlib; .ci/run does)`;
  return clientsMissing();
}

/** Skips with the reason; under CI=true the missing piece is a failure instead. */
function unavailable(name: string, reason: string): void {
  if (CI) {
    test(name, () => {
      throw new Error(`cannot run under CI: ${reason}`);
    });
  } else test(name, (t) => t.skip(reason));
}

/* ---------------------------------------------------------------- helpers */

/** A free TCP port on 127.0.0.1 (for servers that cannot report the one they bound). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Waits for a 220 greeting on 127.0.0.1:port. */
async function waitFor220(port: number, proc: ChildProcess, output: () => string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: '127.0.0.1', port });
      let buf = '';
      const t = setTimeout(() => (s.destroy(), res(false)), 1000);
      s.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          clearTimeout(t);
          s.end('QUIT\r\n');
          res(buf.startsWith('220'));
        }
      });
      s.on('error', () => (clearTimeout(t), res(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no 220 on port ${port} within ${ms} ms: ${output()}`);
}

async function stopProcess(proc: ChildProcess | null): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
  if (!done) {
    proc.kill('SIGKILL');
    await exited;
  }
}

/**
 * 50 passive ports picked at random in [base, base + 500): vsftpd's in
 * 19000-19499, pyftpdlib's in 19500-19999 (nodes use 20000-59999, gateways 60000-64999).
 */
function randomRange(base: 19000 | 19500): [number, number] {
  const min = base + Math.floor(Math.random() * 10) * 50;
  return [min, min + 49];
}

/**
 * Machine-wide lock while the local system user's password is ours
 * (another run of this file would set another). Released at exit.
 */
function acquireLock(timeoutS: number): Promise<() => void> {
  mkdirSync('/run/lock', { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-w', String(timeoutS), LOCK_FILE, '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let settled = false;
    child.stdin.on('error', () => {});
    child.stdout.on('data', (d: Buffer) => {
      if (settled || !d.toString().includes('locked')) return;
      settled = true;
      child.unref();
      (child.stdin as unknown as { unref(): void }).unref();
      child.stdout.destroy();
      resolve(() => child.stdin.end());
    });
    child.on('error', (err) => !settled && ((settled = true), reject(err)));
    child.on('exit', (code) => !settled && ((settled = true), reject(new Error(`lock ${LOCK_FILE} not taken within ${timeoutS} s (flock exit ${code})`))));
  });
}

/* ---------------------------------------------------------------- clients */

interface Transfer {
  ok: boolean;
  /** sha256 of what came back (download), or null. */
  sha: string | null;
  log: string;
  /** Replies to the data-connection commands, in order (e.g. "550 Permission denied."). */
  dataReplies: string[];
}

const CURL_ARGS: Record<string, string[]> = {
  'curl-eprt': ['-P', '127.0.0.1'],
  'curl-port': ['-P', '-', '--disable-eprt'],
  'curl-pasv': ['--ftp-pasv'],
};

function dataReplies(log: string, sentPrefix: string, replyPrefix: string): string[] {
  const lines = log.replace(/\r/g, '').split('\n');
  const out: string[] = [];
  let want = false;
  for (const line of lines) {
    if (new RegExp(`^${sentPrefix}(PORT|EPRT|PASV|EPSV)\\b`, 'i').test(line)) {
      want = true;
      continue;
    }
    const m = new RegExp(`^${replyPrefix}(\\d{3} .*)$`).exec(line);
    if (want && m) {
      out.push(m[1]!);
      want = false;
    }
  }
  return out;
}

async function curlRound(tool: Tool, port: number, user: FtpUser, local: string, remote: string, back: string): Promise<Transfer> {
  const base = ['-sS', '-v', '--connect-timeout', '5', '--max-time', '30', ...CURL_ARGS[tool]!];
  const url = `ftp://${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@127.0.0.1:${port}/${remote}`;
  const up = await run('curl', [...base, '-T', local, url], { timeoutMs: 45_000 });
  let log = up.stderr;
  if (up.code !== 0) return { ok: false, sha: null, log, dataReplies: dataReplies(log, '> ', '< ') };
  rmSync(back, { force: true });
  const down = await run('curl', [...base, '-o', back, url], { timeoutMs: 45_000 });
  log += down.stderr;
  const ok = down.code === 0 && existsSync(back);
  return { ok, sha: ok ? await sha256File(back) : null, log, dataReplies: dataReplies(log, '> ', '< ') };
}

async function lftpRound(mode: ClientMode, port: number, user: FtpUser, local: string, remote: string, back: string, work: string): Promise<Transfer> {
  const debugLog = join(work, `${remote}.lftp.log`);
  rmSync(debugLog, { force: true });
  rmSync(back, { force: true });
  const script = [
    'set cmd:fail-exit yes; set net:timeout 5; set net:max-retries 1; set net:reconnect-interval-base 1;',
    'set ftp:ssl-allow no; set ftp:auto-passive-mode no; set ftp:fix-pasv-address no; set xfer:clobber on;',
    `set ftp:passive-mode ${mode === 'active' ? 'off' : 'on'};`,
    `debug -o ${debugLog} 9;`,
    `open -u ${user.name},${user.password} ftp://127.0.0.1:${port};`,
    `put ${local} -o ${remote};`,
    `get ${remote} -o ${back};`,
    'bye',
  ].join('\n');
  const r: RunResult = await run('lftp', ['-c', script], { timeoutMs: 45_000 });
  const log = (existsSync(debugLog) ? readFileSync(debugLog, 'utf8') : '') + r.stdout + r.stderr;
  const ok = r.code === 0 && existsSync(back);
  return { ok, sha: ok ? await sha256File(back) : null, log, dataReplies: dataReplies(log, '---> ', '<--- ') };
}

const FTPLIB = String.raw`
import ftplib, hashlib, json, sys
port, user, password, mode, local, remote = sys.argv[1:7]
DATA = ('PORT', 'EPRT', 'PASV', 'EPSV')
out = {"ok": False, "sha": None, "error": None, "dataReplies": []}

class LoggingFTP(ftplib.FTP):
    """Records the reply to every data-connection command."""
    last = None
    def putcmd(self, line):
        self.last = line.split(' ')[0].upper()
        super().putcmd(line)
    def getmultiline(self):
        line = super().getmultiline()
        if self.last in DATA:
            out["dataReplies"].append(line)
        self.last = None
        return line

ftp = LoggingFTP(timeout=30)
try:
    ftp.connect('127.0.0.1', int(port))
    ftp.login(user, password)
    ftp.set_pasv(mode == 'passive')
    with open(local, 'rb') as f:
        ftp.storbinary('STOR ' + remote, f)
    h = hashlib.sha256()
    ftp.retrbinary('RETR ' + remote, h.update)
    out["sha"] = h.hexdigest()
    out["ok"] = True
    ftp.quit()
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out))
`;

async function ftplibRound(mode: ClientMode, port: number, user: FtpUser, local: string, remote: string, work: string): Promise<Transfer> {
  const r = await runPythonJson(join(work, 'ftplib_round.py'), FTPLIB, [String(port), user.name, user.password, mode, local, remote], 60_000);
  return { ok: r.ok, sha: r.sha, log: r.error ?? '', dataReplies: r.dataReplies };
}

/** One upload + download with `tool` in `mode`; what the client saw. */
function round(tool: Tool, mode: ClientMode, port: number, user: FtpUser, local: string, remote: string, work: string): Promise<Transfer> {
  const back = join(work, `${remote}.back`);
  if (tool === 'lftp') return lftpRound(mode, port, user, local, remote, back, work);
  if (tool === 'ftplib') return ftplibRound(mode, port, user, local, remote, work);
  return curlRound(tool, port, user, local, remote, back);
}

const ACTIVE_TOOLS: Tool[] = ['curl-eprt', 'curl-port', 'lftp', 'ftplib'];
const PASSIVE_TOOLS: Tool[] = ['curl-pasv', 'lftp', 'ftplib'];

/** Gateway transfer log lines since `from`. */
function transfersSince(gw: TestGateway, from: number): Array<Record<string, any>> {
  return gw.logs.slice(from).filter((l) => l.msg === 'transfer');
}

async function throughGateway(
  gw: TestGateway,
  tool: Tool,
  mode: ClientMode,
  user: FtpUser,
  payload: string,
  payloadSha: string,
  work: string,
  expectBackendMode: ClientMode,
  remote: string,
): Promise<void> {
  const seen = gw.logs.length;
  const r = await round(tool, mode, gw.port, user, payload, remote, work);
  assert.ok(r.ok, `${tool} (${mode}) through the gateway failed:\n${r.log.slice(-3000)}`);
  assert.equal(r.sha, payloadSha, `${tool} (${mode}): downloaded bytes differ`);
  if (mode === 'active') assert.ok(r.dataReplies.length >= 2 && r.dataReplies.every((x) => x.startsWith('200')), `${tool}: PORT/EPRT replies ${JSON.stringify(r.dataReplies)}`);
  // The gateway's own account of it: two transfers (STOR, RETR), client leg as asked, backend leg by policy.
  let transfers: Array<Record<string, any>> = [];
  for (let i = 0; i < 100 && transfers.length < 2; i++) {
    transfers = transfersSince(gw, seen);
    if (transfers.length < 2) await new Promise((res) => setTimeout(res, 20));
  }
  const mine = transfers.filter((l) => l.command === 'STOR' || l.command === 'RETR');
  assert.equal(mine.length, 2, `gateway transfer logs: ${JSON.stringify(transfers)}`);
  for (const t of mine) {
    assert.equal(t.clientMode, mode, JSON.stringify(t));
    assert.equal(t.backendMode, expectBackendMode, JSON.stringify(t));
    assert.equal(t.result, 'ok', JSON.stringify(t));
    assert.equal(t.bytes, PAYLOAD_SIZE, JSON.stringify(t));
  }
}

/* ---------------------------------------------------------------- vsftpd, passive only */

const VSFTPD_SUITE = 'gateway in front of vsftpd with active mode disabled (port_enable=NO)';
const vsSkip = vsftpdSkipReason();

if (vsSkip !== null) unavailable(VSFTPD_SUITE, vsSkip);
else
  describe(VSFTPD_SUITE, { timeout: 180_000 }, () => {
    let work: string;
    let root: string;
    let payload: string;
    let payloadSha: string;
    let vsftpd: ChildProcess | null = null;
    let vsPort = 0;
    let vsOutput = '';
    let gw: TestGateway | null = null;
    /** The same backend with dataPolicy "active": what the gateway does when the backend refuses PORT. */
    let gwActive: TestGateway | null = null;
    let release: (() => void) | null = null;
    const user: FtpUser = { name: SYS_USER, password: randomBytes(12).toString('base64url') };

    before(async () => {
      release = await acquireLock(300);
      work = mkdtempSync(join(tmpdir(), 'ftpfleet-gwforeign-vs-'));
      // vsftpd changes to the user's home as that user: every directory on the way must be searchable.
      chmodSync(work, 0o755);
      root = join(work, 'root');
      mkdirSync(root);
      const hasUser = spawnSync('getent', ['passwd', SYS_USER]).status === 0;
      const userArgs = ['--home', root, '--shell', '/bin/bash'];
      const u = hasUser ? spawnSync('usermod', [...userArgs, SYS_USER]) : spawnSync('useradd', ['--no-create-home', ...userArgs, '--comment', 'ftpfleet gateway interop test', SYS_USER]);
      assert.equal(u.status, 0, `useradd/usermod ${SYS_USER}: ${u.stderr}`);
      const pw = spawnSync('chpasswd', [], { input: `${SYS_USER}:${user.password}\n` });
      assert.equal(pw.status, 0, `chpasswd: ${pw.stderr}`);
      const uid = Number(spawnSync('id', ['-u', SYS_USER], { encoding: 'utf8' }).stdout.trim());
      const gid = Number(spawnSync('id', ['-g', SYS_USER], { encoding: 'utf8' }).stdout.trim());
      chownSync(root, uid, gid);
      mkdirSync('/var/run/vsftpd/empty', { recursive: true });
      payload = join(work, 'payload.bin');
      makeRandomFile(payload, PAYLOAD_SIZE);
      payloadSha = await sha256File(payload);

      vsPort = await freePort();
      const [pmin, pmax] = randomRange(19000);
      const conf = join(work, 'vsftpd.conf');
      writeFileSync(
        conf,
        [
          'listen=YES',
          'listen_ipv6=NO',
          'listen_address=127.0.0.1',
          `listen_port=${vsPort}`,
          'background=NO',
          'anonymous_enable=NO',
          'local_enable=YES',
          'write_enable=YES',
          'local_umask=022',
          `local_root=${root}`,
          'chroot_local_user=YES',
          'allow_writeable_chroot=YES',
          'pam_service_name=vsftpd',
          'secure_chroot_dir=/var/run/vsftpd/empty',
          'pasv_enable=YES',
          `pasv_min_port=${pmin}`,
          `pasv_max_port=${pmax}`,
          // passive only, as AWS Transfer Family and many managed services are
          'port_enable=NO',
          'connect_from_port_20=NO',
          'max_per_ip=0',
          // its own log format (xferlog_std_format=NO): one "OK UPLOAD"/"OK DOWNLOAD" line per transfer
          'xferlog_enable=YES',
          `vsftpd_log_file=${join(work, 'vsftpd.log')}`,
          'ssl_enable=NO',
          '',
        ].join('\n'),
      );
      vsftpd = spawn(VSFTPD, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      vsftpd.stdout!.on('data', (d) => (vsOutput += d));
      vsftpd.stderr!.on('data', (d) => (vsOutput += d));
      await waitFor220(vsPort, vsftpd, () => vsOutput);
      gw = await startGateway([{ name: 'vsftpd-passive-only', port: vsPort, dataPolicy: 'passive' }]);
      gwActive = await startGateway([{ name: 'vsftpd-passive-only', port: vsPort, dataPolicy: 'active' }]);
    });

    after(async () => {
      await gw?.stop();
      await gwActive?.stop();
      await stopProcess(vsftpd);
      // Nobody knows the password afterwards; lock the account too.
      spawnSync('usermod', ['--lock', SYS_USER]);
      release?.();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('refuses active mode when reached directly (curl -P, ftplib set_pasv(False))', async () => {
      for (const tool of ['curl-eprt', 'curl-port', 'ftplib'] as const) {
        const r = await round(tool, 'active', vsPort, user, payload, `direct-${tool}.bin`, work);
        assert.equal(r.ok, false, `${tool} in active mode unexpectedly worked directly against vsftpd`);
        assert.ok(r.dataReplies.length > 0, `${tool}: no reply to PORT/EPRT seen:\n${r.log.slice(-2000)}`);
        assert.match(r.dataReplies[0]!, /^[45]\d\d /, `${tool}: ${JSON.stringify(r.dataReplies)}`);
      }
      // and passive works directly (the server itself is fine)
      const p = await round('curl-pasv', 'passive', vsPort, user, payload, 'direct-pasv.bin', work);
      assert.ok(p.ok, p.log.slice(-2000));
      assert.equal(p.sha, payloadSha);
    });

    for (const tool of ACTIVE_TOOLS) {
      it(`active ${tool} through the gateway: upload + download, sha256 (backend leg passive)`, async () => {
        await throughGateway(gw!, tool, 'active', user, payload, payloadSha, work, 'passive', `gw-active-${tool}.bin`);
        // what vsftpd stored is what was sent
        assert.equal(await sha256File(join(root, `gw-active-${tool}.bin`)), payloadSha);
      });
    }

    for (const tool of PASSIVE_TOOLS) {
      it(`passive ${tool} through the gateway: upload + download, sha256`, async () => {
        await throughGateway(gw!, tool, 'passive', user, payload, payloadSha, work, 'passive', `gw-passive-${tool}.bin`);
      });
    }

    it('dataPolicy active toward it: the backend refusing PORT reaches the client as a 425, no hang', async () => {
      for (const [tool, mode] of [['ftplib', 'passive'], ['ftplib', 'active'], ['curl-pasv', 'passive']] as Array<[Tool, ClientMode]>) {
        const started = Date.now();
        const r = await round(tool, mode, gwActive!.port, user, payload, `gw-policy-active-${tool}.bin`, work);
        assert.equal(r.ok, false, `${tool} (${mode}) worked although the backend allows no active mode`);
        assert.match(r.dataReplies[0] ?? '', /^425 .*refused a data connection \(550 /, `${tool} (${mode}): ${JSON.stringify(r.dataReplies)}\n${r.log.slice(-1500)}`);
        assert.ok(Date.now() - started < 10_000, 'the refusal took too long');
      }
      assert.ok(!existsSync(join(root, 'gw-policy-active-ftplib.bin')));
    });

    it("vsftpd's log has every transfer that reached it (all passive: it allows no other)", () => {
      const xfer = readFileSync(join(work, 'vsftpd.log'), 'utf8').split('\n').filter((l) => /OK (UPLOAD|DOWNLOAD):/.test(l));
      // 2 (direct passive) + 2 per tool through the gateway
      assert.equal(xfer.length, 2 + 2 * (ACTIVE_TOOLS.length + PASSIVE_TOOLS.length), xfer.join('\n'));
    });
  });

/* ---------------------------------------------------------------- pyftpdlib */

const PYFTPDLIB_SERVER = String.raw`
import json, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, pmin, pmax, user, password = sys.argv[1:6]
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")
handler = FTPHandler
handler.authorizer = authorizer
handler.passive_ports = range(int(pmin), int(pmax) + 1)
handler.banner = "pyftpdlib ready"
server = FTPServer(("127.0.0.1", 0), handler)
print(json.dumps({"port": server.socket.getsockname()[1]}), flush=True)
server.serve_forever()
`;

const PY_SUITE = 'gateway in front of pyftpdlib';
const pySkip = pyftpdlibSkipReason();

if (pySkip !== null) unavailable(PY_SUITE, pySkip);
else
  describe(PY_SUITE, { timeout: 180_000 }, () => {
    let work: string;
    let root: string;
    let payload: string;
    let payloadSha: string;
    let py: ChildProcess | null = null;
    let pyPort = 0;
    let pyOutput = '';
    const gateways: Partial<Record<'passive' | 'client' | 'active', TestGateway>> = {};
    const user: FtpUser = { name: 'pyuser', password: randomBytes(9).toString('base64url') };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'ftpfleet-gwforeign-py-'));
      root = join(work, 'root');
      mkdirSync(root);
      payload = join(work, 'payload.bin');
      makeRandomFile(payload, PAYLOAD_SIZE);
      payloadSha = await sha256File(payload);
      const script = join(work, 'pyftpdlib_server.py');
      writeFileSync(script, PYFTPDLIB_SERVER);
      const [pmin, pmax] = randomRange(19500);
      py = spawn(SYSTEM_PYTHON, [script, root, String(pmin), String(pmax), user.name, user.password], { stdio: ['ignore', 'pipe', 'pipe'] });
      py.stderr!.on('data', (d) => (pyOutput += d));
      pyPort = await new Promise<number>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`pyftpdlib did not start: ${pyOutput}`)), 15_000);
        py!.stdout!.on('data', (d) => {
          out += d;
          const m = /\{"port": (\d+)\}/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
        py!.once('exit', (code) => reject(new Error(`pyftpdlib exited (${code}): ${pyOutput}`)));
      });
      await waitFor220(pyPort, py, () => pyOutput);
      gateways.passive = await startGateway([{ name: 'pyftpdlib', port: pyPort, dataPolicy: 'passive' }]);
      gateways.client = await startGateway([{ name: 'pyftpdlib', port: pyPort, dataPolicy: 'client' }]);
      gateways.active = await startGateway([{ name: 'pyftpdlib', port: pyPort, dataPolicy: 'active' }]);
    });

    after(async () => {
      for (const gw of Object.values(gateways)) await gw?.stop();
      await stopProcess(py);
      if (work) rmSync(work, { recursive: true, force: true });
    });

    for (const policy of ['passive', 'client', 'active'] as const) {
      const cases: Array<[Tool, ClientMode]> = [
        ...ACTIVE_TOOLS.map((t) => [t, 'active'] as [Tool, ClientMode]),
        ...PASSIVE_TOOLS.map((t) => [t, 'passive'] as [Tool, ClientMode]),
      ];
      for (const [tool, mode] of cases) {
        const backendMode: ClientMode = policy === 'client' ? mode : policy;
        it(`dataPolicy ${policy}: ${mode} ${tool} upload + download, sha256 (backend leg ${backendMode})`, async () => {
          const remote = `gw-${policy}-${mode}-${tool}.bin`;
          await throughGateway(gateways[policy]!, tool, mode, user, payload, payloadSha, work, backendMode, remote);
          assert.equal(await sha256File(join(root, remote)), payloadSha);
        });
      }
    }
  });
