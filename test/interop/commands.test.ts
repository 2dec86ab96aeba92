/**
 * Exact replies of the smaller commands against a real ftpfleet process
 * (RFC 959, 2428, 3659, 7151), REST past the end of a file, RMD of the root
 * and of a directory holding only leftover temp uploads, REIN resetting the
 * session's settings, NLST globs as clients use them (raw, ftplib, lftp),
 * anonymous access, and passwords kept out of the logs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runPythonJson } from '../helpers/clients.js';
import { passivePort, RawClient, type RawReply } from '../helpers/rawClient.js';
import { ALICE, READER, startServer, type TestServer } from '../helpers/server.js';

const TEMP_PREFIX = '.ftpfleet-upload-';

function openData(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve) => s.once('close', () => resolve(Buffer.concat(chunks))));
}

interface DataResult {
  first: RawReply;
  last: RawReply | null;
  data: Buffer;
}

/** PASV, then `command` over a plain data connection: its replies and what came over it (`upload` is sent). */
async function dataCommand(c: RawClient, command: string, upload?: Buffer): Promise<DataResult> {
  const socket = await openData(passivePort(await c.cmd('PASV')), c.socket.localAddress!);
  const received = collect(socket);
  const first = await c.cmd(command);
  if (first.code !== 150) {
    socket.destroy();
    return { first, last: null, data: Buffer.alloc(0) };
  }
  if (upload) socket.end(upload);
  const data = await received;
  return { first, last: await c.read(), data };
}

async function loggedIn(srv: TestServer, user = ALICE): Promise<RawClient> {
  const c = await RawClient.connect(srv.port);
  await c.login(user.name, user.password);
  return c;
}

function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));
}

describe('commands', () => {
  let srv: TestServer;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-commands-'));
    srv = await startServer({ config: { limits: { dataTimeout: 60 } } });
  });
  after(async () => {
    await srv?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('HOST before login (RFC 7151): 220, a bad name 501, after USER 503', async () => {
    const c = await RawClient.connect(srv.port);
    try {
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('HOST ftp.example.com')).text, '220 Host ftp.example.com accepted.');
      assert.equal((await c.cmd('HOST [::1]')).code, 220);
      assert.equal((await c.cmd('HOST not_a host!')).code, 501);
      assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
      assert.equal((await c.cmd('HOST ftp.example.com')).code, 503);
    } finally {
      c.close();
    }
  });

  test('exact replies: X-variants, CDUP, TYPE, MODE, STRU, ALLO, OPTS', async () => {
    mkdirSync(join(srv.dataDir, 'sub'), { recursive: true });
    const c = await loggedIn(srv);
    const expect: Array<[string, string]> = [
      ['XPWD', '257 "/" is the current directory.'],
      ['XCWD sub', '250 Directory changed to /sub.'],
      ['XPWD', '257 "/sub" is the current directory.'],
      ['XCUP', '200 Directory changed to /.'],
      ['CWD sub', '250 Directory changed to /sub.'],
      ['CDUP', '200 Directory changed to /.'],
      ['CDUP', '200 Directory changed to /.'],
      ['XMKD xdir', '257 "/xdir" created.'],
      ['XRMD xdir', '250 Directory removed.'],
      ['TYPE L 8', '200 Type set to I.'],
      ['TYPE A', '200 Type set to A.'],
      ['TYPE A N', '200 Type set to A.'],
      ['TYPE I', '200 Type set to I.'],
      ['TYPE E', '504 TYPE E not implemented.'],
      ['TYPE L 7', '504 TYPE L 7 not implemented.'],
      ['MODE S', '200 Mode set to S.'],
      ['MODE B', '504 MODE B not implemented.'],
      ['MODE C', '504 MODE C not implemented.'],
      ['STRU F', '200 Structure set to F.'],
      ['STRU R', '504 STRU R not implemented.'],
      ['STRU P', '504 STRU P not implemented.'],
      ['ALLO 1000', '202 No storage allocation necessary.'],
      ['ALLO 1000 R 100', '202 No storage allocation necessary.'],
      ['ALLO lots', '501 Bad ALLO argument "lots".'],
      ['OPTS UTF8 ON', '200 Always in UTF8 mode.'],
      ['OPTS MLST type;size;', '200 MLST OPTS type;size;'],
      ['OPTS MLST size;nonsense;TYPE;', '200 MLST OPTS type;size;'],
      ['OPTS NOSUCH', '501 OPTS for NOSUCH not understood.'],
    ];
    try {
      for (const [cmd, want] of expect) assert.equal((await c.cmd(cmd)).text, want, cmd);
      // The chosen MLST facts are what MLST shows, and FEAT marks them.
      const mlst = await c.cmd('MLST sub');
      assert.equal(mlst.code, 250);
      assert.match(mlst.lines[1]!, /^ type=dir; \/sub$/);
      const feat = (await c.cmd('FEAT')).lines.find((l) => l.startsWith(' MLST '));
      assert.match(feat!, /type\*;size\*;modify;/);
    } finally {
      c.close();
    }
  });

  test('HELP lists every command; HELP <verb> gives its syntax', async () => {
    const c = await loggedIn(srv);
    try {
      const help = await c.cmd('HELP');
      assert.equal(help.code, 214);
      assert.equal(help.lines[0], '214-The following commands are recognized:');
      assert.equal(help.lines.at(-1), '214 Help OK.');
      const verbs = new Set(help.lines.slice(1, -1).join(' ').split(/\s+/).filter(Boolean));
      for (const v of ['ABOR', 'ALLO', 'APPE', 'CDUP', 'EPRT', 'EPSV', 'HOST', 'MLSD', 'MLST', 'MODE', 'REIN', 'STOU', 'STRU', 'XCUP', 'XPWD', 'XRMD']) {
        assert.ok(verbs.has(v), `HELP lacks ${v}`);
      }
      assert.equal((await c.cmd('HELP retr')).text, '214 Syntax: RETR <path>');
      assert.equal((await c.cmd('HELP NOSUCH')).code, 502);
    } finally {
      c.close();
    }
  });

  test('EPSV: an unknown protocol gets 522 with the supported (1,2); after EPSV ALL, PASV, PORT and EPRT get 503', async () => {
    const c = await loggedIn(srv);
    try {
      assert.equal((await c.cmd('EPSV 3')).text, '522 Network protocol not supported, use (1,2).');
      assert.equal((await c.cmd('EPSV 0')).code, 522);
      assert.equal((await c.cmd('EPSV x')).code, 501);
      assert.equal((await c.cmd('EPSV 1')).code, 229);
      assert.equal((await c.cmd('EPSV ALL')).text, '200 EPSV ALL ok.');
      for (const cmd of ['PASV', 'PORT 127,0,0,1,100,100', 'EPRT |1|127.0.0.1|25700|']) {
        assert.equal((await c.cmd(cmd)).text, '503 EPSV ALL in effect; only EPSV is allowed.', cmd);
      }
      assert.equal((await c.cmd('EPSV')).code, 229);
    } finally {
      c.close();
    }
  });

  test('REST past the end of the file: 554 for RETR and STOR (RFC 3659 §5.5), no temp file; at the end: nothing to send', async () => {
    writeFileSync(join(srv.dataDir, 'ten.txt'), '0123456789');
    const c = await loggedIn(srv);
    try {
      assert.equal((await c.cmd('TYPE I')).code, 200);
      assert.equal((await c.cmd('REST 11')).code, 350);
      const retr = await dataCommand(c, 'RETR ten.txt');
      assert.equal(retr.first.code, 554, retr.first.text);
      assert.equal((await c.cmd('REST 11')).code, 350);
      const stor = await dataCommand(c, 'STOR ten.txt', Buffer.from('x'));
      assert.equal(stor.first.code, 554, stor.first.text);
      assert.equal((await c.cmd('REST 5')).code, 350);
      const missing = await dataCommand(c, 'STOR missing.txt', Buffer.from('x'));
      assert.equal(missing.first.code, 554, missing.first.text);
      assert.equal(readFileSync(join(srv.dataDir, 'ten.txt'), 'utf8'), '0123456789');
      assert.deepEqual(tempFiles(srv.dataDir), []);
      assert.equal(existsSync(join(srv.dataDir, 'missing.txt')), false);
      // REST applies to one transfer only, and an offset at the end sends nothing.
      assert.equal((await c.cmd('REST 10')).code, 350);
      const end = await dataCommand(c, 'RETR ten.txt');
      assert.equal(end.last?.code, 226);
      assert.equal(end.data.length, 0);
      const whole = await dataCommand(c, 'RETR ten.txt');
      assert.equal(whole.data.toString(), '0123456789');
    } finally {
      c.close();
    }
  });

  test('RMD / is 550; RMD of a directory holding only stale temp uploads removes them, fresh ones keep it', async () => {
    const old = new Date(Date.now() - 3600_000); // older than 2 × dataTimeout (60 s)
    mkdirSync(join(srv.dataDir, 'stale'));
    writeFileSync(join(srv.dataDir, 'stale', `${TEMP_PREFIX}abc123`), 'partial');
    utimesSync(join(srv.dataDir, 'stale', `${TEMP_PREFIX}abc123`), old, old);
    mkdirSync(join(srv.dataDir, 'fresh'));
    writeFileSync(join(srv.dataDir, 'fresh', `${TEMP_PREFIX}def456`), 'being written');
    const c = await loggedIn(srv);
    try {
      assert.equal((await c.cmd('RMD /')).text, '550 Cannot remove the root directory.');
      assert.equal((await c.cmd('XRMD /')).code, 550);
      // Listings never show the temp file: the directory looks empty.
      assert.equal((await dataCommand(c, 'NLST stale')).data.length, 0);
      assert.equal((await c.cmd('RMD stale')).text, '250 Directory removed.');
      assert.equal(existsSync(join(srv.dataDir, 'stale')), false);
      assert.equal((await c.cmd('RMD fresh')).code, 550);
      assert.ok(existsSync(join(srv.dataDir, 'fresh', `${TEMP_PREFIX}def456`)));
    } finally {
      c.close();
    }
  });

  test('NLST dir/*.txt answers dir/-prefixed names; NLST dir answers bare names', async () => {
    mkdirSync(join(srv.dataDir, 'globs', 'deeper'), { recursive: true });
    for (const n of ['a.txt', 'b.txt', 'c.bin']) writeFileSync(join(srv.dataDir, 'globs', n), `content of ${n}\n`);
    const c = await loggedIn(srv);
    try {
      const names = (r: DataResult) => r.data.toString().split('\r\n').filter(Boolean).sort();
      assert.deepEqual(names(await dataCommand(c, 'NLST globs/*.txt')), ['globs/a.txt', 'globs/b.txt']);
      assert.deepEqual(names(await dataCommand(c, 'NLST /globs/?.bin')), ['/globs/c.bin']);
      assert.deepEqual(names(await dataCommand(c, 'NLST globs')), ['a.txt', 'b.txt', 'c.bin', 'deeper']);
      assert.equal((await c.cmd('CWD globs')).code, 250);
      assert.deepEqual(names(await dataCommand(c, 'NLST *.txt')), ['a.txt', 'b.txt']);
      assert.deepEqual(names(await dataCommand(c, 'NLST ../globs/b*')), ['../globs/b.txt']);
    } finally {
      c.close();
    }
  });

  test('NLST globs with real clients: ftplib nlst() + RETR of each name, lftp mget', async () => {
    mkdirSync(join(srv.dataDir, 'mget'), { recursive: true });
    for (const n of ['one.txt', 'two.txt', 'skip.bin']) writeFileSync(join(srv.dataDir, 'mget', n), `file ${n}\n`);
    const res = await runPythonJson(
      join(tmp, 'nlst.py'),
      String.raw`
import ftplib, json, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login(sys.argv[3], sys.argv[4])
names = sorted(ftp.nlst('mget/*.txt'))
got = {}
for n in names:
    chunks = []
    ftp.retrbinary('RETR ' + n, chunks.append)
    got[n] = b''.join(chunks).decode()
ftp.quit()
print(json.dumps({'names': names, 'got': got}))
`,
      ['127.0.0.1', String(srv.port), ALICE.name, ALICE.password],
    );
    assert.deepEqual(res.names, ['mget/one.txt', 'mget/two.txt']);
    assert.deepEqual(res.got, { 'mget/one.txt': 'file one.txt\n', 'mget/two.txt': 'file two.txt\n' });

    const into = join(tmp, 'lftp-mget');
    mkdirSync(into);
    const r = await run('lftp', [
      '-c',
      `set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; open -u ${ALICE.name},${ALICE.password} ftp://127.0.0.1:${srv.port}; lcd ${into}; mget mget/*.txt`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(into).sort(), ['one.txt', 'two.txt']);
    assert.equal(readFileSync(join(into, 'two.txt'), 'utf8'), 'file two.txt\n');
  });

  test('REIN resets TYPE, HASH algorithm, MLST facts and PROT (then a plain data connection works)', async () => {
    writeFileSync(join(srv.dataDir, 'rein.txt'), 'plain again\n');
    const c = await RawClient.connect(srv.port);
    try {
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('AUTH TLS')).code, 234);
      await c.startTls();
      assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
      assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
      for (const cmd of ['PBSZ 0', 'PROT P', 'OPTS HASH SHA-1', 'OPTS MLST size;', 'TYPE I']) assert.equal((await c.cmd(cmd)).code, 200, cmd);
      assert.equal((await c.cmd('REIN')).code, 220);
      assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
      assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
      assert.equal((await c.cmd('OPTS HASH')).text, '200 SHA-256');
      const mlst = await c.cmd('MLST rein.txt');
      assert.match(mlst.lines[1]!, /type=file;.*size=12;.*modify=\d+;/);
      const stat = await c.cmd('STAT');
      assert.ok(stat.lines.some((l) => l.includes('TYPE: ASCII')), stat.text);
      // PROT is back to C: the data connection is plain.
      const retr = await dataCommand(c, 'RETR rein.txt');
      assert.equal(retr.last?.code, 226, retr.first.text);
      assert.equal(retr.data.toString(), 'plain again\r\n');
    } finally {
      c.close();
    }
  });

  test('PROT P still applies before REIN (the REIN test is not vacuous)', async () => {
    const c = await RawClient.connect(srv.port);
    try {
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('AUTH TLS')).code, 234);
      await c.startTls();
      assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
      assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
      assert.equal((await c.cmd('PBSZ 0')).code, 200);
      assert.equal((await c.cmd('PROT P')).code, 200);
      const port = passivePort(await c.cmd('PASV'));
      const raw = await openData(port, c.socket.localAddress!);
      assert.equal((await c.cmd('RETR rein.txt')).code, 150);
      const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, session: await c.tlsSession() });
      const data = collect(secure);
      secure.on('error', () => {});
      assert.equal((await data).toString(), 'plain again\r\n');
      assert.equal((await c.read()).code, 226);
    } finally {
      c.close();
    }
  });
});

describe('anonymous access', () => {
  test('absent unless configured: USER anonymous is an ordinary (unknown) name', async () => {
    const srv = await startServer({ config: { limits: { failedLoginDelay: 0 } } });
    try {
      const c = await RawClient.connect(srv.port);
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('USER anonymous')).text, '331 Password required for anonymous.');
      assert.equal((await c.cmd('PASS guest@example.com')).code, 530);
      assert.equal((await c.cmd('USER ftp')).code, 331);
      assert.equal((await c.cmd('PASS guest@example.com')).code, 530);
      c.close();
    } finally {
      await srv.stop();
    }
  });

  test('when enabled: read-only by default (list and download; no upload, mkdir, delete, rename)', async () => {
    const srv = await startServer({ config: { anonymous: { enabled: true } } });
    try {
      mkdirSync(join(srv.dataDir, 'pub'), { recursive: true });
      writeFileSync(join(srv.dataDir, 'pub', 'readme.txt'), 'public\n');
      const c = await RawClient.connect(srv.port);
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('USER anonymous')).code, 331);
      assert.equal((await c.cmd('PASS guest@example.com')).code, 230);
      assert.equal((await c.cmd('PWD')).text, '257 "/" is the current directory.');
      assert.equal((await c.cmd('TYPE I')).code, 200);
      const list = await dataCommand(c, 'NLST');
      assert.equal(list.data.toString(), 'readme.txt\r\n');
      assert.equal((await dataCommand(c, 'RETR readme.txt')).data.toString(), 'public\n');
      for (const cmd of ['MKD new', 'DELE readme.txt', 'RNFR readme.txt', 'RMD /', 'MFMT 20200101000000 readme.txt']) {
        assert.equal((await c.cmd(cmd)).code, 550, cmd);
      }
      for (const cmd of ['STOR up.txt', 'APPE readme.txt', 'STOU']) {
        const r = await dataCommand(c, cmd, Buffer.from('x'));
        assert.equal(r.first.code, 550, cmd);
      }
      assert.deepEqual(readdirSync(join(srv.dataDir, 'pub')), ['readme.txt']);
      assert.equal(readFileSync(join(srv.dataDir, 'pub', 'readme.txt'), 'utf8'), 'public\n');
      c.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('logs', () => {
  test('no password appears in any log line: good, failed and anonymous logins, REIN, ftplib and curl', async () => {
    const srv = await startServer({ config: { anonymous: { enabled: true }, limits: { failedLoginDelay: 0 } } });
    const secrets = [ALICE.password, READER.password, 'Wr0ng-Passw0rd-xyz', 'anon-mail@example.org', 'nobody-pass-123'];
    try {
      const c = await RawClient.connect(srv.port);
      assert.equal((await c.read()).code, 220);
      for (const [user, pass, want] of [
        [ALICE.name, 'Wr0ng-Passw0rd-xyz', 530],
        ['nobody', 'nobody-pass-123', 530],
        ['anonymous', 'anon-mail@example.org', 230],
      ] as const) {
        assert.equal((await c.cmd(`USER ${user}`)).code, 331);
        assert.equal((await c.cmd(`PASS ${pass}`)).code, want, user);
      }
      assert.equal((await c.cmd('REIN')).code, 220);
      assert.equal((await c.cmd(`USER ${READER.name}`)).code, 331);
      assert.equal((await c.cmd(`PASS ${READER.password}`)).code, 230);
      c.close();
      const curl = await run('curl', ['-sS', '-l', srv.url(ALICE) + '/']);
      assert.equal(curl.code, 0, curl.stderr);
      await srv.waitForLog((l) => l.msg === 'transfer' && l.user === ALICE.name);
      assert.ok(srv.logs.some((l) => l.msg === 'login failed'), 'the failed logins were not logged at all');
      for (const line of srv.logs) {
        const text = JSON.stringify(line);
        for (const s of secrets) assert.ok(!text.includes(s), `log line holds a password: ${text}`);
      }
      for (const s of secrets) assert.ok(!srv.stderr().includes(s), 'stderr holds a password');
    } finally {
      await srv.stop();
    }
  });
});
