/**
 * S3 backend, transfers: uploads and downloads through a real ftpfleet
 * process into a real S3-compatible server (Ceph RGW on loopback), with curl,
 * lftp and Python's ftplib: 0 B, 1 KiB, 7 MiB (crosses a 5 MiB part) and
 * 200 MiB with sha256; REST downloads; APPE and REST+STOR composed on S3;
 * uploads killed mid-way (client killed; node SIGKILLed, then
 * `ftpfleet s3 cleanup`) leave no object and no multipart upload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetBucketLifecycleConfigurationCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { eventually, makeRandomFile, run, sha256File, type RunResult } from '../helpers/clients.js';
import { ALICE, CLI, startServer, type TestServer } from '../helpers/server.js';
import { s3Fixture, type S3Fixture } from '../helpers/s3.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let fx: S3Fixture;
let srv: TestServer;
let tmp: string;
let skip: string | null = null;
let n = 0;

const local = (name: string) => join(tmp, `${++n}-${name}`);

async function curl(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run('curl', ['-sS', '-v', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeoutMs: timeoutMs + 5000 });
}

function ok(r: RunResult, what: string): void {
  const convo = r.stderr.split('\n').filter((l) => l.startsWith('> ') || l.startsWith('< ') || l.startsWith('curl:')).join('\n');
  assert.equal(r.code, 0, `${what}: curl exited ${r.code}\n${convo}`);
}

function url(path: string): string {
  return `${srv.url(ALICE)}${path}`;
}

async function objectBytes(key: string): Promise<Buffer> {
  const got = await fx.client.send(new GetObjectCommand({ Bucket: fx.bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

before(async () => {
  const f = await s3Fixture('xfer');
  if ('skip' in f) {
    skip = f.skip;
    return;
  }
  fx = f;
  tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-s3-xfer-'));
  srv = await startServer({ config: fx.storageConfig() });
});

after(async () => {
  await srv?.stop();
  await fx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('S3 transfers (curl, lftp, ftplib)', { timeout: 600_000 }, () => {
  for (const [label, size] of [
    ['0 B', 0],
    ['1 KiB', KiB],
    ['7 MiB (two parts of 5 MiB)', 7 * MiB],
    ['200 MiB', 200 * MiB],
  ] as const) {
    test(`curl: upload and download of ${label}, same sha256`, async (t) => {
      if (skip) return t.skip(skip);
      const src = local('up.bin');
      makeRandomFile(src, size);
      const want = await sha256File(src);
      const name = `file-${size}.bin`;
      ok(await curl(['-T', src, url(`/${name}`)], 300_000), 'upload');
      const head = await fx.client.send(new HeadObjectCommand({ Bucket: fx.bucket, Key: name }));
      assert.equal(head.ContentLength, size);
      const dst = local('down.bin');
      ok(await curl(['-o', dst, url(`/${name}`)], 300_000), 'download');
      assert.equal(statSync(dst).size, size);
      assert.equal(await sha256File(dst), want);
      const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${name}` && l.direction === 'upload');
      assert.equal(log.result, 'ok');
      assert.deepEqual(await fx.multipartUploads(), [], 'no multipart upload left');
      rmSync(src);
      rmSync(dst);
    });
  }

  test('curl: REST download (-C -) of a 7 MiB object, from a ranged GET', async (t) => {
    if (skip) return t.skip(skip);
    const src = local('rest.bin');
    makeRandomFile(src, 7 * MiB + 99);
    ok(await curl(['-T', src, url('/rest.bin')]), 'upload');
    const dst = local('rest-down.bin');
    const partial = 3 * MiB + 5;
    writeFileSync(dst, readFileSync(src).subarray(0, partial));
    const r = await curl(['-C', '-', '-o', dst, url('/rest.bin')]);
    ok(r, 'resumed download');
    assert.ok(r.stderr.includes(`> REST ${partial}`), 'curl sent REST');
    assert.equal(await sha256File(dst), await sha256File(src));
    const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/rest.bin' && l.direction === 'download' && l.bytes === 7 * MiB + 99 - partial);
    assert.equal(log.result, 'ok');
  });

  test('curl: APPE onto a small object (kept bytes sent as the first part) and onto a 6 MiB one (UploadPartCopy)', async (t) => {
    if (skip) return t.skip(skip);
    const a = local('a.txt');
    const b = local('b.txt');
    writeFileSync(a, 'first part\n');
    writeFileSync(b, 'second part\n');
    ok(await curl(['-T', a, url('/appended.txt')]), 'first');
    ok(await curl(['--append', '-T', b, url('/appended.txt')]), 'append');
    assert.equal((await objectBytes('appended.txt')).toString(), 'first part\nsecond part\n');
    // APPE to a missing file creates it.
    ok(await curl(['--append', '-T', b, url('/appended-new.txt')]), 'append new');
    assert.equal((await objectBytes('appended-new.txt')).toString(), 'second part\n');

    const big = local('big.bin');
    makeRandomFile(big, 6 * MiB + 1);
    const tail = local('tail.bin');
    makeRandomFile(tail, 6 * MiB + 7);
    ok(await curl(['-T', big, url('/big-appended.bin')]), 'big');
    ok(await curl(['--append', '-T', tail, url('/big-appended.bin')]), 'append big');
    const both = local('both.bin');
    writeFileSync(both, Buffer.concat([readFileSync(big), readFileSync(tail)]));
    const dst = local('big-down.bin');
    ok(await curl(['-o', dst, url('/big-appended.bin')]), 'download');
    assert.equal(await sha256File(dst), await sha256File(both));
    assert.deepEqual(await fx.multipartUploads(), []);
  });

  test('curl -C - -T: resumed upload (SIZE + APPE) of an interrupted 12 MiB upload', async (t) => {
    if (skip) return t.skip(skip);
    const full = local('resume.bin');
    makeRandomFile(full, 12 * MiB + 4321);
    const half = local('half.bin');
    writeFileSync(half, readFileSync(full).subarray(0, 6 * MiB));
    ok(await curl(['-T', half, url('/resumed.bin')]), 'first half');
    const r = await curl(['-C', '-', '-T', full, url('/resumed.bin')]);
    ok(r, 'resume');
    assert.ok(r.stderr.includes('> APPE resumed.bin') || r.stderr.includes('> APPE /resumed.bin') || /> APPE /.test(r.stderr), 'curl used APPE');
    const dst = local('resumed-down.bin');
    ok(await curl(['-o', dst, url('/resumed.bin')]), 'download');
    assert.equal(await sha256File(dst), await sha256File(full));
  });

  test('lftp: REST + STOR (put -c) keeps the first bytes and writes the rest after them', async (t) => {
    if (skip) return t.skip(skip);
    const full = local('lftp-full.bin');
    makeRandomFile(full, 3 * MiB + 17);
    // The interrupted first attempt: the first 1 MiB + 3 bytes are on S3.
    const first = readFileSync(full).subarray(0, MiB + 3);
    await fx.client.send(new PutObjectCommand({ Bucket: fx.bucket, Key: 'lftp-resume.bin', Body: first }));
    const script = [
      'set cmd:fail-exit yes',
      'set ftp:ssl-allow no',
      'set net:max-retries 1',
      `open -u ${ALICE.name},${ALICE.password} -p ${srv.port} 127.0.0.1`,
      `put -c ${full} -o lftp-resume.bin`,
      'quote SIZE lftp-resume.bin',
    ].join('\n');
    const r = await run('lftp', ['-d', '-c', script], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.ok(/REST 1048579/.test(r.stderr), `lftp sent REST: ${r.stderr.slice(-2000)}`);
    const got = await objectBytes('lftp-resume.bin');
    assert.equal(got.length, 3 * MiB + 17);
    assert.ok(got.equals(readFileSync(full)));
  });

  test('ftplib: REST past the end of the file is refused (554), the object is untouched', async (t) => {
    if (skip) return t.skip(skip);
    await fx.client.send(new PutObjectCommand({ Bucket: fx.bucket, Key: 'short.txt', Body: 'short' }));
    const script = String.raw`
import ftplib, io, json, sys
ftp = ftplib.FTP(timeout=30); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
try:
    ftp.storbinary('STOR short.txt', io.BytesIO(b'xyz'), rest=100)
    r = 'accepted'
except ftplib.error_perm as e:
    r = str(e)
print(json.dumps({'r': r}))
`;
    const file = local('rest-past.py');
    writeFileSync(file, script);
    const out = await run('python3', [file, String(srv.port), ALICE.name, ALICE.password]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(JSON.parse(out.stdout.trim().split('\n').at(-1)!).r, /^554 .*past the end/);
    assert.equal((await objectBytes('short.txt')).toString(), 'short');
  });

  test('a client killed mid-upload (data connection reset): no object, no multipart upload', async (t) => {
    if (skip) return t.skip(skip);
    // ftplib sends 12 MiB (two 5 MiB parts reach S3) and then stalls; the data
    // socket has SO_LINGER 0, so the kill resets it as a crash or a broken network would.
    const script = String.raw`
import ftplib, os, socket, struct, sys, time
ftp = ftplib.FTP(timeout=60); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('STOR killed.bin')
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
block = os.urandom(1 << 20)
for _ in range(12):
    conn.sendall(block)
print('sent', flush=True)
time.sleep(120)
`;
    const file = local('killed.py');
    writeFileSync(file, script);
    const child = spawn('python3', [file, String(srv.port), ALICE.name, ALICE.password], { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = await eventually(async () => (await fx.multipartUploads()).find((u) => u.Key === 'killed.bin'), 30_000);
    assert.ok(started, 'the multipart upload started');
    assert.ok(!(await fx.keys()).includes('killed.bin'), 'nothing visible under the name while the upload runs');
    child.kill('SIGKILL');
    const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/killed.bin', 20_000);
    assert.notEqual(log.result, 'ok', JSON.stringify(srv.logs.filter((l) => l.msg === 'transfer' || l.msg === 'command failed' || l.msg === 'closing session').slice(-6)));
    const gone = await eventually(async () => (await fx.multipartUploads()).length === 0, 10_000);
    assert.ok(gone, `multipart upload aborted: ${JSON.stringify(await fx.multipartUploads())}`);
    assert.ok(!(await fx.keys()).includes('killed.bin'), 'no object under the name');
  });

  test('curl killed mid-upload (both connections closed at once): no object, no multipart upload', async (t) => {
    if (skip) return t.skip(skip);
    const src = local('curl-killed.bin');
    makeRandomFile(src, 40 * MiB);
    const child = spawn('curl', ['-sS', '--limit-rate', '4M', '-T', src, url('/curl-killed.bin')], { stdio: 'ignore' });
    const started = await eventually(async () => (await fx.multipartUploads()).find((u) => u.Key === 'curl-killed.bin'), 30_000);
    assert.ok(started, 'the multipart upload started');
    child.kill('SIGKILL');
    const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/curl-killed.bin', 20_000);
    assert.notEqual(log.result, 'ok', JSON.stringify(log));
    const gone = await eventually(async () => (await fx.multipartUploads()).length === 0, 10_000);
    assert.ok(gone, 'multipart upload aborted');
    assert.ok(!(await fx.keys()).includes('curl-killed.bin'), 'no object under the name');
    rmSync(src);
  });

  test('ABOR during an upload aborts the multipart upload', async (t) => {
    if (skip) return t.skip(skip);
    const script = String.raw`
import ftplib, os, sys, time, json
ftp = ftplib.FTP(timeout=60); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('STOR abor.bin')
block = os.urandom(1 << 20)
for _ in range(11):
    conn.sendall(block)
time.sleep(1.5)
ftp.putcmd('ABOR')
replies = [ftp.getline(), ftp.getline()]
conn.close()
print(json.dumps({'replies': replies}))
`;
    const file = local('abor.py');
    writeFileSync(file, script);
    const out = await run('python3', [file, String(srv.port), ALICE.name, ALICE.password], { timeoutMs: 60_000 });
    assert.equal(out.code, 0, out.stderr);
    const replies: string[] = JSON.parse(out.stdout.trim().split('\n').at(-1)!).replies;
    assert.match(replies[0]!, /^426/);
    assert.match(replies[1]!, /^226/);
    const gone = await eventually(async () => (await fx.multipartUploads()).length === 0, 10_000);
    assert.ok(gone, 'multipart upload aborted');
    assert.ok(!(await fx.keys()).includes('abor.bin'));
  });

  test('the node SIGKILLed mid-upload: no object; `ftpfleet s3 cleanup` aborts the orphaned multipart upload', async (t) => {
    if (skip) return t.skip(skip);
    const node = await startServer({ config: fx.storageConfig() });
    const script = String.raw`
import ftplib, os, sys, time
ftp = ftplib.FTP(timeout=60); ftp.connect('127.0.0.1', int(sys.argv[1])); ftp.login(sys.argv[2], sys.argv[3])
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('STOR orphan.bin')
block = os.urandom(1 << 20)
try:
    for _ in range(12):
        conn.sendall(block)
    time.sleep(60)
except OSError:
    pass
`;
    const file = local('orphan.py');
    writeFileSync(file, script);
    const child = spawn('python3', [file, String(node.port), ALICE.name, ALICE.password], { stdio: 'ignore' });
    try {
      const started = await eventually(async () => (await fx.multipartUploads()).find((u) => u.Key === 'orphan.bin'), 30_000);
      assert.ok(started, 'the multipart upload started');
      await node.stop('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    assert.ok(!(await fx.keys()).includes('orphan.bin'), 'nothing visible under the name');
    assert.equal((await fx.multipartUploads()).filter((u) => u.Key === 'orphan.bin').length, 1, 'the dead node left its multipart upload');

    // The cleanup command, with the same config a node uses.
    const cfgDir = mkdtempSync(join(tmpdir(), 'ftpfleet-s3-cleanup-'));
    const cfg = join(cfgDir, 'config.yaml');
    writeFileSync(cfg, JSON.stringify(fx.storageConfig()));
    const dry = await run(process.execPath, [CLI, 's3', 'cleanup', '-c', cfg, '--older-than', '0s', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /stale orphan\.bin/);
    assert.equal((await fx.multipartUploads()).length, 1, 'dry run aborts nothing');
    // Uploads younger than --older-than are left alone (they may still be running).
    const young = await run(process.execPath, [CLI, 's3', 'cleanup', '-c', cfg, '--older-than', '1h']);
    assert.equal(young.code, 0, young.stderr);
    assert.match(young.stdout, /^0 multipart upload/m);
    const r = await run(process.execPath, [CLI, 's3', 'cleanup', '-c', cfg, '--older-than', '0s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /aborted orphan\.bin/);
    assert.deepEqual(await fx.multipartUploads(), [], 'no multipart upload left');
    assert.ok(!(await fx.keys()).includes('orphan.bin'));
    // The lifecycle rule that does the same after whole days, without a cron job.
    const lc = await run(process.execPath, [CLI, 's3', 'lifecycle', '-c', cfg, '--days', '2', '--apply']);
    assert.equal(lc.code, 0, lc.stderr);
    const rules = await fx.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: fx.bucket }));
    assert.equal(rules.Rules?.[0]?.AbortIncompleteMultipartUpload?.DaysAfterInitiation, 2);
    rmSync(cfgDir, { recursive: true, force: true });
  });
});
