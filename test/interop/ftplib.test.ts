/**
 * Interop: Python's ftplib against a real ftpfleet process.
 *
 * Each test writes a small Python script (a shared prelude plus its body) to
 * a temp file and runs it with python3; the script prints one JSON object of
 * what it saw, and the assertions are made here. The prelude's FTP subclass
 * records every command sent and every reply read.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRandomFile, run, sha256File } from '../helpers/clients.js';
import { ALICE, startServer, type TestServer, type TestUser } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const PRELUDE = String.raw`
import base64, ftplib, hashlib, io, json, os, re, socket, sys, time

HOST, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ARGS = json.loads(sys.argv[5])

class LoggingFTP(ftplib.FTP):
    """Records the commands sent and the replies read."""
    def __init__(self, *a, **k):
        self.sent = []
        self.replies = []
        super().__init__(*a, **k)
    def putcmd(self, line):
        self.sent.append(line)
        super().putcmd(line)
    def getmultiline(self):
        line = super().getmultiline()
        self.replies.append(line)
        return line

def connect(host=HOST, user=USER, password=PASSWORD):
    ftp = LoggingFTP(timeout=30)
    ftp.connect(host, PORT)
    ftp.login(user, password)
    return ftp

def verbs(ftp):
    return [l.split(' ')[0].upper() for l in ftp.sent]

def b64(data):
    return base64.b64encode(data).decode('ascii')

def sha256(data):
    return hashlib.sha256(data).hexdigest()

def recv_all(conn):
    chunks = []
    while True:
        d = conn.recv(65536)
        if not d:
            break
        chunks.append(d)
    return b''.join(chunks)

out = {}
`;

let srv: TestServer;
let tmp: string;
let counter = 0;

/** Runs a Python body after the prelude and returns the JSON object it built in "out". */
async function py(body: string, args: Record<string, unknown> = {}, host = '127.0.0.1', user: TestUser = ALICE): Promise<any> {
  const file = join(tmp, `script-${++counter}.py`);
  writeFileSync(file, `${PRELUDE}\n${body}\nprint(json.dumps(out))\n`);
  const r = await run('python3', [file, host, String(srv.port), user.name, user.password, JSON.stringify(args)], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, `python3 exited ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
  const last = r.stdout.trim().split('\n').at(-1)!;
  return JSON.parse(last);
}

const hex = (algo: string, data: Buffer) => createHash(algo).update(data).digest('hex');

interface Mode {
  name: string;
  host: string;
  pasv: boolean;
  /** Set ftp.af to AF_INET6 on an IPv4 connection so ftplib sends EPSV. */
  af6?: boolean;
  verb: 'PASV' | 'EPSV' | 'PORT' | 'EPRT';
  serverMode: 'passive' | 'active';
}

const MODES: Mode[] = [
  { name: 'PASV (set_pasv(True) on IPv4)', host: '127.0.0.1', pasv: true, verb: 'PASV', serverMode: 'passive' },
  { name: 'EPSV (IPv4 with ftp.af = AF_INET6)', host: '127.0.0.1', pasv: true, af6: true, verb: 'EPSV', serverMode: 'passive' },
  { name: 'EPSV (on ::1)', host: '::1', pasv: true, verb: 'EPSV', serverMode: 'passive' },
  { name: 'PORT (set_pasv(False) on IPv4)', host: '127.0.0.1', pasv: false, verb: 'PORT', serverMode: 'active' },
  { name: 'EPRT (set_pasv(False) on ::1)', host: '::1', pasv: false, verb: 'EPRT', serverMode: 'active' },
];

describe('Python ftplib interop', () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-ftplib-'));
    srv = await startServer();
  });

  after(async () => {
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const mode of MODES) {
    test(`${mode.name}: storbinary/retrbinary of 0 B, 1 KiB and 1 MiB with sha256`, async () => {
      const dir = `mode-${mode.verb.toLowerCase()}-${mode.host === '::1' ? 'v6' : 'v4'}${mode.af6 ? '-af' : ''}`;
      mkdirSync(join(srv.dataDir, dir));
      const files = [0, KiB, MiB].map((size) => {
        const path = join(tmp, `${dir}-${size}.bin`);
        makeRandomFile(path, size);
        return { size, path, name: `${size}.bin` };
      });
      const res = await py(
        String.raw`
ftp = connect(ARGS['host'])
ftp.set_pasv(ARGS['pasv'])
if ARGS.get('af6'):
    ftp.af = socket.AF_INET6
ftp.cwd(ARGS['dir'])
out['files'] = []
for f in ARGS['files']:
    with open(f['path'], 'rb') as fp:
        stor = ftp.storbinary('STOR ' + f['name'], fp)
    chunks = []
    retr = ftp.retrbinary('RETR ' + f['name'], chunks.append)
    data = b''.join(chunks)
    out['files'].append({'stor': stor, 'retr': retr, 'len': len(data), 'sha256': sha256(data)})
out['verbs'] = verbs(ftp)
out['sent'] = ftp.sent
ftp.quit()
`,
        { host: mode.host, pasv: mode.pasv, af6: mode.af6 ?? false, dir, files: files.map(({ path, name }) => ({ path, name })) },
        mode.host,
      );
      const sentVerbs: string[] = res.verbs;
      assert.equal(sentVerbs.filter((v) => v === mode.verb).length, 6, `expected 6 × ${mode.verb}; sent: ${res.sent.join(' | ')}`);
      for (const other of ['PASV', 'EPSV', 'PORT', 'EPRT'].filter((v) => v !== mode.verb)) {
        assert.ok(!sentVerbs.includes(other), `unexpected ${other}; sent: ${res.sent.join(' | ')}`);
      }
      if (mode.verb === 'EPRT') assert.ok(res.sent.some((l: string) => l.startsWith('EPRT |2|::1|')), res.sent.join(' | '));
      for (const [i, f] of files.entries()) {
        const want = await sha256File(f.path);
        const got = res.files[i];
        assert.match(got.stor, /^226/);
        assert.match(got.retr, /^226/);
        assert.equal(got.len, f.size);
        assert.equal(got.sha256, want, `download of ${f.name}`);
        assert.equal(await sha256File(join(srv.dataDir, dir, f.name)), want, `${f.name} on the server disk`);
        const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${dir}/${f.name}` && l.direction === 'upload');
        assert.equal(log.mode, mode.serverMode);
        assert.equal(log.client, mode.host);
        rmSync(f.path, { force: true });
      }
    });
  }

  test('TYPE A: LF on disk goes out as CRLF; storlines uploads with CRLF land as LF', async () => {
    mkdirSync(join(srv.dataDir, 'ascii'));
    const text = 'line one\nline two\n\ngrüße, ünïcødé\nlast line\n';
    writeFileSync(join(srv.dataDir, 'ascii', 'lf.txt'), text);
    const res = await py(String.raw`
ftp = connect()
ftp.cwd('ascii')
lines = []
out['retrlines'] = ftp.retrlines('RETR lf.txt', lines.append)
out['lines'] = lines
# The bytes on the wire in TYPE A. (ftplib's retrbinary always sends TYPE I
# first, so the TYPE A data connection is driven with transfercmd.)
out['typeA'] = ftp.sendcmd('TYPE A')
conn = ftp.transfercmd('RETR lf.txt')
out['wireA'] = b64(recv_all(conn))
conn.close()
out['wireAEnd'] = ftp.voidresp()
chunks = []
ftp.retrbinary('RETR lf.txt', chunks.append)
out['wireI'] = b64(b''.join(chunks))
ftp.storlines('STOR crlf-up.txt', io.BytesIO(b'alpha\r\nbeta\r\n\r\ngamma\r\n'))
ftp.storlines('STOR lf-up.txt', io.BytesIO(b'one\ntwo\n'))
# A TYPE A upload written by hand: CRLF split across sends, a lone CR kept.
ftp.sendcmd('TYPE A')
conn = ftp.transfercmd('STOR hand.txt')
conn.sendall(b'a\r')
time.sleep(0.05)
conn.sendall(b'\nb\rc\r\n')
conn.close()
out['handEnd'] = ftp.voidresp()
# TYPE I keeps CRLF as it is.
ftp.storbinary('STOR crlf-bin.txt', io.BytesIO(b'x\r\ny\r\n'))
out['verbs'] = verbs(ftp)
ftp.quit()
`);
    assert.match(res.retrlines, /^226/);
    assert.deepEqual(res.lines, ['line one', 'line two', '', 'grüße, ünïcødé', 'last line']);
    assert.match(res.typeA, /^200/);
    assert.equal(Buffer.from(res.wireA, 'base64').toString('utf8'), text.replace(/\n/g, '\r\n'));
    assert.match(res.wireAEnd, /^226/);
    assert.equal(Buffer.from(res.wireI, 'base64').toString('utf8'), text, 'TYPE I sends the bytes as stored');
    const disk = (name: string) => readFileSync(join(srv.dataDir, 'ascii', name), 'utf8');
    assert.equal(disk('crlf-up.txt'), 'alpha\nbeta\n\ngamma\n');
    assert.equal(disk('lf-up.txt'), 'one\ntwo\n');
    assert.equal(disk('hand.txt'), 'a\nb\rc\n');
    assert.equal(disk('crlf-bin.txt'), 'x\r\ny\r\n');
    // storlines and retrlines ask for TYPE A themselves.
    assert.ok(res.verbs.filter((v: string) => v === 'TYPE').length >= 4);
  });

  test('mlsd(), nlst(), size(), MDTM and MFMT', async () => {
    const dir = join(srv.dataDir, 'meta');
    mkdirSync(join(dir, 'sub dir'), { recursive: true });
    const data = Buffer.alloc(12345, 7);
    writeFileSync(join(dir, 'data.bin'), data);
    writeFileSync(join(dir, 'ünï côdé.txt'), 'x');
    const mtime = new Date(Date.UTC(2021, 5, 15, 12, 34, 56));
    utimesSync(join(dir, 'data.bin'), mtime, mtime);
    const res = await py(String.raw`
ftp = connect()
out['mlsd'] = [[n, f] for n, f in ftp.mlsd('meta')]
out['mlsdFew'] = [[n, f] for n, f in ftp.mlsd('meta', facts=['type', 'size'])]
out['nlst'] = ftp.nlst('meta')
ftp.cwd('meta')
out['nlstHere'] = ftp.nlst()
out['size'] = ftp.size('data.bin')
ftp.voidcmd('TYPE I')
out['sizeI'] = ftp.size('data.bin')
out['mdtm'] = ftp.sendcmd('MDTM data.bin')
out['mfmt'] = ftp.sendcmd('MFMT 20200102030405 data.bin')
out['mdtm2'] = ftp.sendcmd('MDTM data.bin')
try:
    ftp.size('no-such-file')
    out['sizeMissing'] = 'no error'
except ftplib.error_perm as e:
    out['sizeMissing'] = str(e)
try:
    ftp.size('sub dir')
    out['sizeDir'] = 'no error'
except ftplib.error_perm as e:
    out['sizeDir'] = str(e)
ftp.quit()
`);
    const mlsd = new Map<string, Record<string, string>>(res.mlsd);
    assert.equal(mlsd.get('data.bin')?.type, 'file');
    assert.equal(mlsd.get('data.bin')?.size, '12345');
    assert.match(mlsd.get('data.bin')?.modify ?? '', /^20210615123456(\.\d+)?$/);
    assert.equal(mlsd.get('sub dir')?.type, 'dir');
    assert.equal(mlsd.get('ünï côdé.txt')?.size, '1');
    assert.equal(mlsd.get('.')?.type, 'cdir');
    assert.equal(mlsd.size, 4, JSON.stringify(res.mlsd));
    const few = new Map<string, Record<string, string>>(res.mlsdFew);
    assert.deepEqual(few.get('data.bin'), { type: 'file', size: '12345' });
    const base = (p: string) => p.split('/').at(-1)!;
    assert.deepEqual(res.nlst.map(base).sort(), ['data.bin', 'sub dir', 'ünï côdé.txt']);
    assert.deepEqual([...res.nlstHere].sort(), ['data.bin', 'sub dir', 'ünï côdé.txt']);
    assert.equal(res.size, 12345);
    assert.equal(res.sizeI, 12345);
    assert.equal(res.mdtm, '213 20210615123456');
    assert.match(res.mfmt, /^213 Modify=20200102030405/);
    assert.equal(res.mdtm2, '213 20200102030405');
    assert.equal(statSync(join(dir, 'data.bin')).mtime.getTime(), Date.UTC(2020, 0, 2, 3, 4, 5));
    assert.match(res.sizeMissing, /^550/);
    assert.match(res.sizeDir, /^550/);
  });

  test('HASH with OPTS HASH SHA-256 / SHA-1 / MD5 matches hashlib', async () => {
    mkdirSync(join(srv.dataDir, 'hashes'));
    const content = Buffer.concat([Buffer.from('hash me\n'), Buffer.alloc(300 * KiB, 0xab)]);
    writeFileSync(join(srv.dataDir, 'hashes', 'file one.bin'), content);
    const res = await py(String.raw`
ftp = connect()
out['default'] = ftp.sendcmd('HASH hashes/file one.bin')
out['algos'] = {}
for algo in ['SHA-256', 'SHA-1', 'MD5']:
    opts = ftp.sendcmd('OPTS HASH ' + algo)
    reply = ftp.sendcmd('HASH hashes/file one.bin')
    feat = ftp.sendcmd('FEAT')
    with open(ARGS['path'], 'rb') as fp:
        local = hashlib.new(algo.replace('-', '').lower(), fp.read()).hexdigest()
    out['algos'][algo] = {'opts': opts, 'reply': reply, 'local': local, 'feat': feat}
out['query'] = ftp.sendcmd('OPTS HASH')
try:
    ftp.sendcmd('OPTS HASH CRC-99')
    out['bad'] = 'no error'
except ftplib.error_perm as e:
    out['bad'] = str(e)
try:
    ftp.sendcmd('HASH hashes/missing.bin')
    out['missing'] = 'no error'
except ftplib.error_perm as e:
    out['missing'] = str(e)
ftp.quit()
`, { path: join(srv.dataDir, 'hashes', 'file one.bin') });
    assert.equal(res.default, `213 SHA-256 0-${content.length} ${hex('sha256', content)} hashes/file one.bin`);
    const nodeAlgo: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-1': 'sha1', MD5: 'md5' };
    for (const [algo, r] of Object.entries<any>(res.algos)) {
      assert.equal(r.opts, `200 ${algo}`);
      const m = /^213 (\S+) (\d+)-(\d+) ([0-9a-f]+) (.+)$/.exec(r.reply);
      assert.ok(m, r.reply);
      assert.equal(m![1], algo);
      assert.equal(Number(m![2]), 0);
      assert.equal(Number(m![3]), content.length);
      assert.equal(m![4], r.local, `${algo} against hashlib`);
      assert.equal(m![4], hex(nodeAlgo[algo]!, content));
      assert.equal(m![5], 'hashes/file one.bin');
      // FEAT marks the selected algorithm with "*".
      const hashLine = (r.feat as string).split(/\r?\n/).find((l) => l.startsWith(' HASH '));
      assert.ok(hashLine, r.feat);
      assert.ok(hashLine!.includes(`${algo}*`), hashLine);
      assert.equal((hashLine!.match(/\*/g) ?? []).length, 1, hashLine);
    }
    assert.equal(res.query, '200 MD5');
    assert.match(res.bad, /^50[14]/);
    assert.match(res.missing, /^550/);
  });

  test('FEAT lists MLST, SIZE, MDTM, MFMT, REST STREAM, EPSV, EPRT, UTF8, HASH, HOST, CLNT', async () => {
    const res = await py(String.raw`
ftp = LoggingFTP(timeout=30)
ftp.connect(HOST, PORT)
out['before'] = ftp.sendcmd('FEAT')
ftp.login(USER, PASSWORD)
out['after'] = ftp.sendcmd('FEAT')
ftp.quit()
`);
    for (const feat of [res.before, res.after] as string[]) {
      const lines = feat.split(/\r?\n/);
      assert.match(lines[0]!, /^211-/);
      assert.match(lines.at(-1)!, /^211 /);
      const body = lines.slice(1, -1);
      for (const l of body) assert.match(l, /^ \S/, `feature lines start with one space: ${JSON.stringify(l)}`);
      const names = new Set(body.map((l) => l.trim().split(' ')[0]));
      for (const want of ['MLST', 'SIZE', 'MDTM', 'MFMT', 'EPSV', 'EPRT', 'UTF8', 'HASH', 'HOST', 'CLNT']) {
        assert.ok(names.has(want), `FEAT lacks ${want}:\n${feat}`);
      }
      assert.ok(body.includes(' REST STREAM'), `FEAT lacks REST STREAM:\n${feat}`);
      const mlst = body.find((l) => l.startsWith(' MLST '))!;
      for (const fact of ['type', 'size', 'modify']) assert.match(mlst, new RegExp(`${fact}\\*?;`, 'i'));
    }
  });

  test('ftp.abort() during a large RETR: 426 then 226, and the session goes on', async () => {
    const big = join(srv.dataDir, 'abort-big.bin');
    makeRandomFile(big, 64 * MiB);
    writeFileSync(join(srv.dataDir, 'after-abort.txt'), 'still working\n');
    try {
      for (const pasv of [true, false]) {
        const res = await py(
          String.raw`
ftp = connect()
ftp.set_pasv(ARGS['pasv'])
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('RETR abort-big.bin')
got = 0
while got < 1024 * 1024:
    d = conn.recv(65536)
    if not d:
        break
    got += len(d)
out['got'] = got
out['abort'] = ftp.abort()
conn.close()
# ftplib reads one reply in abort(); the second one follows.
out['second'] = ftp.getmultiline()
out['noop'] = ftp.sendcmd('NOOP')
out['pwd'] = ftp.pwd()
chunks = []
out['retr'] = ftp.retrbinary('RETR after-abort.txt', chunks.append)
out['data'] = b''.join(chunks).decode()
ftp.quit()
`,
          { pasv },
        );
        assert.equal(res.got >= MiB, true, `read ${res.got} bytes before ABOR`);
        assert.match(res.abort, /^426/, `first reply to ABOR (${pasv ? 'passive' : 'active'})`);
        assert.match(res.second, /^226/, `second reply to ABOR (${pasv ? 'passive' : 'active'})`);
        assert.match(res.noop, /^200/);
        assert.equal(res.pwd, '/');
        assert.match(res.retr, /^226/);
        assert.equal(res.data, 'still working\n');
        const log = await srv.waitForLog(
          (l) => l.msg === 'transfer' && l.path === '/abort-big.bin' && l.mode === (pasv ? 'passive' : 'active') && l.result !== 'ok',
        );
        assert.equal(log.result, 'aborted');
        assert.ok(log.bytes < 64 * MiB);
      }
    } finally {
      rmSync(big, { force: true });
    }
  });

  test('REST resume: retrbinary(rest=N) and storbinary(rest=N)', async () => {
    const content = Buffer.alloc(3 * MiB + 17);
    for (let i = 0; i < content.length; i += 4096) content.writeUInt32BE(i, i);
    writeFileSync(join(srv.dataDir, 'rest-src.bin'), content);
    const localFull = join(tmp, 'rest-full.bin');
    writeFileSync(localFull, content);
    const offset = 1 * MiB + 5;
    const res = await py(
      String.raw`
ftp = connect()
chunks = []
out['retr'] = ftp.retrbinary('RETR rest-src.bin', chunks.append, rest=ARGS['offset'])
data = b''.join(chunks)
out['len'] = len(data)
out['sha256'] = sha256(data)
# An interrupted upload: the first part, then the rest from the offset with REST + STOR.
with open(ARGS['full'], 'rb') as fp:
    head = fp.read(ARGS['offset'])
ftp.storbinary('STOR rest-up.bin', io.BytesIO(head))
with open(ARGS['full'], 'rb') as fp:
    fp.seek(ARGS['offset'])
    out['stor'] = ftp.storbinary('STOR rest-up.bin', fp, rest=ARGS['offset'])
# REST past the end of the file is refused.
try:
    ftp.retrbinary('RETR rest-src.bin', chunks.append, rest=ARGS['size'] + 1)
    out['past'] = 'no error'
except ftplib.error_perm as e:
    out['past'] = str(e)
out['sent'] = ftp.sent
ftp.quit()
`,
      { offset, full: localFull, size: content.length },
    );
    assert.ok(res.sent.includes(`REST ${offset}`), res.sent.join(' | '));
    assert.match(res.retr, /^226/);
    assert.equal(res.len, content.length - offset);
    assert.equal(res.sha256, hex('sha256', content.subarray(offset)));
    assert.match(res.stor, /^226/);
    assert.equal(await sha256File(join(srv.dataDir, 'rest-up.bin')), hex('sha256', content));
    assert.match(res.past, /^5\d\d/);
    rmSync(localFull, { force: true });
  });

  test('STOU stores under a unique name given in the 150 reply', async () => {
    mkdirSync(join(srv.dataDir, 'unique'));
    writeFileSync(join(srv.dataDir, 'unique', 'report.txt'), 'existing\n');
    const res = await py(String.raw`
ftp = connect()
ftp.cwd('unique')
out['results'] = []
for i, cmd in enumerate(['STOU', 'STOU', 'STOU report.txt', 'STOU fresh.txt']):
    n = len(ftp.replies)
    end = ftp.storbinary(cmd, io.BytesIO(('upload %d\n' % i).encode()))
    out['results'].append({'cmd': cmd, 'replies': ftp.replies[n:], 'end': end})
ftp.quit()
`);
    const names: string[] = [];
    for (const [i, r] of (res.results as any[]).entries()) {
      const prelim = (r.replies as string[]).find((x) => x.startsWith('150'));
      assert.ok(prelim, `${r.cmd}: ${JSON.stringify(r.replies)}`);
      const m = /FILE: (.+?)\.?$/.exec(prelim!);
      assert.ok(m, `${r.cmd}: 150 names the file: ${prelim}`);
      const name = m![1]!.replace(/\.$/, '');
      assert.match(r.end, /^2\d\d/);
      assert.equal(readFileSync(join(srv.dataDir, 'unique', name), 'utf8'), `upload ${i}\n`, `${r.cmd} stored as ${name}`);
      names.push(name);
    }
    assert.equal(new Set(names).size, 4, `names are unique: ${names.join(', ')}`);
    assert.notEqual(names[2], 'report.txt', 'an existing file is never overwritten');
    assert.equal(readFileSync(join(srv.dataDir, 'unique', 'report.txt'), 'utf8'), 'existing\n');
    assert.equal(names[3], 'fresh.txt', 'a free hint is used as given');
    assert.equal(readdirSync(join(srv.dataDir, 'unique')).filter((n) => !n.startsWith('.')).length, 5);
  });

  test('STAT during a transfer reports the node and the bytes moved so far', async () => {
    const big = join(srv.dataDir, 'stat-big.bin');
    const size = 48 * MiB;
    makeRandomFile(big, size);
    try {
      const res = await py(String.raw`
ftp = connect()
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('RETR stat-big.bin')
got = 0
while got < 2 * 1024 * 1024:
    got += len(conn.recv(65536))
out['stat1'] = ftp.sendcmd('STAT')
while got < 20 * 1024 * 1024:
    got += len(conn.recv(65536))
out['stat2'] = ftp.sendcmd('STAT')
while True:
    d = conn.recv(1 << 20)
    if not d:
        break
    got += len(d)
conn.close()
out['end'] = ftp.voidresp()
out['got'] = got
out['idle'] = ftp.sendcmd('STAT')
ftp.quit()
`);
      const bytesOf = (r: string) => {
        assert.match(r, /^213 /, r);
        assert.match(r, /stat-big\.bin/, r);
        assert.match(r, /\bnode test-node\b/, r);
        const m = /(\d+) bytes/.exec(r);
        assert.ok(m, `STAT reply mentions bytes: ${r}`);
        return Number(m![1]);
      };
      const b1 = bytesOf(res.stat1);
      const b2 = bytesOf(res.stat2);
      assert.ok(b1 >= 2 * MiB && b1 <= size, `first STAT: ${b1}`);
      assert.ok(b2 >= 20 * MiB && b2 <= size, `second STAT: ${b2}`);
      assert.ok(b2 > b1);
      assert.match(res.end, /^226/);
      assert.equal(res.got, size);
      assert.match(res.idle, /^211/, 'STAT with no transfer gives the session status');
    } finally {
      rmSync(big, { force: true });
    }
  });

  test('UTF-8 names with storbinary, nlst and rename', async () => {
    const res = await py(String.raw`
ftp = connect()
ftp.mkd('dossier été')
ftp.cwd('dossier été')
ftp.storbinary('STOR 数据 1.bin', io.BytesIO(b'\x00\x01\x02'))
ftp.rename('数据 1.bin', 'données ☃.bin')
out['nlst'] = ftp.nlst()
chunks = []
ftp.retrbinary('RETR données ☃.bin', chunks.append)
out['data'] = b64(b''.join(chunks))
out['pwd'] = ftp.pwd()
ftp.quit()
`);
    assert.deepEqual(res.nlst, ['données ☃.bin']);
    assert.equal(Buffer.from(res.data, 'base64').toString('hex'), '000102');
    assert.equal(res.pwd, '/dossier été');
    assert.ok(existsSync(join(srv.dataDir, 'dossier été', 'données ☃.bin')));
  });
});
