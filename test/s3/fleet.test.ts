/**
 * S3 backend, at fleet scale: a 10,000-object directory listed completely
 * and page by page; per-user key prefixes (home, and a user's own storage
 * prefix or bucket); two ftpfleet processes sharing one bucket; readiness and
 * error replies (missing bucket, throttling) with the S3 error in the log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { makeRandomFile, run, runPythonJson, sha256File } from '../helpers/clients.js';
import { ALICE, startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { s3Client, s3Fixture, s3Settings, type S3Fixture } from '../helpers/s3.js';
import { S3Storage } from '../../src/storage/s3/s3Storage.js';

let fx: S3Fixture;
let tmp: string;
let skip: string | null = null;
const servers: TestServer[] = [];

async function start(options: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(options);
  servers.push(s);
  return s;
}

function opsPort(srv: TestServer): number {
  return srv.logs.find((l) => l.msg === 'ops listening')!.port as number;
}

async function readyz(srv: TestServer): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${opsPort(srv)}/readyz`);
  return { status: res.status, body: await res.json() };
}

const DEV1: TestUser = { name: 'dev01', password: 'dev01-secret', home: '/devices/dev01' };
const DEV2: TestUser = { name: 'dev02', password: 'dev02-secret', home: '/devices/dev02' };

before(async () => {
  const f = await s3Fixture('fleet');
  if ('skip' in f) {
    skip = f.skip;
    return;
  }
  fx = f;
  tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-s3-fleet-'));
});

after(async () => {
  for (const s of servers) await s.stop();
  await fx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('S3 at fleet scale', { timeout: 600_000 }, () => {
  test('a directory of 10,000 objects lists completely (LIST, NLST, MLSD), streamed one page at a time', async (t) => {
    if (skip) return t.skip(skip);
    const N = 10_000;
    const names = Array.from({ length: N }, (_, i) => `obj-${String(i).padStart(5, '0')}.dat`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          const name = names[next++]!;
          await fx.client.send(new PutObjectCommand({ Bucket: fx.bucket, Key: `many/${name}`, Body: name }));
        }
      }),
    );
    // Page by page: list() has asked S3 for one page when it yields the first entry.
    const client = s3Client(fx.env);
    let listCalls = 0;
    client.middlewareStack.add(
      (nextHandler, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') listCalls++;
        return nextHandler(args);
      },
      { step: 'initialize' },
    );
    const storage = new S3Storage({
      client,
      bucket: fx.bucket,
      prefix: '',
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
      copyPartSize: 5 * 1024 * 1024 * 1024,
      listMetadata: false,
      listConcurrency: 8,
      renameDirMaxObjects: 10,
    });
    let count = 0;
    let callsAtFirst = 0;
    for await (const e of storage.list('/many')) {
      if (count === 0) callsAtFirst = listCalls;
      assert.equal(e.name, names[count]);
      count++;
    }
    client.destroy();
    assert.equal(callsAtFirst, 1, 'the first entry comes from the first page');
    assert.equal(count, N);
    // One ListObjectsV2 per 1000 keys (RGW may end with one empty page).
    assert.ok(listCalls >= N / 1000 && listCalls <= N / 1000 + 1, `${listCalls} ListObjectsV2 calls`);

    // listMetadata off: one request per 1000 entries (on, each entry costs a HEAD; see the MFMT test).
    const srv = await start({ config: fx.storageConfig({ listMetadata: false }) });
    const nlst = await run('curl', ['-sS', '-l', `${srv.url(ALICE)}/many/`], { timeoutMs: 120_000 });
    assert.equal(nlst.code, 0, nlst.stderr);
    assert.deepEqual(nlst.stdout.split(/\r?\n/).filter(Boolean), names);
    const list = await run('curl', ['-sS', `${srv.url(ALICE)}/many/`], { timeoutMs: 120_000 });
    assert.equal(list.stdout.split(/\r?\n/).filter(Boolean).length, N);
    const mlsd = await runPythonJson(
      join(tmp, 'mlsd.py'),
      String.raw`
import ftplib, json, sys
ftp = ftplib.FTP(timeout=60); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
entries = [(n, f['size']) for n, f in ftp.mlsd('/many', ['type', 'size']) if f['type'] == 'file']
print(json.dumps({'n': len(entries), 'first': entries[0], 'last': entries[-1]}))
`,
      [String(srv.port), ALICE.name, ALICE.password],
    );
    assert.deepEqual(mlsd, { n: N, first: ['obj-00000.dat', '13'], last: ['obj-09999.dat', '13'] });
  });

  test('per-user prefixes: each device sees only its own prefix as "/"; a user\'s own storage prefix and bucket', async (t) => {
    if (skip) return t.skip(skip);
    const other = await fx.extraBucket('other');
    const TENANT: TestUser & { storage?: unknown } = { name: 'tenant', password: 'tenant-secret' };
    const OTHER: TestUser = { name: 'elsewhere', password: 'elsewhere-secret' };
    const srv = await start({ users: [ALICE, DEV1, DEV2, TENANT, OTHER], config: fx.storageConfig() });
    // Per-user storage overrides live in the users file: add them to the generated one.
    const usersFile = join(srv.dir, 'users.yaml');
    const { parse, stringify } = await import('yaml');
    const users = parse(readFileSync(usersFile, 'utf8'));
    users.users.tenant.storage = { prefix: 'tenants/b/' };
    users.users.elsewhere.storage = { bucket: other };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(usersFile, stringify(users));
    await new Promise((r) => setTimeout(r, 1500)); // the server reloads the users file within a second

    const script = String.raw`
import ftplib, io, json, sys
port = int(sys.argv[1])
def session(user, pw):
    ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', port); ftp.login(user, pw); return ftp
out = {}
for user, pw in [('dev01', 'dev01-secret'), ('dev02', 'dev02-secret'), ('tenant', 'tenant-secret'), ('elsewhere', 'elsewhere-secret')]:
    ftp = session(user, pw)
    ftp.storbinary('STOR mine-%s.txt' % user, io.BytesIO(user.encode()))
    out[user] = {'pwd': ftp.pwd(), 'nlst': ftp.nlst()}
    try:
        ftp.cwd('..'); out[user]['up'] = ftp.pwd()
    except ftplib.all_errors as e:
        out[user]['up'] = str(e)
    ftp.quit()
print(json.dumps(out))
`;
    const r = await runPythonJson(join(tmp, 'users.py'), script, [String(srv.port)]);
    for (const u of ['dev01', 'dev02', 'tenant', 'elsewhere']) {
      assert.equal(r[u].pwd, '/');
      assert.deepEqual(r[u].nlst, [`mine-${u}.txt`], `${u} sees only its own files`);
      assert.equal(r[u].up, '/', `${u} cannot leave its root`);
    }
    const keys = await fx.keys();
    assert.ok(keys.includes('devices/dev01/mine-dev01.txt'));
    assert.ok(keys.includes('devices/dev02/mine-dev02.txt'));
    assert.ok(keys.includes('tenants/b/mine-tenant.txt'));
    const otherKeys = await (async () => {
      const c = s3Client(fx.env);
      const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
      const page = await c.send(new ListObjectsV2Command({ Bucket: other }));
      c.destroy();
      return (page.Contents ?? []).map((o) => o.Key);
    })();
    assert.deepEqual(otherKeys, ['mine-elsewhere.txt']);
    // alice (home "/") sees the devices' prefixes as directories.
    const alice = await run('curl', ['-sS', '-l', `${srv.url(ALICE)}/devices/`]);
    assert.deepEqual(alice.stdout.split(/\r?\n/).filter(Boolean), ['dev01', 'dev02']);
  });

  test('two ftpfleet processes sharing one bucket see each other\'s files', async (t) => {
    if (skip) return t.skip(skip);
    const a = await start({ config: { nodeId: 'node-a', ...fx.storageConfig() } });
    const b = await start({ config: { nodeId: 'node-b', ...fx.storageConfig() } });
    const src = join(tmp, 'shared.bin');
    makeRandomFile(src, 6 * 1024 * 1024 + 1);
    const up = await run('curl', ['-sS', '--ftp-create-dirs', '-T', src, `${a.url(ALICE)}/shared/from-a.bin`]);
    assert.equal(up.code, 0, up.stderr);
    const listB = await run('curl', ['-sS', '-l', `${b.url(ALICE)}/shared/`]);
    assert.deepEqual(listB.stdout.split(/\r?\n/).filter(Boolean), ['from-a.bin']);
    const dst = join(tmp, 'shared-down.bin');
    const down = await run('curl', ['-sS', '-o', dst, `${b.url(ALICE)}/shared/from-a.bin`]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await sha256File(dst), await sha256File(src));
    // And back: a delete through B is seen by A.
    const del = await run('curl', ['-sS', '-Q', '-DELE shared/from-a.bin', `${b.url(ALICE)}/`]);
    assert.equal(del.code, 0, del.stderr);
    const listA = await run('curl', ['-sS', '-l', `${a.url(ALICE)}/shared/`]);
    assert.deepEqual(listA.stdout.split(/\r?\n/).filter(Boolean), []);
  });

  test('readiness: 200 with a reachable bucket; a missing bucket gives 503, 451 replies and the S3 error in the log', async (t) => {
    if (skip) return t.skip(skip);
    const good = await start({ config: fx.storageConfig() });
    const ok = await readyz(good);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.checks.storage.ok, true);
    // A missing key in a good bucket: 550.
    const missing = await runPythonJson(
      join(tmp, 'missing.py'),
      String.raw`
import ftplib, io, json, sys
ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
def attempt(fn, *a):
    try:
        return fn(*a)
    except ftplib.all_errors as e:
        return str(e)
out = {'retr': attempt(ftp.retrbinary, 'RETR nothing-here.bin', lambda b: None), 'size': attempt(ftp.sendcmd, 'SIZE nothing-here.bin'),
       'list': attempt(ftp.nlst), 'stor': attempt(ftp.storbinary, 'STOR x.bin', io.BytesIO(b'x')), 'mkd': attempt(ftp.mkd, 'd')}
print(json.dumps(out))
`,
      [String(good.port), ALICE.name, ALICE.password],
    );
    assert.match(missing.retr, /^550/);
    assert.match(missing.size, /^550/);

    const bad = await start({ config: { storage: { backend: 's3', s3: s3Settings(fx.env, 'no-such-bucket-for-ftpfleet') } } });
    const warn = await bad.waitForLog((l) => l.msg === 'storage not reachable at start');
    assert.match(warn.err, /does not exist/);
    const r = await readyz(bad);
    assert.equal(r.status, 503);
    assert.equal(r.body.checks.storage.ok, false);
    assert.match(r.body.checks.storage.detail, /bucket "no-such-bucket-for-ftpfleet" does not exist/);
    const replies = await runPythonJson(
      join(tmp, 'bad.py'),
      String.raw`
import ftplib, io, json, sys
ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
def attempt(fn, *a):
    try:
        return fn(*a)
    except ftplib.all_errors as e:
        return str(e)
out = {'list': attempt(ftp.nlst), 'stor': attempt(ftp.storbinary, 'STOR x.bin', io.BytesIO(b'x')), 'mkd': attempt(ftp.mkd, 'd'), 'cwd': attempt(ftp.cwd, 'somewhere')}
print(json.dumps(out))
`,
      [String(bad.port), ALICE.name, ALICE.password],
    );
    for (const k of ['list', 'stor', 'mkd', 'cwd']) assert.match(replies[k], /^451 .*bucket "no-such-bucket-for-ftpfleet" does not exist/, `${k}: ${replies[k]}`);
    const line = await bad.waitForLog((l) => l.msg === 'command failed' && l.command === 'NLST');
    assert.equal(line.code, 451);
    assert.equal(line.cause.name, 'NoSuchBucket');
    assert.equal(line.cause.status, 404);
    assert.ok(line.cause.requestId, `request id in the log line: ${JSON.stringify(line.cause)}`);
  });

  test('throttling (503 SlowDown) is retried inside the node up to maxAttempts, then answered 451', async (t) => {
    if (skip) return t.skip(skip);
    // A stand-in endpoint that throttles every request, as S3 does under load.
    let requests = 0;
    const throttler: Server = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml', 'x-amz-request-id': `req-${requests}` });
      res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    });
    await new Promise<void>((r) => throttler.listen(0, '127.0.0.1', r));
    try {
      const port = (throttler.address() as import('node:net').AddressInfo).port;
      const srv = await start({
        config: { storage: { backend: 's3', s3: s3Settings({ ...fx.env, endpoint: `http://127.0.0.1:${port}` }, 'throttled', { maxAttempts: 3 }) } },
      });
      await srv.waitForLog((l) => l.msg === 'storage not reachable at start', 30_000);
      const before = requests;
      const r = await run('curl', ['-sS', '-l', `${srv.url(ALICE)}/`], { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      const line = await srv.waitForLog((l) => l.msg === 'command failed' && l.command === 'NLST', 30_000);
      assert.equal(line.code, 451);
      assert.match(line.err, /temporarily unavailable \(SlowDown, HTTP 503\)/);
      assert.equal(line.cause.name, 'SlowDown');
      assert.equal(line.cause.attempts, 3);
      assert.ok(line.cause.requestId?.startsWith('req-'));
      assert.ok(requests - before >= 3, `the SDK retried (${requests - before} requests)`);
    } finally {
      throttler.close();
    }
  });
});
