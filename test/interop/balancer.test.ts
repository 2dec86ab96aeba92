/**
 * The node-side balancer features against a real ftpfleet process: PROXY
 * protocol v1/v2 on control and data connections, the address advertised in
 * 227 replies, passive slices and their exhaustion, shared passive ports,
 * active-mode source port and private targets, and the ops port (health,
 * readiness, metrics, admin drain).
 *
 * Only loopback is ever contacted: 127.0.0.0/8 and ::1. Different 127.0.0.x
 * source addresses play different clients; 127.0.0.200 plays the balancer.
 * Replies, log lines, counts and bytes are asserted, never durations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { encodeProxyV2 } from '../../src/net/proxyProtocol.js';
import { ALICE, CLI, startServer, type StartOptions, type TestServer, type TestUser } from '../helpers/server.js';
import { RawClient, passivePort, type RawReply } from '../helpers/rawClient.js';
import { eventually, run, runPythonJson } from '../helpers/clients.js';
import { metric, ops } from '../helpers/ops.js';

const LB = '127.0.0.200';
const LIMITED: TestUser = { name: 'limited', password: 'limited-secret', allowedNetworks: ['127.0.0.10/32'] };
const ADMIN_TOKEN = 'test-admin-token-0123456789';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/* ---------- helpers ---------- */

function v1(client: string, dst: string, dport: number, sport = 40000): string {
  return `PROXY TCP4 ${client} ${dst} ${sport} ${dport}\r\n`;
}

function v2(client: string, dst: string, dport: number, uniqueId?: string, sport = 40000): Buffer {
  return encodeProxyV2({ address: client, port: sport }, { address: dst, port: dport }, uniqueId ? Buffer.from(uniqueId) : undefined);
}

/** A control connection from `from` that sends `header` before reading the greeting. */
async function viaBalancer(srv: TestServer, header: string | Buffer | null, from = LB, host = '127.0.0.1'): Promise<RawClient> {
  const c = await RawClient.connect(srv.port, host, from);
  if (header !== null) c.write(header);
  return c;
}

async function loginAs(c: RawClient, user: TestUser = ALICE): Promise<void> {
  await c.login(user.name, user.password);
  assert.equal((await c.cmd('TYPE I')).code, 200);
}

function openData(port: number, localAddress: string, preamble?: Buffer | string, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, localAddress }, () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      if (preamble !== undefined) socket.write(preamble);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** All bytes a socket receives until it closes. */
function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

/** True when the server closes the socket without sending anything (waits up to `ms`). */
async function closedWithoutData(socket: Socket, ms = 10_000): Promise<boolean> {
  let got = 0;
  socket.on('data', (d: Buffer) => (got += d.length));
  const closed = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  socket.destroy();
  return closed && got === 0;
}

/** RETR over an open data connection: the bytes and the final reply. */
async function retr(c: RawClient, data: Socket, path: string): Promise<{ bytes: Buffer; final: RawReply }> {
  const received = collect(data);
  const first = await c.cmd(`RETR ${path}`);
  assert.equal(first.code, 150, first.text);
  const bytes = await received;
  const final = await c.read(60_000);
  return { bytes, final };
}

async function stor(c: RawClient, data: Socket, path: string, content: Buffer): Promise<RawReply> {
  const first = await c.cmd(`STOR ${path}`);
  assert.equal(first.code, 150, first.text);
  data.end(content);
  return c.read(60_000);
}

function pasvHost(r: RawReply): string {
  assert.equal(r.code, 227, r.text);
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r.text)!;
  return m.slice(1, 5).join('.');
}

function portArg(host: string, port: number): string {
  return `${host.split('.').join(',')},${port >> 8},${port & 0xff}`;
}

/** A listener a client opens for active mode: what the server sends it, and from where. */
interface ActiveTarget {
  port: number;
  next: Promise<{ data: Buffer; remoteAddress: string; remotePort: number }>;
  close(): void;
}

async function activeTarget(host: string): Promise<ActiveTarget> {
  let resolveNext!: (v: { data: Buffer; remoteAddress: string; remotePort: number }) => void;
  const next = new Promise<{ data: Buffer; remoteAddress: string; remotePort: number }>((r) => (resolveNext = r));
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    const remoteAddress = socket.remoteAddress!;
    const remotePort = socket.remotePort!;
    void collect(socket).then((data) => resolveNext({ data, remoteAddress, remotePort }));
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  return { port: (server.address() as { port: number }).port, next, close: () => server.close() };
}

function sessionOpened(srv: TestServer, pred: (l: Record<string, any>) => boolean) {
  return srv.waitForLog((l) => l.msg === 'session opened' && pred(l), 5000);
}

/* ---------- servers (started together: each start is mostly process start-up) ---------- */

let pp: TestServer; // PROXY on control only
let ppData: TestServer; // PROXY on control and data; untrusted peers served directly
let shared: TestServer; // shared ports, host name advertised
let active: TestServer; // control-1 source port, private targets; fixed address + addressByNetwork
let adv: TestServer; // = active
let slice: TestServer; // 2-port slice, 0.0.0.0 advertised, admin token (drained last)
let opsSrv: TestServer; // = slice
let tmp: string;
let servers: TestServer[] = [];

/** Passive ranges of this file's servers: distinct, and below the ephemeral ports (32768+) that outgoing connections take. */
const usedSlots = new Set<number>();
function freshRange(size: number): { min: number; max: number } {
  let slot: number;
  do slot = Math.floor(Math.random() * 127);
  while (usedSlots.has(slot));
  usedSlots.add(slot);
  const min = 20000 + slot * 100;
  return { min, max: min + size - 1 };
}

/**
 * Starts a server with its own passive range; with `fixedPort`, on a fixed
 * control port (for active.sourcePort "control-1"), retried on a clash.
 */
async function start(options: StartOptions, fixedPort = false): Promise<TestServer> {
  const pasv = freshRange(options.pasvSize ?? 50);
  let lastErr: unknown;
  for (let attempt = 0; attempt < (fixedPort ? 8 : 1); attempt++) {
    const config: Record<string, any> = { tls: { enabled: false }, ...options.config };
    config.passive = { ...config.passive, portRange: `${pasv.min}-${pasv.max}` };
    // Two addresses: active data must leave from the one the client connected to.
    if (fixedPort) config.listen = { addresses: ['127.0.0.1', '127.0.0.5'], port: 11000 + Math.floor(Math.random() * 8000) };
    try {
      const srv = await startServer({ ...options, config });
      srv.pasv = pasv;
      return srv;
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-balancer-'));
  const proxy = (extra: Record<string, any>) => ({ trustedNetworks: [`${LB}/32`], headerTimeout: 2, ...extra });
  // Five processes, not one per feature: a start is mostly process start-up, and test machines may be busy.
  const started = await Promise.allSettled([
    start({
      users: [ALICE, LIMITED],
      config: {
        proxyProtocol: proxy({ control: 'required', data: 'off', untrusted: 'refuse' }),
        limits: { maxSessionsPerAddress: 2, failedLoginDelay: 0.05, defender: { threshold: 30 } },
      },
    }),
    start({ config: { proxyProtocol: proxy({ control: 'required', data: 'required', untrusted: 'direct', headerTimeout: 1 }) } }),
    start({ pasvSize: 4, config: { passive: { sharePorts: true, address: 'localhost' } } }),
    start(
      {
        config: {
          passive: { address: '127.0.0.33', addressByNetwork: [{ networks: ['127.0.0.20/32'], address: '127.0.0.1' }] },
          active: { sourcePort: 'control-1', privateTarget: 'use-client-address', privateNetworks: ['127.0.0.77/32'] },
        },
      },
      true,
    ),
    start({
      pasvSize: 2,
      config: {
        passive: { address: '0.0.0.0' },
        active: { privateNetworks: ['127.0.0.77/32'] },
        ops: { port: 0, adminToken: ADMIN_TOKEN },
        shutdown: { grace: 30 },
      },
    }),
  ]);
  servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  [pp, ppData, shared, active, slice] = servers as [TestServer, TestServer, TestServer, TestServer, TestServer];
  adv = active;
  opsSrv = slice;
  for (const srv of servers) writeFileSync(join(srv.dataDir, 'hello.txt'), 'hello from the node\n');
}, { timeout: 60_000 });

after(async () => {
  // Every server that started, even when another did not (a leftover process would keep this file running).
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

/* ---------- 1. PROXY protocol ---------- */

describe('PROXY protocol on control connections (control required, data off)', { timeout: 60_000 }, () => {
  test('v1 header: the client address is the header\'s, the balancer is "via"; STAT shows the client and the node', async () => {
    const c = await viaBalancer(pp, v1('127.0.0.10', '127.0.0.1', pp.port));
    await loginAs(c);
    const stat = await c.cmd('STAT');
    assert.equal(stat.code, 211, stat.text);
    assert.match(stat.text, /Connected from 127\.0\.0\.10$/m);
    assert.match(stat.text, /Node test-node$/m);
    const opened = await sessionOpened(pp, (l) => l.client === '127.0.0.10');
    assert.equal(opened.via, LB);
    assert.equal(opened.node, 'test-node');
    c.close();
  });

  test('v2 header: the unique-id TLV becomes the session id in the logs, transfer lines included', async () => {
    const uid = 'lb-conn-4711';
    const hex = Buffer.from(uid).toString('hex');
    const c = await viaBalancer(pp, v2('127.0.0.10', '127.0.0.1', pp.port, uid));
    await loginAs(c);
    const stat = await c.cmd('STAT');
    assert.match(stat.text, /Connected from 127\.0\.0\.10$/m);
    const opened = await sessionOpened(pp, (l) => l.session === hex);
    assert.deepEqual([opened.client, opened.via], ['127.0.0.10', LB]);
    const loggedIn = await pp.waitForLog((l) => l.msg === 'logged in' && l.session === hex);
    assert.equal(loggedIn.client, '127.0.0.10');
    writeFileSync(join(pp.dataDir, 'uid-4711.txt'), 'correlated\n');
    const data = await openData(passivePort(await c.cmd('PASV')), LB);
    const { final } = await retr(c, data, 'uid-4711.txt');
    assert.equal(final.code, 226, final.text);
    const transfer = await pp.waitForLog((l) => l.msg === 'transfer' && l.path === '/uid-4711.txt');
    assert.deepEqual([transfer.session, transfer.client, transfer.result], [hex, '127.0.0.10', 'ok']);
    c.close();
  });

  test('per-address session limit counts the header address, not the balancer', async () => {
    const a = await viaBalancer(pp, v1('127.0.0.12', '127.0.0.1', pp.port));
    const b = await viaBalancer(pp, v1('127.0.0.12', '127.0.0.1', pp.port));
    assert.equal((await a.read()).code, 220);
    assert.equal((await b.read()).code, 220);
    const third = await viaBalancer(pp, v1('127.0.0.12', '127.0.0.1', pp.port));
    const refused = await third.read();
    assert.equal(refused.code, 421, refused.text);
    assert.match(refused.text, /too many connections from your address/i);
    const other = await viaBalancer(pp, v1('127.0.0.13', '127.0.0.1', pp.port));
    await loginAs(other);
    for (const c of [a, b, third, other]) c.close();
  });

  test('a ban from failed logins hits the header address; another client behind the same balancer goes on', async () => {
    const c = await viaBalancer(pp, v1('127.0.0.30', '127.0.0.1', pp.port));
    assert.equal((await c.read()).code, 220);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.cmd('USER alice')).code, 331);
      codes.push((await c.cmd(`PASS wrong-${i}`)).code);
    }
    assert.deepEqual(codes, [530, 530, 421], 'threshold 30, 10 points per failed login');
    c.close();
    const again = await viaBalancer(pp, v1('127.0.0.30', '127.0.0.1', pp.port));
    const r = await again.read();
    assert.equal(r.code, 421, r.text);
    assert.match(r.text, /banned/i);
    again.close();
    const banned = await pp.waitForLog((l) => l.msg === 'address banned');
    assert.equal(banned.client, '127.0.0.30');
    const other = await viaBalancer(pp, v1('127.0.0.31', '127.0.0.1', pp.port));
    await loginAs(other);
    other.close();
  });

  test('user allowedNetworks are checked against the header address', async () => {
    const ok = await viaBalancer(pp, v1('127.0.0.10', '127.0.0.1', pp.port));
    await loginAs(ok, LIMITED);
    ok.close();
    const no = await viaBalancer(pp, v1('127.0.0.11', '127.0.0.1', pp.port));
    assert.equal((await no.read()).code, 220);
    assert.equal((await no.cmd(`USER ${LIMITED.name}`)).code, 331);
    assert.equal((await no.cmd(`PASS ${LIMITED.password}`)).code, 530);
    no.close();
  });

  test('PORT/EPRT to the header address is used; to the balancer\'s address it is refused', async () => {
    const target = await activeTarget('127.0.0.10');
    try {
      const c = await viaBalancer(pp, v1('127.0.0.10', '127.0.0.1', pp.port));
      await loginAs(c);
      assert.equal((await c.cmd(`PORT ${portArg(LB, target.port)}`)).code, 504);
      assert.equal((await c.cmd(`EPRT |1|${LB}|${target.port}|`)).code, 504);
      assert.equal((await c.cmd(`PORT ${portArg('127.0.0.10', target.port)}`)).code, 200);
      const first = await c.cmd('RETR hello.txt');
      assert.equal(first.code, 150, first.text);
      const got = await target.next;
      assert.equal(got.data.toString(), 'hello from the node\n');
      assert.equal((await c.read()).code, 226);
      assert.equal((await c.cmd(`EPRT |1|127.0.0.10|${target.port}|`)).code, 200);
      c.close();
    } finally {
      target.close();
    }
  });

  test('"auto" advertises the header\'s destination address; passive data comes from the balancer (data off)', async () => {
    const c = await viaBalancer(pp, v1('127.0.0.10', '127.0.0.42', pp.port));
    await loginAs(c);
    const r = await c.cmd('PASV');
    assert.equal(pasvHost(r), '127.0.0.42');
    const port = passivePort(r);
    assert.ok(port >= pp.pasv.min && port <= pp.pasv.max);
    // Someone else (not the balancer) is refused; the balancer's connection carries the transfer.
    const thief = await openData(port, '127.0.0.99');
    assert.ok(await closedWithoutData(thief), 'connection from 127.0.0.99 refused');
    const data = await openData(port, LB);
    const { bytes, final } = await retr(c, data, 'hello.txt');
    assert.equal(final.code, 226, final.text);
    assert.equal(bytes.toString(), 'hello from the node\n');
    c.close();
  });

  test('an untrusted peer is refused without a session (untrusted: refuse)', async () => {
    const c = await viaBalancer(pp, v1('127.0.0.10', '127.0.0.1', pp.port), '127.0.0.5');
    assert.equal((await c.read()).code, -1, 'closed without a greeting');
    await pp.waitForLog((l) => l.msg.startsWith('connection from a peer not trusted') && l.client === '127.0.0.5');
    assert.equal(pp.logs.filter((l) => l.msg === 'session opened' && (l.client === '127.0.0.5' || l.via === '127.0.0.5')).length, 0);
  });

  test('a malformed header (or none) from a trusted peer is refused', async () => {
    const metricsBefore = (await ops(pp, '/metrics')).text;
    for (const bad of ['PROXY TCP4 999.1.2.3 127.0.0.1 1 2\r\n', 'USER alice\r\n', Buffer.concat([v2('127.0.0.10', '127.0.0.1', 21).subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)])]) {
      const before = pp.logs.filter((l) => l.msg === 'PROXY header refused').length;
      const c = await viaBalancer(pp, bad);
      const r = await c.read();
      assert.equal(r.code, -1, `closed without a greeting for ${JSON.stringify(bad.toString('latin1'))}: ${r.text}`);
      assert.ok(await eventually(() => pp.logs.filter((l) => l.msg === 'PROXY header refused').length > before));
    }
    // Counted as refused control connections, not as data-connection failures.
    const text = (await ops(pp, '/metrics')).text;
    const refused = (t: string) => metric(t, 'ftpfleet_connections_refused_total', { reason: 'proxy error' }) ?? 0;
    assert.equal(refused(text), refused(metricsBefore) + 3);
    assert.equal(metric(text, 'ftpfleet_data_connection_failures_total', { cause: 'proxy_error' }) ?? 0, 0);
  });

  test('LOCAL headers (health checks) get a normal 220 and are the balancer itself', async () => {
    const v1Local = await viaBalancer(pp, 'PROXY UNKNOWN\r\n');
    assert.equal((await v1Local.read()).code, 220);
    assert.match((await v1Local.cmd('STAT')).text, new RegExp(`Connected from ${LB.replace(/\./g, '\\.')}$`, 'm'));
    v1Local.close();
    const bare = Buffer.concat([v2('127.0.0.1', '127.0.0.1', 1).subarray(0, 12), Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    const v2Bare = await viaBalancer(pp, bare);
    assert.equal((await v2Bare.read()).code, 220);
    v2Bare.close();
    // A LOCAL header may carry addresses; the receiver must ignore them (proxy-protocol.txt §2.2).
    const withAddresses = v2('127.0.0.66', '127.0.0.1', pp.port);
    withAddresses[12] = 0x20;
    const v2Local = await viaBalancer(pp, withAddresses);
    assert.equal((await v2Local.read()).code, 220);
    assert.match((await v2Local.cmd('STAT')).text, new RegExp(`Connected from ${LB.replace(/\./g, '\\.')}$`, 'm'));
    v2Local.close();
  });
});

describe('PROXY protocol on data connections too (data required, untrusted direct)', { timeout: 60_000 }, () => {
  test('a passive data connection must carry a v2 header naming the client', async () => {
    const hex = Buffer.from('data-test').toString('hex');
    const c = await viaBalancer(ppData, v2('127.0.0.10', '127.0.0.1', ppData.port, 'data-test'));
    await loginAs(c);
    const port = passivePort(await c.cmd('PASV'));
    const refusals = () => ppData.logs.filter((l) => l.msg === 'PROXY header on a data connection refused');
    const before = refusals().length;
    // No header (stray bytes instead): refused, and logged with the session whose port it was.
    const noHeader = await openData(port, LB, 'not a header\r\n');
    assert.ok(await closedWithoutData(noHeader), 'data connection without a header refused');
    assert.ok(await eventually(() => refusals().length > before));
    assert.deepEqual(refusals().slice(before).map((l) => [l.session, l.from]), [[hex, LB]]);
    // A header naming another client: refused.
    const other = await openData(port, LB, v2('127.0.0.11', '127.0.0.1', port));
    assert.ok(await closedWithoutData(other), 'data connection for another client refused');
    // The client's own: carries the transfer.
    const data = await openData(port, LB, v2('127.0.0.10', '127.0.0.1', port));
    const { bytes, final } = await retr(c, data, 'hello.txt');
    assert.equal(final.code, 226, final.text);
    assert.equal(bytes.toString(), 'hello from the node\n');
    // And an upload: the header must not end up in the file.
    const port2 = passivePort(await c.cmd('PASV'));
    const up = await openData(port2, LB, v2('127.0.0.10', '127.0.0.1', port2));
    const content = randomBytes(50_000);
    assert.equal((await stor(c, up, 'pp-up.bin', content)).code, 226);
    assert.equal(sha256(readFileSync(join(ppData.dataDir, 'pp-up.bin'))), sha256(content));
    const upload = await ppData.waitForLog((l) => l.msg === 'transfer' && l.path === '/pp-up.bin');
    assert.deepEqual([upload.session, upload.client, upload.direction], [hex, '127.0.0.10', 'upload']);
    c.close();
  });

  test('an untrusted peer is served directly with its own address (untrusted: direct)', async () => {
    const c = await viaBalancer(ppData, null, '127.0.0.5');
    await loginAs(c);
    assert.match((await c.cmd('STAT')).text, /Connected from 127\.0\.0\.5$/m);
    const data = await openData(passivePort(await c.cmd('PASV')), '127.0.0.5');
    const { bytes, final } = await retr(c, data, 'hello.txt');
    assert.equal(final.code, 226, final.text);
    assert.equal(bytes.toString(), 'hello from the node\n');
    const opened = await sessionOpened(ppData, (l) => l.client === '127.0.0.5');
    assert.equal(opened.via, undefined);
    c.close();
  });
});

/* ---------- 2. Advertised address ---------- */

describe('advertised address', { timeout: 60_000 }, () => {
  test('fixed address for most clients, another by client network; EPSV always works', async () => {
    const c = await viaBalancer(adv, null, '127.0.0.1');
    await loginAs(c);
    assert.equal(pasvHost(await c.cmd('PASV')), '127.0.0.33');
    const epsv = await c.cmd('EPSV');
    assert.equal(epsv.code, 229, epsv.text);
    const data = await openData(passivePort(epsv), '127.0.0.1');
    const { bytes, final } = await retr(c, data, 'hello.txt');
    assert.equal(final.code, 226);
    assert.equal(bytes.toString(), 'hello from the node\n');
    c.close();
    const internal = await viaBalancer(adv, null, '127.0.0.20');
    await loginAs(internal);
    assert.equal(pasvHost(await internal.cmd('PASV')), '127.0.0.1');
    assert.equal((await internal.cmd('EPSV')).code, 229);
    internal.close();
  });

  test('curl (--no-ftp-skip-pasv-ip) connects to the advertised address', async () => {
    const url = `ftp://alice:alice-secret@127.0.0.1:${adv.port}/hello.txt`;
    const args = ['-sS', '-v', '--max-time', '20', '--disable-epsv', '--no-ftp-skip-pasv-ip'];
    // 127.0.0.20 is told 127.0.0.1, where the node listens: works.
    const ok = await run('curl', [...args, '--interface', '127.0.0.20', url], { timeoutMs: 30_000 });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'hello from the node\n');
    // 127.0.0.1 is told 127.0.0.33, where nothing listens: curl tries exactly that address.
    const fixed = await run('curl', [...args, '--interface', '127.0.0.1', url], { timeoutMs: 30_000 });
    assert.notEqual(fixed.code, 0, 'nothing listens on 127.0.0.33');
    assert.match(fixed.stderr, /127\.0\.0\.33/);
    // The default (skip the PASV address) uses the control address and works.
    const skip = await run('curl', ['-sS', '--max-time', '20', '--disable-epsv', '--interface', '127.0.0.1', url], { timeoutMs: 30_000 });
    assert.equal(skip.code, 0, skip.stderr);
    assert.equal(skip.stdout, 'hello from the node\n');
  });

  test('a host name is resolved (localhost -> 127.0.0.1), even for a client on ::1', async () => {
    const resolved = await shared.waitForLog((l) => l.msg === 'passive address resolved');
    assert.deepEqual([resolved.host, resolved.address], ['localhost', '127.0.0.1']);
    const c = await RawClient.connect(shared.port, '::1');
    await loginAs(c);
    // "auto" could not put ::1 in a 227; the resolved name can.
    assert.equal(pasvHost(await c.cmd('PASV')), '127.0.0.1');
    assert.equal((await c.cmd('EPSV')).code, 229);
    c.close();
  });

  test('0.0.0.0 is advertised literally', async () => {
    const c = await viaBalancer(slice, null, '127.0.0.1');
    await loginAs(c);
    const r = await c.cmd('PASV');
    assert.match(r.text, /\(0,0,0,0,\d+,\d+\)/);
    assert.equal((await c.cmd('EPSV')).code, 229);
    c.close();
  });
});

/* ---------- 3. Passive slices ---------- */

describe('passive slices', { timeout: 60_000 }, () => {
  test('refuses to start when the range contains the control port (exit 2, names passive.portRange)', async () => {
    const file = join(tmp, 'clash.yaml');
    writeFileSync(
      file,
      stringify({
        listen: { addresses: ['127.0.0.1'], port: 20500 },
        passive: { portRange: '20000-20999' },
        storage: { local: { root: join(tmp, 'data') } },
        users: { file: join(tmp, 'users.yaml') },
        ops: { enabled: false },
        tls: { enabled: false },
      }),
    );
    const r = await run(process.execPath, [CLI, 'serve', '--config', file], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /passive\.portRange/);
    assert.match(r.stderr, /listen\.port/);
  });

  test('a 2-port range: the third concurrent PASV gets 425, logged and counted; no port outside the range', async () => {
    const metricsBefore = (await ops(slice, '/metrics')).text;
    const exhaustedBefore = metric(metricsBefore, 'ftpfleet_data_connection_failures_total', { cause: 'port_exhaustion' }) ?? 0;
    const clients = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((a) => viaBalancer(slice, null, a)));
    for (const c of clients) await loginAs(c);
    const ports: number[] = [];
    const inRange = (p: number) => p >= slice.pasv.min && p <= slice.pasv.max;
    // Round robin through the range, each new PASV replacing the session's last one.
    for (let i = 0; i < 6; i++) ports.push(passivePort(await clients[0]!.cmd('PASV')));
    ports.push(passivePort(await clients[1]!.cmd('PASV')));
    const third = await clients[2]!.cmd('PASV');
    assert.equal(third.code, 425, third.text);
    assert.equal((await clients[2]!.cmd('EPSV')).code, 425);
    const ready = await ops(slice, '/readyz');
    assert.equal(ready.status, 503, ready.text);
    assert.equal(JSON.parse(ready.text).checks.passivePorts.ok, false);
    const logged = await slice.waitForLog((l) => l.msg === 'passive ports exhausted');
    assert.equal(logged.range, `${slice.pasv.min}-${slice.pasv.max}`);
    const exhaustedAfter = metric((await ops(slice, '/metrics')).text, 'ftpfleet_data_connection_failures_total', { cause: 'port_exhaustion' }) ?? 0;
    assert.ok(exhaustedAfter >= exhaustedBefore + 2, `port_exhaustion ${exhaustedBefore} -> ${exhaustedAfter}`);
    // A port comes free when a session ends; the waiting client then gets it, still in range.
    clients[0]!.close();
    const retry = await eventually(async () => {
      const r = await clients[2]!.cmd('PASV');
      return r.code === 227 && r;
    });
    assert.ok(retry, 'PASV works again once a port is free');
    ports.push(passivePort(retry));
    assert.deepEqual(ports.filter((p) => !inRange(p)), [], `advertised ports ${ports.join(',')} within ${slice.pasv.min}-${slice.pasv.max}`);
    assert.equal(new Set(ports).size, 2, 'both ports of the range were used');
    for (const c of clients) c.close();
    // With the sessions gone, both ports are free and the node is ready again.
    assert.ok(await eventually(async () => (await ops(slice, '/readyz')).status === 200), 'ready once the ports are free');
  });

  test('PORT naming a private address is refused (privateTarget: refuse)', async () => {
    const c = await viaBalancer(slice, null, '127.0.0.1');
    await loginAs(c);
    assert.equal((await c.cmd(`PORT ${portArg('127.0.0.77', 40000)}`)).code, 504);
    c.close();
  });
});

/* ---------- 4. Shared passive ports ---------- */

describe('shared passive ports (sharePorts, 4 ports)', { timeout: 60_000 }, () => {
  test('40 concurrent sessions from 40 addresses: all transfers intact, all ports within the 4', async () => {
    const src = randomBytes(200_000);
    writeFileSync(join(shared.dataDir, 'shared-src.bin'), src);
    const addresses = Array.from({ length: 40 }, (_, i) => `127.0.0.${51 + i}`);
    const clients = await Promise.all(addresses.map((a) => viaBalancer(shared, null, a)));
    await Promise.all(clients.map((c) => loginAs(c)));
    // Every session waits at once, before any data connection is made.
    const ports = await Promise.all(clients.map(async (c) => passivePort(await c.cmd('PASV'))));
    for (const p of ports) assert.ok(p >= shared.pasv.min && p <= shared.pasv.max, `port ${p} in range`);
    assert.ok(new Set(ports).size <= 4);
    // Every port has sessions waiting, yet a shared port takes more: the node stays ready.
    const ready = await ops(shared, '/readyz');
    assert.equal(ready.status, 200, ready.text);
    const uploads = addresses.map((a) => randomBytes(20_000 + Number(a.split('.')[3])));
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const data = await openData(ports[i]!, addresses[i]!);
        if (i % 2 === 0) {
          const { bytes, final } = await retr(c, data, 'shared-src.bin');
          return final.code === 226 && sha256(bytes) === sha256(src);
        }
        const final = await stor(c, data, `shared-${i}.bin`, uploads[i]!);
        return final.code === 226 && sha256(readFileSync(join(shared.dataDir, `shared-${i}.bin`))) === sha256(uploads[i]!);
      }),
    );
    assert.deepEqual(results, results.map(() => true));
    for (const c of clients) c.close();
  });

  test('one address waiting twice gets two ports; a connection nobody waits for is refused', async () => {
    const [a, b] = await Promise.all([viaBalancer(shared, null, '127.0.0.91'), viaBalancer(shared, null, '127.0.0.91')]);
    await loginAs(a!);
    await loginAs(b!);
    const pa = passivePort(await a!.cmd('PASV'));
    const pb = passivePort(await b!.cmd('PASV'));
    assert.notEqual(pa, pb);
    // 127.0.0.93 has no session waiting: refused, and a's wait goes on.
    const stranger = await openData(pa, '127.0.0.93');
    assert.ok(await closedWithoutData(stranger), 'unclaimed connection refused');
    await shared.waitForLog((l) => l.msg.startsWith('data connection to a shared passive port that no session waits for') && l.from === '127.0.0.93');
    for (const [c, p] of [
      [a!, pa],
      [b!, pb],
    ] as const) {
      const { bytes, final } = await retr(c, await openData(p, '127.0.0.91'), 'hello.txt');
      assert.equal(final.code, 226, final.text);
      assert.equal(bytes.toString(), 'hello from the node\n');
    }
    a!.close();
    b!.close();
  });

  test('Python ftplib from 6 addresses at once (source_address) uploads and downloads through the shared ports', async () => {
    const script = `
import ftplib, json, os, sys, threading, hashlib
port = int(sys.argv[1])
results = {}
def one(i):
    addr = '127.0.0.%d' % (101 + i)
    ports = []
    ftp = ftplib.FTP()
    ftp.connect('127.0.0.1', port, timeout=30, source_address=(addr, 0))
    ftp.login('alice', 'alice-secret')
    orig = ftp.makepasv
    def recording():
        host, p = orig()
        ports.append(p)
        return host, p
    ftp.makepasv = recording
    import io
    payload = os.urandom(30000 + i)
    ftp.storbinary('STOR py-%d.bin' % i, io.BytesIO(payload))
    got = io.BytesIO()
    ftp.retrbinary('RETR py-%d.bin' % i, got.write)
    ftp.quit()
    results[addr] = {'ok': got.getvalue() == payload, 'ports': ports}
threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
`;
    const out = await runPythonJson(join(tmp, 'shared.py'), script, [String(shared.port)], 60_000);
    assert.equal(Object.keys(out).length, 6, JSON.stringify(out));
    for (const [addr, r] of Object.entries<any>(out)) {
      assert.equal(r.ok, true, `${addr} round trip`);
      assert.equal(r.ports.length, 2);
      for (const p of r.ports) assert.ok(p >= shared.pasv.min && p <= shared.pasv.max, `${addr}: port ${p} in range`);
    }
  });
});

/* ---------- 5. Active options ---------- */

describe('active mode options', { timeout: 60_000 }, () => {
  test('sourcePort control-1: data connections come from the control port minus one, on the address the client connected to', async () => {
    const target = await activeTarget('127.0.0.1');
    try {
      // The node listens on 127.0.0.1 and 127.0.0.5; the client reaches it on 127.0.0.5 (the VIP under LVS-DR).
      const c = await viaBalancer(active, null, '127.0.0.1', '127.0.0.5');
      await loginAs(c);
      assert.equal((await c.cmd(`PORT ${portArg('127.0.0.1', target.port)}`)).code, 200);
      assert.equal((await c.cmd('RETR hello.txt')).code, 150);
      const got = await target.next;
      assert.equal((await c.read()).code, 226);
      assert.equal(got.data.toString(), 'hello from the node\n');
      assert.equal(got.remotePort, active.port - 1);
      assert.equal(got.remoteAddress, '127.0.0.5');
      c.close();
    } finally {
      target.close();
    }
  });

  test('privateTarget use-client-address: PORT naming a private address connects to the client address instead', async () => {
    // Listens on 127.0.0.1 only: nothing answers on 127.0.0.77.
    const target = await activeTarget('127.0.0.1');
    try {
      const c = await viaBalancer(active, null, '127.0.0.1');
      await loginAs(c);
      assert.equal((await c.cmd(`PORT ${portArg('127.0.0.77', target.port)}`)).code, 200);
      assert.equal((await c.cmd('RETR hello.txt')).code, 150);
      const got = await target.next;
      assert.equal((await c.read()).code, 226);
      assert.equal(got.data.toString(), 'hello from the node\n');
      await active.waitForLog((l) => l.msg === 'active target is private; using the client address' && l.named === '127.0.0.77');
      // A foreign address that is not private is still refused.
      assert.equal((await c.cmd(`PORT ${portArg('127.0.0.78', target.port)}`)).code, 504);
      c.close();
    } finally {
      target.close();
    }
  });
});

/* ---------- 6. Ops ---------- */

describe('ops port', { timeout: 60_000 }, () => {
  test('healthz, readyz and metrics after transfers in both modes', async () => {
    const health = await ops(opsSrv, '/healthz');
    assert.equal(health.status, 200);
    const ready = await ops(opsSrv, '/readyz');
    assert.equal(ready.status, 200, ready.text);
    const checks = JSON.parse(ready.text).checks;
    assert.deepEqual([checks.draining.ok, checks.storage.ok, checks.passivePorts.ok], [true, true, true]);

    const bad = await viaBalancer(opsSrv, null, '127.0.0.1');
    assert.equal((await bad.read()).code, 220);
    await bad.cmd('USER alice');
    assert.equal((await bad.cmd('PASS nope')).code, 530);
    bad.close();

    const c = await viaBalancer(opsSrv, null, '127.0.0.1');
    await loginAs(c);
    const content = randomBytes(100_000);
    assert.equal((await stor(c, await openData(passivePort(await c.cmd('PASV')), '127.0.0.1'), 'm.bin', content)).code, 226);
    const down = await retr(c, await openData(passivePort(await c.cmd('EPSV')), '127.0.0.1'), 'm.bin');
    assert.equal(down.final.code, 226);
    assert.equal(sha256(down.bytes), sha256(content));
    const target = await activeTarget('127.0.0.1');
    assert.equal((await c.cmd(`EPRT |1|127.0.0.1|${target.port}|`)).code, 200);
    assert.equal((await c.cmd('RETR m.bin')).code, 150);
    assert.equal(sha256((await target.next).data), sha256(content));
    assert.equal((await c.read()).code, 226);
    target.close();

    const text = (await ops(opsSrv, '/metrics')).text;
    const node = { node: 'test-node' };
    assert.ok((metric(text, 'ftpfleet_sessions', { ...node, state: 'authenticated' }) ?? 0) >= 1, 'ftpfleet_sessions{state="authenticated"}');
    assert.ok((metric(text, 'ftpfleet_logins_total', { ...node, result: 'ok' }) ?? 0) >= 1);
    assert.ok((metric(text, 'ftpfleet_logins_total', { ...node, result: 'failed' }) ?? 0) >= 1);
    for (const [direction, mode] of [
      ['upload', 'passive'],
      ['download', 'passive'],
      ['download', 'active'],
    ]) {
      assert.ok((metric(text, 'ftpfleet_transfers_total', { ...node, direction: direction!, mode: mode!, result: 'ok' }) ?? 0) >= 1, `${direction} ${mode}`);
      assert.ok((metric(text, 'ftpfleet_transfer_bytes_total', { ...node, direction: direction!, mode: mode! }) ?? 0) >= content.length, `${direction} ${mode} bytes`);
    }
    assert.equal(metric(text, 'ftpfleet_passive_ports', { ...node, state: 'free' }), opsSrv.pasv.max - opsSrv.pasv.min + 1);
    assert.equal(metric(text, 'ftpfleet_passive_ports', { ...node, state: 'in_use' }), 0);
    assert.ok((metric(text, 'ftpfleet_replies_total', { ...node, code: '230' }) ?? 0) >= 1);
    c.close();
  });

  test('admin drain: token required; then not ready, no new sessions, the running transfer completes, exit 0', async () => {
    const big = randomBytes(16 * 1024 * 1024);
    writeFileSync(join(opsSrv.dataDir, 'big.bin'), big);
    assert.equal((await ops(opsSrv, '/admin/drain', { method: 'POST' })).status, 401);
    assert.equal((await ops(opsSrv, '/admin/drain', { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    const status = await ops(opsSrv, '/admin/status', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(status.status, 200);
    assert.equal(JSON.parse(status.text).node, 'test-node');

    const exited = new Promise<number | null>((resolve) => {
      if (opsSrv.proc.exitCode !== null) resolve(opsSrv.proc.exitCode);
      opsSrv.proc.once('exit', (code) => resolve(code));
    });
    const c = await viaBalancer(opsSrv, null, '127.0.0.1');
    await loginAs(c);
    const data = await openData(passivePort(await c.cmd('PASV')), '127.0.0.1');
    data.pause(); // a slow reader: the server blocks on a full socket
    const chunks: Buffer[] = [];
    data.on('data', (d: Buffer) => chunks.push(d));
    const closed = new Promise((r) => data.once('close', r));
    const first = await c.cmd('RETR big.bin');
    assert.equal(first.code, 150, first.text);

    const drain = await ops(opsSrv, '/admin/drain', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(drain.status, 202, drain.text);
    const notReady = await ops(opsSrv, '/readyz');
    assert.equal(notReady.status, 503);
    assert.equal(JSON.parse(notReady.text).checks.draining.ok, false);
    // New control connections are refused (connect refused, or a 421).
    const refused = await RawClient.connect(opsSrv.port, '127.0.0.1', '127.0.0.2').then(
      async (n) => {
        const r = await n.read();
        n.close();
        return r.code === 421 || r.code === -1;
      },
      () => true,
    );
    assert.ok(refused, 'a new control connection during drain is refused');
    // The running transfer still completes, intact.
    data.resume();
    await closed;
    assert.equal(sha256(Buffer.concat(chunks)), sha256(big));
    assert.equal((await c.read(60_000)).code, 226);
    assert.equal(await exited, 0);
    c.close();
    // The log agrees: the drain began while the download ran, which then finished ok.
    const out = opsSrv.proc.stdout!;
    if (!out.readableEnded) await new Promise((r) => out.once('end', r));
    const stopping = opsSrv.logs.findIndex((l) => l.msg === 'stopping' && l.signal === 'admin drain');
    const transfer = opsSrv.logs.findIndex((l) => l.msg === 'transfer' && l.path === '/big.bin');
    assert.ok(stopping >= 0 && transfer > stopping, `stopping at log line ${stopping}, transfer at ${transfer}`);
    assert.equal(opsSrv.logs[transfer]!.result, 'ok');
    assert.equal(opsSrv.logs[transfer]!.bytes, big.length);
  });
});
