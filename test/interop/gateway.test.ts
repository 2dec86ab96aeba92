/**
 * The gateway in front of real ftpfleet nodes: every client data mode ×
 * every backend data policy (curl, sha256-checked), client-side FTPS
 * (explicit and implicit), TLS and PROXY v2 toward the backend, balancing
 * strategies, a backend killed mid-session (421, never a hang), a backend
 * drained by config (SIGHUP) without cutting its sessions, health ejection,
 * ABOR, and 200 concurrent sessions over 3 backends.
 *
 * The nodes share one storage directory, as nodes sharing an S3 bucket do,
 * so a file uploaded through one backend can be read through another.
 * Only loopback is contacted; 127.0.0.x source addresses play different clients.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRandomFile, run, runPythonJson, sha256File, eventually } from '../helpers/clients.js';
import { startGateway, type GatewayBackend, type TestGateway } from '../helpers/gateway.js';
import { ALICE, startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { RawClient } from '../helpers/rawClient.js';

const BOB: TestUser = { name: 'bob', password: 'bob-secret' };

let tmp: string;
let shared: string;
let file: string;
let fileSha: string;
const nodes: TestServer[] = [];
const gateways: TestGateway[] = [];

/** A node storing under the shared directory; many sessions from the gateway's one address. */
async function node(extra: Record<string, any> = {}, pasvSize = 50): Promise<TestServer> {
  const srv = await startServer({
    users: [ALICE, BOB],
    pasvSize,
    config: {
      storage: { local: { root: shared, fsync: false } },
      limits: { maxSessionsPerAddress: 1000, maxUnauthenticated: 1000 },
      ...extra,
    },
  });
  nodes.push(srv);
  return srv;
}

async function gateway(backends: GatewayBackend[], extra: Record<string, any> = {}, pasvSize = 100): Promise<TestGateway> {
  const gw = await startGateway(backends, merge({ limits: { maxSessionsPerAddress: 1000, maxUnauthenticated: 1000, defender: { enabled: false } } }, extra), pasvSize);
  gateways.push(gw);
  return gw;
}

function merge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? merge(a[k], v) : v;
  return out;
}

async function curl(args: string[]): Promise<void> {
  const r = await run('curl', ['-sS', '--max-time', '60', ...args], { timeoutMs: 70_000 });
  assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
}

/** Uploads then downloads through the gateway with curl, checking the bytes. */
async function roundTrip(gw: TestGateway, name: string, mode: string[], tls: string[] = []): Promise<void> {
  const back = join(tmp, `${name}.back`);
  await curl([...tls, ...mode, '-T', file, `${gw.url()}/${name}`]);
  await curl([...tls, ...mode, '-o', back, `${gw.url()}/${name}`]);
  assert.equal(await sha256File(back), fileSha, `${name}: downloaded bytes differ`);
  assert.equal(await sha256File(join(shared, name)), fileSha, `${name}: stored bytes differ`);
}

const ACTIVE = ['-P', '127.0.0.1'];
const PASSIVE: string[] = [];

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-gw-test-'));
  shared = join(tmp, 'shared');
  mkdirSync(shared);
  file = join(tmp, 'payload.bin');
  makeRandomFile(file, 3 * 1024 * 1024 + 17);
  fileSha = await sha256File(file);
});

after(async () => {
  for (const g of gateways) await g.stop('SIGKILL');
  for (const n of nodes) await n.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('gateway: data modes (client mode x backend policy)', { timeout: 180_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    const n = await node();
    const n2 = await node();
    const n3 = await node();
    gw = await gateway(
      [
        { name: 'as-client', port: n.port, dataPolicy: 'client', group: 'client' },
        { name: 'passive', port: n2.port, dataPolicy: 'passive', group: 'passive' },
        { name: 'active', port: n3.port, dataPolicy: 'active', group: 'active' },
      ],
      // One user per policy, so each request lands on the backend under test.
      { balance: { strategy: 'user', users: { alice: 'client' } } },
    );
  });

  for (const policy of ['client', 'passive', 'active'] as const) {
    for (const [modeName, mode] of [
      ['passive', PASSIVE],
      ['active', ACTIVE],
    ] as const) {
      test(`client ${modeName} -> backend policy ${policy}: upload and download, same sha256`, async () => {
        await gw.reload({ balance: { strategy: 'user', users: { alice: policy } } });
        const name = `mode-${modeName}-${policy}.bin`;
        await roundTrip(gw, name, [...mode]);
        const t = await eventually(() => gw.logs.filter((l) => l.msg === 'transfer' && l.command === 'RETR').at(-1));
        assert.equal(t?.clientMode, modeName);
        assert.equal(t?.backendMode, policy === 'client' ? modeName : policy);
        assert.equal(t?.result, 'ok');
      });
    }
  }

  test('LIST, NLST and MLSD through the gateway; an error reply (550) is relayed as is', async () => {
    await gw.reload({ balance: { strategy: 'user', users: { alice: 'passive' } } });
    const r = await runPythonJson(
      join(tmp, 'listing.py'),
      `
import ftplib, json, sys
ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
ftp.set_pasv(False)
names = ftp.nlst()
lines = []; ftp.retrlines('LIST', lines.append)
facts = [n for n, f in ftp.mlsd()]
try:
    ftp.retrbinary('RETR missing.bin', lambda b: None); missing = 'ok'
except ftplib.error_perm as e:
    missing = str(e)
ftp.quit()
print(json.dumps({'names': names, 'lines': len(lines), 'mlsd': facts, 'missing': missing}))
`,
      [String(gw.port), ALICE.name, ALICE.password],
    );
    assert.ok(r.names.includes('mode-passive-client.bin'), JSON.stringify(r.names));
    assert.ok(r.lines >= r.names.length);
    assert.ok(r.mlsd.includes('mode-active-active.bin'));
    assert.match(r.missing, /^550/);
  });

  test('ABOR during a download through the gateway: 426 then 226, and the session goes on', async () => {
    const big = join(shared, 'big.bin');
    makeRandomFile(big, 64 * 1024 * 1024);
    const r = await runPythonJson(
      join(tmp, 'abor.py'),
      `
import ftplib, json, sys
ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
conn = ftp.transfercmd('RETR big.bin')
conn.recv(65536)
resp = ftp.abort()
conn.close()
try:
    after = ftp.getresp()
except ftplib.all_errors as e:
    after = str(e)
noop = ftp.voidcmd('NOOP')
size = ftp.size('big.bin')
ftp.quit()
print(json.dumps({'abort': resp, 'after': after, 'noop': noop, 'size': size}))
`,
      [String(gw.port), ALICE.name, ALICE.password],
    );
    const codes = [r.abort.slice(0, 3), String(r.after).slice(0, 3)];
    assert.ok(codes.includes('226') || codes.includes('225'), JSON.stringify(r));
    assert.match(r.noop, /^200/);
    assert.equal(r.size, 64 * 1024 * 1024);
  });
});

describe('gateway: FTPS toward clients and backends, PROXY v2 to backends', { timeout: 180_000 }, () => {
  let gw: TestGateway;
  let tlsNode: TestServer;
  before(async () => {
    tlsNode = await node({
      proxyProtocol: { control: 'required', trustedNetworks: ['127.0.0.0/8'] },
      tls: { policy: 'data' },
    });
    gw = await gateway([{ name: 'tls', port: tlsNode.port, tls: 'explicit', proxyProtocol: true, dataPolicy: 'passive' }], { tls: { implicitPort: 0 } });
  });

  test('curl with --ssl-reqd (explicit FTPS, passive); the backend leg is TLS with session reuse', async () => {
    await roundTrip(gw, 'ftps-passive.bin', PASSIVE, ['-k', '--ssl-reqd']);
    // The node requires PROT P (policy data) and TLS session reuse: its transfer succeeding proves both.
    const t = await tlsNode.waitForLog((l) => l.msg === 'transfer' && l.path === '/ftps-passive.bin' && l.direction === 'download');
    assert.equal(t.result, 'ok');
  });

  test('lftp with ssl-force and protected data in active mode', async () => {
    const back = join(tmp, 'lftp-active.back');
    const r = await run(
      'lftp',
      [
        '-c',
        [
          'set ftp:passive-mode off',
          'set ssl:verify-certificate no',
          'set ftp:ssl-force true',
          'set ftp:ssl-protect-data true',
          'set net:max-retries 1',
          `open -u ${ALICE.name},${ALICE.password} -p ${gw.port} 127.0.0.1`,
          `put ${file} -o lftp-active.bin`,
          `get lftp-active.bin -o ${back}`,
        ].join('; '),
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(back), fileSha);
  });

  test('implicit FTPS (ftps://) through the gateway', async () => {
    const port = gw.logs.find((l) => l.msg === 'gateway listening' && l.implicitTls)!.port;
    const back = join(tmp, 'implicit.back');
    await curl(['-k', '-T', file, `ftps://${ALICE.name}:${ALICE.password}@127.0.0.1:${port}/implicit.bin`]);
    await curl(['-k', '-o', back, `ftps://${ALICE.name}:${ALICE.password}@127.0.0.1:${port}/implicit.bin`]);
    assert.equal(await sha256File(back), fileSha);
  });

  test('the backend sees the gateway session through PROXY v2: same session id on both', async () => {
    const viaGateway = await run('curl', ['-sS', '-k', '--ssl-reqd', `${gw.url()}/`], { timeoutMs: 30_000 });
    assert.equal(viaGateway.code, 0, viaGateway.stderr);
    const connected = gw.logs.filter((l) => l.msg === 'backend connected').at(-1)!;
    const opened = await tlsNode.waitForLog((l) => l.msg === 'session opened' && l.session === connected.session);
    assert.equal(opened.session, connected.session);
  });

  test('TLS policy: USER before AUTH TLS is refused when tls.policy is login', async () => {
    const strict = await gateway([{ name: 'n', port: tlsNode.port, tls: 'explicit', proxyProtocol: true }], { tls: { policy: 'login' } });
    const c = await RawClient.connect(strict.port);
    await c.read();
    const r = await c.cmd('USER alice');
    assert.equal(r.code, 530);
    c.close();
  });
});

describe('gateway: balancing, health, drain and failures', { timeout: 240_000 }, () => {
  test('source-hash keeps a client address on one backend; round-robin spreads sessions', async () => {
    const a = await node();
    const b = await node();
    const gw = await gateway(
      [
        { name: 'a', port: a.port },
        { name: 'b', port: b.port },
      ],
      { balance: { strategy: 'source-hash' } },
    );
    const backendOf = async (from: string) => {
      const c = await RawClient.connect(gw.port, '127.0.0.1', from);
      await c.login(ALICE.name, ALICE.password);
      await c.cmd('QUIT');
      c.close();
      return (await eventually(() => gw.logs.filter((l) => l.msg === 'backend connected').at(-1)))!.backend as string;
    };
    const picks = new Map<string, Set<string>>();
    for (const from of ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16']) {
      for (let i = 0; i < 3; i++) {
        const set = picks.get(from) ?? new Set();
        set.add(await backendOf(from));
        picks.set(from, set);
      }
    }
    for (const [from, set] of picks) assert.equal(set.size, 1, `${from} went to ${[...set]}`);
    await gw.reload({ balance: { strategy: 'round-robin' } });
    const rr = new Set<string>();
    for (let i = 0; i < 4; i++) rr.add(await backendOf('127.0.0.11'));
    assert.deepEqual([...rr].sort(), ['a', 'b']);
  });

  test('by user: a pinned user always reaches its group', async () => {
    const a = await node();
    const b = await node();
    const gw = await gateway(
      [
        { name: 'a', port: a.port, group: 'default' },
        { name: 'b', port: b.port, group: 'devices' },
      ],
      { balance: { strategy: 'user', users: { bob: 'devices' } } },
    );
    for (const [user, want] of [
      [BOB, 'b'],
      [ALICE, 'a'],
      [BOB, 'b'],
    ] as const) {
      await curl([`${gw.url(user)}/`]);
      const last = await eventually(() => gw.logs.filter((l) => l.msg === 'logged in').at(-1));
      assert.equal(last?.backend, want, `${user.name}`);
      gw.logs.length = 0;
    }
  });

  test('a backend killed mid-session: the client gets 421 at its next command; new sessions go to the other backend', async () => {
    const victim = await node();
    const other = await node();
    const gw = await gateway(
      [
        { name: 'victim', port: victim.port },
        { name: 'other', port: other.port },
      ],
      { balance: { strategy: 'round-robin' } },
    );
    const clients: RawClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await RawClient.connect(gw.port);
      await c.login(ALICE.name, ALICE.password);
      clients.push(c);
    }
    const onVictim = gw.logs.filter((l) => l.msg === 'logged in').findIndex((l) => l.backend === 'victim');
    assert.ok(onVictim >= 0);
    await victim.stop('SIGKILL');
    const lost = await gw.waitForLog((l) => l.msg === 'backend lost' && l.backend === 'victim');
    assert.ok(lost);
    const r = await clients[onVictim]!.read(5000);
    assert.equal(r.code, 421, r.text);
    assert.equal((await clients[1 - onVictim]!.cmd('NOOP')).code, 200);
    for (const c of clients) c.close();
    await gw.waitForLog((l) => l.msg === 'backend ejected' && l.backend === 'victim', 15_000);
    for (let i = 0; i < 3; i++) await curl([`${gw.url()}/`]);
    const since = gw.logs.filter((l) => l.msg === 'logged in').slice(-3);
    assert.deepEqual(
      since.map((l) => l.backend),
      ['other', 'other', 'other'],
    );
    const status = await (await fetch(`http://127.0.0.1:${gw.opsPort}/readyz`)).json();
    assert.equal(status.ready, true);
  });

  test('a backend killed during a download: the client gets an error reply or a cut connection, never a hang', async () => {
    const victim = await node();
    makeRandomFile(join(shared, 'huge.bin'), 64 * 1024 * 1024);
    const gw = await gateway([{ name: 'victim', port: victim.port }]);
    const download = run('curl', ['-sS', '--max-time', '60', '--limit-rate', '2M', '-o', '/dev/null', `${gw.url()}/huge.bin`], { timeoutMs: 70_000 });
    await gw.waitForLog((l) => l.msg === 'logged in');
    await new Promise((r) => setTimeout(r, 500));
    await victim.stop('SIGKILL');
    const r = await download;
    assert.notEqual(r.code, 0, 'the download cannot have completed');
    assert.notEqual(r.code, 28, `curl timed out instead of being told: ${r.stderr}`);
  });

  test('draining a backend by config (SIGHUP): its running session goes on, new sessions go elsewhere', async () => {
    const a = await node();
    const b = await node();
    const backends = [
      { name: 'a', port: a.port },
      { name: 'b', port: b.port },
    ];
    const gw = await gateway(backends, { balance: { strategy: 'round-robin' } });
    const c = await RawClient.connect(gw.port);
    await c.login(ALICE.name, ALICE.password);
    const first = (await eventually(() => gw.logs.find((l) => l.msg === 'logged in')))!.backend as string;
    await gw.reload({ backends: backends.map((x) => ({ ...x, host: '127.0.0.1', drain: x.name === first })) });
    assert.equal((await c.cmd('NOOP')).code, 200, 'the drained backend keeps its session');
    assert.equal((await c.cmd('TYPE I')).code, 200);
    const size = await c.cmd('SIZE mode-passive-client.bin');
    assert.ok(size.code === 213 || size.code === 550, size.text);
    c.close();
    gw.logs.length = 0;
    for (let i = 0; i < 4; i++) await curl([`${gw.url()}/`]);
    const picked = gw.logs.filter((l) => l.msg === 'logged in').map((l) => l.backend);
    assert.equal(picked.length, 4);
    assert.ok(picked.every((x) => x !== first), `new sessions went to ${picked}`);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.opsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`ftpfleet_gateway_backend_up\\{[^}]*backend="${first}"[^}]*draining="true"`));
  });

  test("health by the node's /readyz: a node drained through its admin API is ejected", async () => {
    const token = 'gateway-test-admin-token';
    const a = await node({ ops: { port: 0, adminToken: token }, shutdown: { grace: 30 } });
    const b = await node();
    const opsOf = (srv: TestServer) => srv.logs.find((l) => l.msg === 'ops listening')!.port as number;
    const gw = await gateway(
      [
        { name: 'a', port: a.port, health: { check: 'readyz', url: `http://127.0.0.1:${opsOf(a)}/readyz` } },
        { name: 'b', port: b.port },
      ],
      { balance: { strategy: 'round-robin' } },
    );
    // A session on "a" that stays open keeps the drained node's process (and /readyz 503) alive.
    const held = await RawClient.connect(a.port);
    await held.login(ALICE.name, ALICE.password);
    const res = await fetch(`http://127.0.0.1:${opsOf(a)}/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 202);
    await gw.waitForLog((l) => l.msg === 'backend ejected' && l.backend === 'a', 15_000);
    gw.logs.length = 0;
    for (let i = 0; i < 3; i++) await curl([`${gw.url()}/`]);
    assert.deepEqual(
      gw.logs.filter((l) => l.msg === 'logged in').map((l) => l.backend),
      ['b', 'b', 'b'],
    );
    held.close();
  });

  test('no backend up: 421 at USER and /readyz 503', async () => {
    const gw = await gateway([{ name: 'nothing', port: 1 }]);
    const c = await RawClient.connect(gw.port);
    assert.equal((await c.read()).code, 220);
    const r = await c.cmd('USER alice');
    assert.equal(r.code, 421, r.text);
    c.close();
    const res = await fetch(`http://127.0.0.1:${gw.opsPort}/readyz`);
    assert.equal(res.status, 503);
  });

  test('200 concurrent sessions over 3 backends, each uploading and reading back its own file', async () => {
    const backends = [];
    for (let i = 0; i < 3; i++) backends.push({ name: `n${i}`, port: (await node({}, 150)).port });
    // Every session holds a gateway port at once (a passive listener for its client or its backend).
    const gw = await gateway(backends, { balance: { strategy: 'least-connections' } }, 400);
    const r = await runPythonJson(
      join(tmp, 'many.py'),
      `
import ftplib, hashlib, io, json, os, sys, threading
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ok = []; errors = []
barrier = threading.Barrier(200)
def one(i):
    try:
        data = os.urandom(4096 + i)
        ftp = ftplib.FTP(timeout=60); ftp.connect('127.0.0.1', port); ftp.login(user, pw)
        barrier.wait(timeout=60)
        if i % 2: ftp.set_pasv(False)
        ftp.storbinary('STOR many-%d.bin' % i, io.BytesIO(data))
        got = io.BytesIO(); ftp.retrbinary('RETR many-%d.bin' % i, got.write)
        ftp.quit()
        if got.getvalue() == data: ok.append(i)
        else: errors.append('%d: bytes differ' % i)
    except Exception as e:
        errors.append('%d: %r' % (i, e))
threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({'ok': len(ok), 'errors': errors[:5]}))
`,
      [String(gw.port), ALICE.name, ALICE.password],
      180_000,
    );
    assert.equal(r.ok, 200, JSON.stringify(r.errors));
    const perBackend = new Map<string, number>();
    for (const l of gw.logs.filter((x) => x.msg === 'logged in')) perBackend.set(l.backend, (perBackend.get(l.backend) ?? 0) + 1);
    assert.equal(perBackend.size, 3, JSON.stringify([...perBackend]));
    // All 200 were logged in at once (the barrier): least connections spreads them evenly.
    for (const [name, n] of perBackend) assert.ok(n >= 50 && n <= 84, `${name} got ${n}`);
  });
});
