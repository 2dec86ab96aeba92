/**
 * S3 backend, commands: directories (MKD markers, RMD, CWD), DELE, RNFR/RNTO
 * of files and directories, SIZE/MDTM/MFMT, LIST/NLST/MLSD/MLST, through real
 * clients (Python's ftplib, basic-ftp, curl) against a real ftpfleet process
 * on a real S3-compatible server (Ceph RGW).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client } from 'basic-ftp';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { run, runPythonJson } from '../helpers/clients.js';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';
import { s3Fixture, type S3Fixture } from '../helpers/s3.js';

let fx: S3Fixture;
let srv: TestServer;
let tmp: string;
let skip: string | null = null;
let n = 0;

const PRELUDE = String.raw`
import ftplib, io, json, sys
PORT, USER, PASSWORD = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def connect():
    ftp = ftplib.FTP(timeout=30)
    ftp.connect('127.0.0.1', PORT)
    ftp.login(USER, PASSWORD)
    return ftp
def attempt(fn, *a):
    try:
        return fn(*a)
    except ftplib.all_errors as e:
        return 'ERR ' + str(e)
def put(ftp, name, data):
    return ftp.storbinary('STOR ' + name, io.BytesIO(data))
def get(ftp, name):
    buf = io.BytesIO()
    ftp.retrbinary('RETR ' + name, buf.write)
    return buf.getvalue().decode('latin-1')
`;

async function py(body: string): Promise<any> {
  return runPythonJson(join(tmp, `${++n}.py`), PRELUDE + body, [String(srv.port), ALICE.name, ALICE.password]);
}

async function put(key: string, body: string | Buffer = ''): Promise<void> {
  await fx.client.send(new PutObjectCommand({ Bucket: fx.bucket, Key: key, Body: body }));
}

before(async () => {
  const f = await s3Fixture('cmds');
  if ('skip' in f) {
    skip = f.skip;
    return;
  }
  fx = f;
  tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-s3-cmds-'));
  srv = await startServer({ config: fx.storageConfig({ renameDirMaxObjects: 5, copyPartSize: 5 * 1024 * 1024 }) });
});

after(async () => {
  await srv?.stop();
  await fx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('S3 commands', { timeout: 300_000 }, () => {
  test('MKD writes a marker so an empty directory exists; CWD into it, and into a missing one (550)', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
ftp = connect()
out = {}
out['mkd'] = ftp.mkd('empty')
out['mkd_again'] = attempt(ftp.mkd, 'empty')
out['mkd_nested_missing'] = attempt(ftp.mkd, 'nope/child')
out['list_root'] = ftp.nlst()
out['cwd'] = ftp.cwd('empty')
out['pwd'] = ftp.pwd()
out['nlst_empty'] = ftp.nlst()
out['cwd_missing'] = attempt(ftp.cwd, '/missing-prefix')
put(ftp, '/file.txt', b'x')
out['cwd_file'] = attempt(ftp.cwd, '/file.txt')
print(json.dumps(out))
`);
    assert.match(r.mkd, /\/empty/);
    assert.match(r.mkd_again, /^ERR 550/);
    assert.match(r.mkd_nested_missing, /^ERR 550/);
    assert.ok(r.list_root.includes('empty'));
    assert.match(r.cwd, /^250/);
    assert.equal(r.pwd, '/empty');
    assert.deepEqual(r.nlst_empty, []);
    assert.match(r.cwd_missing, /^ERR 550/);
    assert.match(r.cwd_file, /^ERR 550/);
    assert.ok((await fx.keys()).includes('empty/'), 'marker object "empty/"');
  });

  test('a directory that exists only as a key prefix (written by another S3 client) can be entered and listed', async (t) => {
    if (skip) return t.skip(skip);
    await put('implicit/deep/one.txt', '1');
    const r = await py(String.raw`
ftp = connect()
out = {'root': ftp.nlst(), 'cwd': ftp.cwd('/implicit'), 'inside': ftp.nlst(), 'mlsd': [(n, f['type']) for n, f in ftp.mlsd('/implicit/deep') if f['type'] in ('file', 'dir')]}
print(json.dumps(out))
`);
    assert.ok(r.root.includes('implicit'));
    assert.deepEqual(r.inside, ['deep']);
    assert.deepEqual(r.mlsd, [['one.txt', 'file']]);
  });

  test('RMD removes an empty directory, refuses a non-empty one (550) and a file (550)', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
ftp = connect()
out = {}
ftp.mkd('full'); put(ftp, 'full/a.txt', b'a')
ftp.mkd('gone')
out['rmd_full'] = attempt(ftp.rmd, 'full')
out['rmd_empty'] = ftp.rmd('gone')
out['rmd_again'] = attempt(ftp.rmd, 'gone')
put(ftp, 'plain.txt', b'p')
out['rmd_file'] = attempt(ftp.rmd, 'plain.txt')
out['rmd_root'] = attempt(ftp.rmd, '/')
print(json.dumps(out))
`);
    assert.match(r.rmd_full, /^ERR 550 .*not empty/);
    assert.match(r.rmd_empty, /^250/);
    assert.match(r.rmd_again, /^ERR 550/);
    assert.match(r.rmd_file, /^ERR 550/);
    assert.match(r.rmd_root, /^ERR 5/);
    const keys = await fx.keys();
    assert.ok(keys.includes('full/') && keys.includes('full/a.txt'));
    assert.ok(!keys.includes('gone/'));
  });

  test('DELE removes a file; a missing file and a directory get 550', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
ftp = connect()
put(ftp, 'del.txt', b'bye'); ftp.mkd('deldir')
out = {'dele': ftp.delete('del.txt'), 'again': attempt(ftp.delete, 'del.txt'), 'dir': attempt(ftp.delete, 'deldir'), 'retr': attempt(get, ftp, 'del.txt')}
print(json.dumps(out))
`);
    assert.match(r.dele, /^250/);
    assert.match(r.again, /^ERR 550/);
    assert.match(r.dir, /^ERR 550/);
    assert.match(r.retr, /^ERR 550/);
    assert.ok(!(await fx.keys()).includes('del.txt'));
  });

  test('SIZE and MDTM from object metadata; MFMT stores x-amz-meta-mtime, reported by MDTM, MLSD, MLST and LIST', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
ftp = connect()
put(ftp, 'timed.txt', b'0123456789')
out = {}
out['size'] = ftp.sendcmd('SIZE timed.txt')
out['mdtm_before'] = ftp.sendcmd('MDTM timed.txt')
out['mfmt'] = ftp.sendcmd('MFMT 20010203040506 timed.txt')
out['mdtm'] = ftp.sendcmd('MDTM timed.txt')
out['mlsd'] = [f['modify'] for n, f in ftp.mlsd('/', ['modify']) if n == 'timed.txt']
out['mlst'] = ftp.sendcmd('MLST timed.txt')
lines = []
ftp.retrlines('LIST', lines.append)
out['list'] = [l for l in lines if l.endswith('timed.txt')]
out['data'] = get(ftp, 'timed.txt')
out['mfmt_missing'] = attempt(ftp.sendcmd, 'MFMT 20010203040506 nope.txt')
print(json.dumps(out))
`);
    assert.equal(r.size, '213 10');
    assert.match(r.mdtm_before, new RegExp(`^213 ${new Date().getUTCFullYear()}`));
    assert.equal(r.mfmt, '213 Modify=20010203040506; timed.txt');
    assert.equal(r.mdtm, '213 20010203040506');
    assert.deepEqual(r.mlsd, ['20010203040506']);
    assert.match(r.mlst, /modify=20010203040506;/);
    assert.match(r.list[0], /Feb +3 +2001 timed\.txt$/);
    assert.equal(r.data, '0123456789', 'the content is unchanged');
    assert.match(r.mfmt_missing, /^ERR 550/);
    const head = await fx.client.send(new HeadObjectCommand({ Bucket: fx.bucket, Key: 'timed.txt' }));
    assert.equal(head.Metadata?.mtime, '981173106');
  });

  test('RNFR/RNTO of a file (copy then delete; metadata kept) and of a 12 MiB file (multipart copy)', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
import os, hashlib
ftp = connect()
put(ftp, 'old.txt', b'content')
ftp.sendcmd('MFMT 20100101000000 old.txt')
ftp.mkd('into')
out = {}
out['rename'] = ftp.rename('old.txt', 'into/new.txt')
out['old'] = attempt(ftp.size, 'old.txt')
out['new'] = get(ftp, 'into/new.txt')
out['mdtm'] = ftp.sendcmd('MDTM into/new.txt')
big = os.urandom(12 * 1024 * 1024 + 3)
put(ftp, 'big.bin', big)
out['rename_big'] = ftp.rename('big.bin', 'big-renamed.bin')
out['big_same'] = hashlib.sha256(get(ftp, 'big-renamed.bin').encode('latin-1')).hexdigest() == hashlib.sha256(big).hexdigest()
out['missing'] = attempt(ftp.rename, 'nope.txt', 'x.txt')
out['onto_dir'] = attempt(ftp.rename, 'into/new.txt', '/into')
out['no_parent'] = attempt(ftp.rename, 'into/new.txt', '/nodir/x.txt')
print(json.dumps(out))
`);
    assert.match(r.rename, /^250/);
    assert.match(r.old, /^ERR 550/);
    assert.equal(r.new, 'content');
    assert.equal(r.mdtm, '213 20100101000000', 'x-amz-meta-mtime survives the rename');
    assert.match(r.rename_big, /^250/);
    assert.equal(r.big_same, true);
    assert.match(r.missing, /^ERR 550/);
    assert.match(r.onto_dir, /^ERR 550/);
    assert.match(r.no_parent, /^ERR 550/);
    const keys = await fx.keys();
    assert.ok(!keys.includes('old.txt') && !keys.includes('big.bin'));
  });

  test('RNFR/RNTO of a directory up to renameDirMaxObjects; above it, a 550 that says why', async (t) => {
    if (skip) return t.skip(skip);
    const r = await py(String.raw`
ftp = connect()
ftp.mkd('small'); ftp.mkd('small/sub')
put(ftp, 'small/a.txt', b'a'); put(ftp, 'small/sub/b.txt', b'b')
ftp.mkd('large')
for i in range(6):
    put(ftp, 'large/f%d.txt' % i, b'x')
out = {}
out['small'] = ftp.rename('small', 'moved')
out['moved'] = sorted(ftp.nlst('/moved'))
out['sub'] = get(ftp, '/moved/sub/b.txt')
out['old'] = attempt(ftp.cwd, '/small')
out['into_itself'] = attempt(ftp.rename, 'moved', 'moved/sub/x')
out['large'] = attempt(ftp.rename, 'large', 'large2')
print(json.dumps(out))
`);
    assert.match(r.small, /^250/);
    assert.deepEqual(r.moved, ['a.txt', 'sub']);
    assert.equal(r.sub, 'b');
    assert.match(r.old, /^ERR 550/);
    assert.match(r.into_itself, /^ERR 55[03]/);
    assert.match(r.large, /^ERR 550 .*more than 5 objects.*renameDirMaxObjects/);
    const keys = await fx.keys();
    assert.ok(!keys.some((k) => k.startsWith('small/')), 'nothing left under the old name');
    assert.ok(keys.includes('moved/') && keys.includes('moved/sub/') && keys.includes('moved/a.txt') && keys.includes('moved/sub/b.txt'));
    assert.equal(keys.filter((k) => k.startsWith('large/')).length, 7, 'the refused directory is untouched');
    assert.ok(!keys.some((k) => k.startsWith('large2')));
  });

  test('basic-ftp: LIST (MLSD), uploadFrom/downloadTo, appendFrom, remove, rename', async (t) => {
    if (skip) return t.skip(skip);
    const client = new Client(30_000);
    try {
      await client.access({ host: '127.0.0.1', port: srv.port, user: ALICE.name, password: ALICE.password });
      await client.ensureDir('/bf');
      await client.uploadFrom(Readable.from([Buffer.from('hello ')]), 'greeting.txt');
      await client.appendFrom(Readable.from([Buffer.from('world')]), 'greeting.txt');
      const chunks: Buffer[] = [];
      const sink = new (await import('node:stream')).Writable({
        write(c, _e, cb) {
          chunks.push(c);
          cb();
        },
      });
      await client.downloadTo(sink, 'greeting.txt');
      assert.equal(Buffer.concat(chunks).toString(), 'hello world');
      await client.rename('greeting.txt', 'renamed.txt');
      const list = await client.list();
      assert.deepEqual(
        list.map((e) => [e.name, e.isDirectory, e.size]),
        [['renamed.txt', false, 11]],
      );
      await client.remove('renamed.txt');
      assert.deepEqual(await client.list(), []);
    } finally {
      client.close();
    }
  });

  test('curl: LIST and NLST of a directory, and a missing one (550)', async (t) => {
    if (skip) return t.skip(skip);
    await put('listed/', '');
    await put('listed/one.txt', '1');
    await put('listed/two.bin', Buffer.alloc(4096));
    await put('listed/sub/', '');
    const list = await run('curl', ['-sS', `${srv.url(ALICE)}/listed/`]);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.split(/\r?\n/).filter(Boolean);
    assert.equal(lines.length, 3, list.stdout);
    assert.match(lines.find((l) => l.endsWith(' sub'))!, /^d/);
    assert.match(lines.find((l) => l.endsWith(' two.bin'))!, /^-.* 4096 /);
    const nlst = await run('curl', ['-sS', '-l', `${srv.url(ALICE)}/listed/`]);
    assert.deepEqual(nlst.stdout.split(/\r?\n/).filter(Boolean), ['one.txt', 'sub', 'two.bin']);
    const missing = await run('curl', ['-sS', `${srv.url(ALICE)}/not-there/`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /550|9/);
  });

  test('HASH reads the object (SHA-256)', async (t) => {
    if (skip) return t.skip(skip);
    await put('hashme.txt', 'abc');
    const r = await py(String.raw`
ftp = connect()
print(json.dumps({'hash': ftp.sendcmd('HASH hashme.txt')}))
`);
    assert.equal(r.hash, '213 SHA-256 0-3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad hashme.txt');
  });
});
