/**
 * A node with worker processes (`workers: 2`): sessions spread over both,
 * each worker on its own passive slice; what is counted node-wide (per-user
 * sessions, the defender's bans) holds across workers; PROXY headers and the
 * bytes after them reach the worker; a dead worker is started again; SIGTERM
 * drains the workers and lets a transfer finish.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { encodeProxyV2 } from '../../src/net/proxyProtocol.js';
import { passiveSlice } from '../../src/cli/nodePrimary.js';
import { ALICE, CLI, startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { RawClient, passivePort } from '../helpers/rawClient.js';
import { eventually, makeRandomFile, run, sha256File } from '../helpers/clients.js';
import { metric, ops } from '../helpers/ops.js';

const LIMITED: TestUser = { name: 'limited', password: 'limited-secret', maxSessions: 2 };
const WORKERS = { workers: 2 };

/** The worker processes' "worker serving" lines (pid, passive slice). */
function workerLines(srv: TestServer): Array<Record<string, any>> {
  return srv.logs.filter((l) => l.msg === 'worker serving');
}

test('passive slices split the range without gaps or overlaps', () => {
  const range = { min: 10000, max: 10010 };
  const slices = [0, 1, 2].map((i) => passiveSlice(range, i, 3));
  assert.deepEqual(slices, [
    { min: 10000, max: 10002 },
    { min: 10003, max: 10006 },
    { min: 10007, max: 10010 },
  ]);
  assert.deepEqual(passiveSlice({ min: 5, max: 5 }, 0, 1), { min: 5, max: 5 });
});

test('workers: transfers in both modes spread over both workers, each on its own passive slice; metrics merged', async () => {
  const srv = await startServer({ config: WORKERS, pasvSize: 10 });
  try {
    const lines = workerLines(srv);
    assert.equal(lines.length, 2, 'two workers started');
    const slices = lines.map((l) => l.passive as { min: number; max: number }).sort((a, b) => a.min - b.min);
    assert.deepEqual(slices, [
      { min: srv.pasv.min, max: srv.pasv.min + 4 },
      { min: srv.pasv.min + 5, max: srv.pasv.max },
    ]);
    const src = join(srv.dir, 'src.bin');
    makeRandomFile(src, 3 * 1024 * 1024 + 17);
    const want = await sha256File(src);
    for (let i = 0; i < 4; i++) {
      const up = await run('curl', ['-sS', '--fail', '-T', src, `${srv.url()}/up${i}.bin`]);
      assert.equal(up.code, 0, up.stderr);
      for (const args of [[], ['-P', '127.0.0.1'], ['--disable-epsv']]) {
        const out = join(srv.dir, `down${i}.bin`);
        const down = await run('curl', ['-sS', '--fail', ...args, '-o', out, `${srv.url()}/up${i}.bin`]);
        assert.equal(down.code, 0, down.stderr);
        assert.equal(await sha256File(out), want);
      }
    }
    const transfers = srv.logs.filter((l) => l.msg === 'transfer' && l.result === 'ok');
    assert.equal(transfers.length, 16);
    assert.deepEqual(new Set(transfers.map((l) => l.worker)), new Set([0, 1]), 'both workers served transfers');
    await eventually(async () => metric((await ops(srv, '/metrics')).text, 'ftpfleet_transfers_total', { result: 'ok' }) === 16 || undefined);
    const m = (await ops(srv, '/metrics')).text;
    assert.equal(metric(m, 'ftpfleet_transfers_total', { direction: 'upload', result: 'ok' }), 4);
    assert.equal(metric(m, 'ftpfleet_transfers_total', { direction: 'download', mode: 'active', result: 'ok' }), 4);
    assert.equal(metric(m, 'ftpfleet_passive_ports', { state: 'free' }), 10, 'both slices counted');
    const ready = await ops(srv, '/readyz');
    assert.equal(ready.status, 200);
    assert.match(ready.text, /2 of 2 workers serving/);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test("workers: each session's passive ports come from its own worker's slice", async () => {
  // 4 ports per worker for 2 sessions each: a re-issued EPSV may find its previous port still closing.
  const srv = await startServer({ config: WORKERS, pasvSize: 8 });
  try {
    const slices = workerLines(srv).map((l) => l.passive as { min: number; max: number });
    const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(srv.port)));
    const used = new Set<number>();
    for (const c of clients) {
      await c.login(ALICE.name, ALICE.password);
      const ports: number[] = [];
      for (let round = 0; round < 3; round++) {
        const r = await c.cmd('EPSV');
        assert.equal(r.code, 229);
        ports.push(passivePort(r));
      }
      const slice = slices.findIndex((s) => ports.every((p) => p >= s.min && p <= s.max));
      assert.ok(slice >= 0, `ports ${ports} all in one worker's slice (${JSON.stringify(slices)})`);
      used.add(slice);
    }
    assert.deepEqual(used, new Set([0, 1]), 'sessions on both workers');
    for (const c of clients) c.close();
  } finally {
    await srv.stop();
  }
});

test('workers: a user session limit counts the sessions on every worker', async () => {
  const srv = await startServer({ config: WORKERS, users: [ALICE, LIMITED] });
  try {
    const a = await RawClient.connect(srv.port);
    const b = await RawClient.connect(srv.port);
    await a.login(LIMITED.name, LIMITED.password);
    await b.login(LIMITED.name, LIMITED.password);
    const sessions = srv.logs.filter((l) => l.msg === 'logged in' && l.user === 'limited');
    await eventually(() => srv.logs.filter((l) => l.msg === 'logged in' && l.user === 'limited').length === 2 || undefined);
    assert.deepEqual(new Set(srv.logs.filter((l) => l.msg === 'logged in' && l.user === 'limited').map((l) => l.worker)), new Set([0, 1]), `on both workers (${sessions.length})`);
    const c = await RawClient.connect(srv.port);
    assert.equal((await c.read()).code, 220);
    assert.equal((await c.cmd('USER limited')).code, 331);
    const third = await c.cmd(`PASS ${LIMITED.password}`);
    assert.equal(third.code, 421, third.text);
    assert.match(third.text, /Too many sessions for limited/);
    // One leaves (QUIT): the next login gets its place.
    assert.equal((await a.cmd('QUIT')).code, 221);
    await eventually(async () => {
      const d = await RawClient.connect(srv.port);
      try {
        await d.login(LIMITED.name, LIMITED.password);
        return true;
      } catch {
        return undefined;
      } finally {
        d.close();
      }
    });
    const after = await RawClient.connect(srv.port);
    await after.login(ALICE.name, ALICE.password); // other users are not limited
    for (const x of [b, c, after]) x.close();
  } finally {
    await srv.stop();
  }
});

test('workers: failed logins on different workers add up to one ban, enforced by every worker', async () => {
  const srv = await startServer({
    config: { ...WORKERS, limits: { defender: { threshold: 30, scores: { failedLogin: 10 }, banDuration: 60 } } },
  });
  try {
    const a = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.7');
    const b = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.7');
    for (const c of [a, b]) assert.equal((await c.read()).code, 220);
    const fail = async (c: RawClient) => {
      assert.equal((await c.cmd('USER alice')).code, 331);
      return c.cmd('PASS wrong');
    };
    assert.equal((await fail(a)).code, 530);
    assert.equal((await fail(b)).code, 530);
    await eventually(() => srv.logs.filter((l) => l.msg === 'login failed').length === 2 || undefined);
    assert.deepEqual(new Set(srv.logs.filter((l) => l.msg === 'login failed').map((l) => l.worker)), new Set([0, 1]), 'one failure on each worker');
    const third = await fail(a);
    assert.ok(third.code === 421 || third.code === 530, third.text);
    const banned = await srv.waitForLog((l) => l.msg === 'address banned' && l.client === '127.0.0.7');
    assert.equal(banned.worker, undefined, 'the primary bans');
    // New connections are refused; the other worker's open session is cut at its next command.
    const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.7');
    const refused = await c.read();
    assert.equal(refused.code, 421);
    assert.match(refused.text, /banned/);
    await eventually(async () => (await b.cmd('USER alice')).code === 421 || b.closed || undefined);
    // Another address is served.
    const ok = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.8');
    await ok.login(ALICE.name, ALICE.password);
    const m = (await ops(srv, '/metrics')).text;
    assert.equal(metric(m, 'ftpfleet_banned_addresses'), 1);
    assert.ok((metric(m, 'ftpfleet_connections_refused_total', { reason: 'banned' }) ?? 0) >= 1);
    for (const x of [a, b, c, ok]) x.close();
  } finally {
    await srv.stop();
  }
});

test('workers: the PROXY header and the bytes sent with it reach the worker', async () => {
  const srv = await startServer({ config: { ...WORKERS, proxyProtocol: { control: 'required', trustedNetworks: ['127.0.0.200/32'] } } });
  try {
    const header = encodeProxyV2({ address: '203.0.113.9', port: 40000 }, { address: '127.0.0.1', port: srv.port }, Buffer.from('lb-42'));
    const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.200');
    // Header and the first command in one segment, before the greeting.
    c.write(Buffer.concat([header, Buffer.from('USER alice\r\n')]));
    assert.equal((await c.read()).code, 220);
    assert.equal((await c.read()).code, 331);
    assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
    const line = await srv.waitForLog((l) => l.msg === 'logged in' && l.client === '203.0.113.9');
    assert.equal(line.session, Buffer.from('lb-42').toString('hex'), 'the unique-id TLV is the correlation id');
    c.close();
  } finally {
    await srv.stop();
  }
});

test('workers: a worker that dies is started again and the node keeps serving', async () => {
  const srv = await startServer({ config: WORKERS });
  try {
    const pids = new Set(workerLines(srv).map((l) => l.pid as number));
    assert.equal(pids.size, 2);
    const victim = [...pids][0]!;
    process.kill(victim, 'SIGKILL');
    await srv.waitForLog((l) => l.msg === 'worker process exited; starting it again', 10_000);
    await eventually(() => workerLines(srv).length === 3 || undefined, 10_000);
    const fresh = workerLines(srv)[2]!;
    assert.notEqual(fresh.pid, victim);
    await eventually(async () => (await ops(srv, '/readyz')).status === 200 || undefined, 10_000);
    for (let i = 0; i < 4; i++) {
      const r = await run('curl', ['-sS', '--fail', `${srv.url()}/`]);
      assert.equal(r.code, 0, r.stderr);
    }
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('workers: SIGTERM drains — readyz 503, a running download finishes, every process exits 0', async () => {
  const srv = await startServer({ config: { ...WORKERS, shutdown: { grace: 20 } } });
  try {
    const big = join(srv.dataDir, 'big.bin');
    makeRandomFile(big, 64 * 1024 * 1024);
    const want = createHash('sha256').update(readFileSync(big)).digest('hex');
    const out = join(srv.dir, 'big.out');
    const download = run('curl', ['-sS', '--fail', '--limit-rate', '16M', '-o', out, `${srv.url()}/big.bin`], { timeoutMs: 60_000 });
    await srv.waitForLog((l) => l.msg === 'transfer starting' || (l.path === '/big.bin' && l.msg !== 'transfer'), 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const pids = workerLines(srv).map((l) => l.pid as number);
    srv.proc.kill('SIGTERM');
    await eventually(async () => {
      try {
        return (await ops(srv, '/readyz')).status === 503 || undefined;
      } catch {
        return true; // already gone
      }
    });
    const r = await download;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), want);
    assert.equal(await srv.stop(), 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'worker exited');
  } finally {
    await srv.stop();
  }
});

test('workers: more workers than passive ports is a clear config error', async () => {
  const r = await run('node', [CLI, 'serve', '--workers', '3', '--pasv-range', '30000-30001', '-p', '0', '--listen', '127.0.0.1', '--set', 'ops.enabled=false', '--users-file', '/nonexistent/u.yaml']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /workers/);
  assert.match(r.stderr, /3 workers need at least 3 passive ports/);
});
