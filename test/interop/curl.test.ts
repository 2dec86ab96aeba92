/**
 * Interop: curl (libcurl's FTP code, what scripts and many tools use) against
 * a real ftpfleet process, in every data-connection mode it has: EPSV, PASV,
 * EPRT and PORT, over IPv4 and IPv6, plus resume, append, quote commands,
 * listings, non-ASCII names and active mode from source port 20.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRandomFile, run, sha256File, type RunResult } from '../helpers/clients.js';
import { RawClient } from '../helpers/rawClient.js';
import { ALICE, READER, startServer, type TestServer } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Mode {
  name: string;
  args: string[];
  /** The command curl must send to set up the data connection. */
  command: 'EPSV' | 'PASV' | 'EPRT' | 'PORT';
  serverMode: 'passive' | 'active';
}

const MODES: Mode[] = [
  { name: 'passive EPSV', args: [], command: 'EPSV', serverMode: 'passive' },
  { name: 'passive PASV (--disable-epsv)', args: ['--disable-epsv'], command: 'PASV', serverMode: 'passive' },
  { name: 'active EPRT (-P -)', args: ['-P', '-'], command: 'EPRT', serverMode: 'active' },
  { name: 'active PORT (--disable-eprt -P -)', args: ['--disable-eprt', '-P', '-'], command: 'PORT', serverMode: 'active' },
];

let srv: TestServer;
let tmp: string;
let counter = 0;

/** A fresh local file name under this file's temp directory. */
function local(name: string): string {
  return join(tmp, `${++counter}-${name}`);
}

/** Runs curl verbosely (so the commands it sent can be checked) with a time limit. */
async function curl(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run('curl', ['-sS', '-v', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeoutMs: timeoutMs + 5000 });
}

/** The FTP conversation in curl's verbose output (commands and replies only). */
function conversation(r: RunResult): string {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('> ') || l.startsWith('< ') || l.startsWith('curl:'))
    .join('\n');
}

/** The command lines curl sent. */
function sent(r: RunResult): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('> '))
    .map((l) => l.slice(2).replace(/\r$/, ''));
}

function assertOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: curl exited ${r.code}\n${conversation(r)}\n${r.stdout.slice(0, 2000)}`);
}

function assertSent(r: RunResult, verb: string): void {
  assert.ok(
    sent(r).some((l) => l === verb || l.startsWith(`${verb} `)),
    `expected curl to send ${verb}; it sent:\n${sent(r).join('\n')}`,
  );
}

function url(path = '/', host = '127.0.0.1'): string {
  return `${srv.url(ALICE, host)}${path}`;
}

describe('curl interop', () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-curl-'));
    srv = await startServer();
  });

  after(async () => {
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const mode of MODES) {
    const sizes: Array<[string, number]> = [
      ['0 B', 0],
      ['1 KiB', KiB],
      ['1 MiB', MiB],
    ];
    if (mode.command === 'EPSV' || mode.command === 'EPRT') sizes.push(['100 MiB', 100 * MiB]);
    for (const [label, size] of sizes) {
      test(`${mode.name}: upload and download ${label} with matching sha256`, async () => {
        const timeout = size > 10 * MiB ? 120_000 : 30_000;
        const name = `${mode.command.toLowerCase()}-${size}.bin`;
        const src = local(name);
        makeRandomFile(src, size);
        try {
          const want = await sha256File(src);

          const up = await curl([...mode.args, '-T', src, url(`/${name}`)], timeout);
          assertOk(up, 'upload');
          assertSent(up, mode.command);
          assertSent(up, 'STOR');
          const onDisk = join(srv.dataDir, name);
          assert.equal(statSync(onDisk).size, size, 'size on the server disk');
          assert.equal(await sha256File(onDisk), want, 'sha256 of the uploaded file on disk');
          const upLog = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${name}` && l.direction === 'upload');
          assert.equal(upLog.result, 'ok');
          assert.equal(upLog.mode, mode.serverMode);
          assert.equal(upLog.bytes, size);

          const dst = local(`${name}.down`);
          const down = await curl([...mode.args, '-o', dst, url(`/${name}`)], timeout);
          assertOk(down, 'download');
          assertSent(down, mode.command);
          assertSent(down, 'RETR');
          assert.equal(statSync(dst).size, size, 'size of the downloaded file');
          assert.equal(await sha256File(dst), want, 'sha256 of the downloaded file');
          const downLog = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${name}` && l.direction === 'download');
          assert.equal(downLog.result, 'ok');
          assert.equal(downLog.mode, mode.serverMode);
          rmSync(dst, { force: true });
        } finally {
          rmSync(src, { force: true });
          rmSync(join(srv.dataDir, name), { force: true });
        }
      });
    }
  }

  test('--ftp-create-dirs creates a nested new path', async () => {
    const src = local('nested.bin');
    makeRandomFile(src, 10 * KiB);
    const r = await curl(['--ftp-create-dirs', '-T', src, url('/new/deeper/deepest/nested.bin')]);
    assertOk(r, 'upload with --ftp-create-dirs');
    assertSent(r, 'MKD');
    assert.ok(statSync(join(srv.dataDir, 'new', 'deeper', 'deepest')).isDirectory());
    assert.equal(await sha256File(join(srv.dataDir, 'new/deeper/deepest/nested.bin')), await sha256File(src));
    // Without the option, a missing directory is an error, not a silent success.
    const r2 = await curl(['-T', src, url('/missing-dir/x.bin')]);
    assert.notEqual(r2.code, 0, 'upload into a missing directory without --ftp-create-dirs must fail');
    assert.equal(existsSync(join(srv.dataDir, 'missing-dir')), false);
  });

  test('--append appends to an existing file', async () => {
    const a = local('a.txt');
    const b = local('b.txt');
    writeFileSync(a, 'first part\n');
    writeFileSync(b, 'second part\n');
    assertOk(await curl(['-T', a, url('/appended.txt')]), 'first upload');
    const r = await curl(['--append', '-T', b, url('/appended.txt')]);
    assertOk(r, 'append');
    assertSent(r, 'APPE');
    assert.equal(readFileSync(join(srv.dataDir, 'appended.txt'), 'utf8'), 'first part\nsecond part\n');
    // Appending to a file that does not exist creates it.
    assertOk(await curl(['--append', '-T', b, url('/appended-new.txt')]), 'append to new file');
    assert.equal(readFileSync(join(srv.dataDir, 'appended-new.txt'), 'utf8'), 'second part\n');
  });

  for (const mode of [MODES[0]!, MODES[3]!]) {
    test(`${mode.name}: resume of an interrupted download (-C -)`, async () => {
      const size = 3 * MiB + 12345;
      const remote = join(srv.dataDir, `resume-down-${mode.command}.bin`);
      makeRandomFile(remote, size);
      const want = await sha256File(remote);
      const dst = local('resume-down.bin');
      assertOk(await curl([...mode.args, '-o', dst, url(`/resume-down-${mode.command}.bin`)]), 'full download');
      const partial = 1 * MiB + 777;
      truncateSync(dst, partial);
      const r = await curl([...mode.args, '-C', '-', '-o', dst, url(`/resume-down-${mode.command}.bin`)]);
      assertOk(r, 'resumed download');
      assert.ok(sent(r).includes(`REST ${partial}`), `expected REST ${partial}; sent:\n${sent(r).join('\n')}`);
      assert.equal(statSync(dst).size, size);
      assert.equal(await sha256File(dst), want);
      const log = await srv.waitForLog(
        (l) => l.msg === 'transfer' && l.path === `/resume-down-${mode.command}.bin` && l.direction === 'download' && l.bytes === size - partial,
      );
      assert.equal(log.result, 'ok');
      rmSync(dst, { force: true });
    });

    test(`${mode.name}: resume of an interrupted upload (-C - -T uses SIZE + APPE)`, async () => {
      const size = 2 * MiB + 4321;
      const full = local('resume-up.bin');
      makeRandomFile(full, size);
      const half = local('resume-up-half.bin');
      writeFileSync(half, readFileSync(full).subarray(0, Math.floor(size / 2)));
      const name = `resume-up-${mode.command}.bin`;
      assertOk(await curl([...mode.args, '-T', half, url(`/${name}`)]), 'first half');
      assert.equal(statSync(join(srv.dataDir, name)).size, Math.floor(size / 2));
      const r = await curl([...mode.args, '-C', '-', '-T', full, url(`/${name}`)]);
      assertOk(r, 'resumed upload');
      assertSent(r, 'SIZE');
      assertSent(r, 'APPE');
      assert.equal(statSync(join(srv.dataDir, name)).size, size);
      assert.equal(await sha256File(join(srv.dataDir, name)), await sha256File(full));
      rmSync(full, { force: true });
      rmSync(half, { force: true });
    });
  }

  test('listing: LIST of a directory and NLST (-l)', async () => {
    const dir = join(srv.dataDir, 'listed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'one.txt'), '1');
    writeFileSync(join(dir, 'two.bin'), Buffer.alloc(4096));
    mkdirSync(join(dir, 'sub'));

    // curl asks for listings in TYPE A and turns the wire's CRLF into LF.
    const list = await curl([url('/listed/')]);
    assertOk(list, 'LIST');
    assertSent(list, 'LIST');
    const lines = list.stdout.split(/\r?\n/).filter(Boolean);
    assert.equal(lines.length, 3, `LIST output:\n${list.stdout}`);
    const two = lines.find((l) => l.endsWith(' two.bin'));
    assert.ok(two, `LIST has two.bin:\n${list.stdout}`);
    assert.match(two!, /^-/);
    assert.match(two!, /\s4096\s/);
    assert.ok(lines.some((l) => /^d/.test(l) && l.endsWith(' sub')), `LIST shows sub as a directory:\n${list.stdout}`);

    const nlst = await curl(['-l', url('/listed/')]);
    assertOk(nlst, 'NLST');
    assertSent(nlst, 'NLST');
    assert.deepEqual(nlst.stdout.split(/\r?\n/).filter(Boolean).sort(), ['one.txt', 'sub', 'two.bin']);

    // READER may list too (list permission) but not delete.
    const asReader = await curl([`${srv.url(READER)}/listed/`, '-l']);
    assertOk(asReader, 'NLST as reader');
    assert.deepEqual(asReader.stdout.split(/\r?\n/).filter(Boolean).sort(), ['one.txt', 'sub', 'two.bin']);
  });

  test('-Q "DELE x" deletes and -Q "RNFR a" -Q "RNTO b" renames', async () => {
    writeFileSync(join(srv.dataDir, 'doomed.txt'), 'bye');
    writeFileSync(join(srv.dataDir, 'before-rename.txt'), 'same content');
    const del = await curl(['-Q', 'DELE doomed.txt', url('/')]);
    assertOk(del, 'DELE');
    assert.equal(existsSync(join(srv.dataDir, 'doomed.txt')), false);

    const ren = await curl(['-Q', 'RNFR before-rename.txt', '-Q', 'RNTO after-rename.txt', url('/')]);
    assertOk(ren, 'RNFR/RNTO');
    assert.equal(existsSync(join(srv.dataDir, 'before-rename.txt')), false);
    assert.equal(readFileSync(join(srv.dataDir, 'after-rename.txt'), 'utf8'), 'same content');

    // A quote command that fails makes curl fail (the server replies 550).
    const missing = await curl(['-Q', 'DELE no-such-file.txt', url('/')]);
    assert.notEqual(missing.code, 0);
    assert.match(conversation(missing), /< 550/);

    // READER lacks the delete permission.
    writeFileSync(join(srv.dataDir, 'kept.txt'), 'keep');
    const denied = await curl(['-Q', 'DELE kept.txt', `${srv.url(READER)}/`]);
    assert.notEqual(denied.code, 0);
    assert.equal(existsSync(join(srv.dataDir, 'kept.txt')), true);
  });

  test('UTF-8 and space-containing file names (URL-encoded)', async () => {
    const names = ['with space.txt', 'grüße – ünïcødé.txt', '日本語 ファイル.txt', 'snow ☃ man.txt'];
    mkdirSync(join(srv.dataDir, 'names dir'));
    for (const name of names) {
      const src = local('name.txt');
      writeFileSync(src, `content of ${name}\n`);
      const remote = `/names%20dir/${encodeURIComponent(name)}`;
      assertOk(await curl(['-T', src, url(remote)]), `upload ${name}`);
      assert.equal(readFileSync(join(srv.dataDir, 'names dir', name), 'utf8'), `content of ${name}\n`, `on disk as ${name}`);
      const dst = local('name.down');
      assertOk(await curl(['-o', dst, url(remote)]), `download ${name}`);
      assert.equal(readFileSync(dst, 'utf8'), `content of ${name}\n`);
    }
    const nlst = await curl(['-l', url('/names%20dir/')]);
    assertOk(nlst, 'NLST');
    assert.deepEqual(nlst.stdout.split(/\r?\n/).filter(Boolean).sort(), [...names].sort());
    const list = await curl([url('/names%20dir/')]);
    assertOk(list, 'LIST');
    for (const name of names) assert.ok(list.stdout.includes(` ${name}\n`), `LIST shows ${name}:\n${list.stdout}`);
  });

  for (const mode of [MODES[0]!, MODES[2]!]) {
    test(`IPv6 on [::1]: ${mode.name}`, async () => {
      const name = `v6-${mode.command}.bin`;
      const src = local(name);
      makeRandomFile(src, 256 * KiB + 3);
      const want = await sha256File(src);
      const up = await curl(['-g', ...mode.args, '-T', src, url(`/${name}`, '::1')]);
      assertOk(up, 'IPv6 upload');
      assertSent(up, mode.command);
      if (mode.command === 'EPRT') {
        assert.ok(sent(up).some((l) => l.startsWith('EPRT |2|::1|')), `EPRT names ::1:\n${sent(up).join('\n')}`);
      }
      assert.equal(await sha256File(join(srv.dataDir, name)), want);
      const dst = local(`${name}.down`);
      const down = await curl(['-g', ...mode.args, '-o', dst, url(`/${name}`, '::1')]);
      assertOk(down, 'IPv6 download');
      assert.equal(await sha256File(dst), want);
      const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${name}` && l.direction === 'download');
      assert.equal(log.client, '::1');
      assert.equal(log.mode, mode.serverMode);
      assert.equal(log.result, 'ok');
    });
  }

  test('IPv6: PASV over ::1 gets a 5xx reply and the session goes on', async () => {
    // PASV cannot carry an IPv6 address: the server must say so (not crash or hang).
    const c = await RawClient.connect(srv.port, '::1');
    try {
      await c.login(ALICE.name, ALICE.password);
      const r = await c.cmd('PASV');
      assert.ok(r.code >= 500 && r.code < 600, `PASV over IPv6: ${r.text}`);
      const e = await c.cmd('EPSV');
      assert.equal(e.code, 229);
      assert.equal((await c.cmd('NOOP')).code, 200);
    } finally {
      c.close();
    }
  });
});

describe('curl interop: active mode from source port 20', () => {
  let srv20: TestServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ftpfleet-curl20-'));
    srv20 = await startServer({ config: { active: { sourcePort: 20 } } });
  });

  after(async () => {
    await srv20?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('curl active transfers work with active.sourcePort 20', async () => {
    const src = join(dir, 'p20.bin');
    makeRandomFile(src, 512 * KiB);
    const want = await sha256File(src);
    for (const args of [['-P', '-'], ['--disable-eprt', '-P', '-']]) {
      const up = await run('curl', ['-sS', '--max-time', '30', ...args, '-T', src, `${srv20.url()}/p20.bin`], { timeoutMs: 35_000 });
      assert.equal(up.code, 0, up.stderr);
      assert.equal(await sha256File(join(srv20.dataDir, 'p20.bin')), want);
      const dst = join(dir, 'p20.down');
      const down = await run('curl', ['-sS', '--max-time', '30', ...args, '-o', dst, `${srv20.url()}/p20.bin`], { timeoutMs: 35_000 });
      assert.equal(down.code, 0, down.stderr);
      assert.equal(await sha256File(dst), want);
      rmSync(dst, { force: true });
    }
    const logs = srv20.logs.filter((l) => l.msg === 'transfer' && l.path === '/p20.bin');
    assert.equal(logs.length, 4);
    for (const l of logs) {
      assert.equal(l.mode, 'active');
      assert.equal(l.result, 'ok');
    }
  });

  test('the active data connection comes from port 20', async () => {
    writeFileSync(join(srv20.dataDir, 'port20.txt'), 'from port twenty\n');
    const accepted: Array<{ port: number; data: Buffer }> = [];
    const listener = createServer((s: Socket) => {
      const chunks: Buffer[] = [];
      const remotePort = s.remotePort!;
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => accepted.push({ port: remotePort, data: Buffer.concat(chunks) }));
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const lport = (listener.address() as { port: number }).port;
    const c = await RawClient.connect(srv20.port);
    try {
      await c.login(ALICE.name, ALICE.password);
      assert.equal((await c.cmd('TYPE I')).code, 200);
      for (const setup of [`PORT 127,0,0,1,${lport >> 8},${lport & 255}`, `EPRT |1|127.0.0.1|${lport}|`]) {
        assert.equal((await c.cmd(setup)).code, 200, setup);
        assert.equal((await c.cmd('RETR port20.txt')).code, 150);
        const done = await c.read();
        assert.equal(done.code, 226, done.text);
      }
    } finally {
      c.close();
    }
    for (let i = 0; i < 50 && accepted.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    listener.close();
    assert.equal(accepted.length, 2);
    for (const a of accepted) {
      assert.equal(a.port, 20, 'source port of the active data connection');
      assert.equal(a.data.toString(), 'from port twenty\n');
    }
  });
});
