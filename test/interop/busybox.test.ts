/**
 * Interop: busybox ftpput / ftpget, the FTP client of embedded devices.
 *
 * busybox sends EPSV first when built with IPv6 and falls back to PASV when
 * EPSV is refused; builds without IPv6 (common on small devices) send PASV
 * only. The PASV path is driven through a small control-connection proxy that
 * refuses EPSV, so both paths run with the same binary. Data connections go
 * straight to the server's passive port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRandomFile, run, sha256File, type RunResult } from '../helpers/clients.js';
import { ALICE, READER, startServer, type TestServer, type TestUser } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Proxy {
  port: number;
  /** Verbs the client sent through the proxy, in order. */
  seen: string[];
  close(): Promise<void>;
}

/** A control-connection proxy that answers EPSV itself with 502, so the client falls back to PASV. */
async function startEpsvRefusingProxy(targetPort: number): Promise<Proxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    let buffer = '';
    client.on('data', (d: Buffer) => {
      buffer += d.toString('latin1');
      let i: number;
      while ((i = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, i + 1);
        buffer = buffer.slice(i + 1);
        const verb = line.trim().split(/\s+/)[0]!.toUpperCase();
        seen.push(verb);
        if (verb === 'EPSV') client.write('502 EPSV not available here (test proxy).\r\n');
        else upstream.write(Buffer.from(line, 'latin1'));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

let srv: TestServer;
let proxy: Proxy;
let tmp: string;
let counter = 0;

function local(name: string): string {
  return join(tmp, `${++counter}-${name}`);
}

function bb(applet: 'ftpput' | 'ftpget', port: number, user: TestUser, args: string[]): Promise<RunResult> {
  return run('busybox', [applet, '-v', '-u', user.name, '-p', user.password, '-P', String(port), '127.0.0.1', ...args], { timeoutMs: 60_000 });
}

/** Commands busybox reports having sent (its -v output: "ftpput: cmd STOR x"). */
function commands(r: RunResult): string[] {
  return [...r.stderr.matchAll(/^ftp(?:put|get): cmd (\S+)/gm)].map((m) => m[1]!).filter((v) => v !== '(null)');
}

function assertOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: busybox exited ${r.code}\n${r.stderr}${r.stdout}`);
}

describe('busybox ftpput/ftpget interop', () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-busybox-'));
    srv = await startServer();
    proxy = await startEpsvRefusingProxy(srv.port);
    mkdirSync(join(srv.dataDir, 'devices', 'unit-42'), { recursive: true });
  });

  after(async () => {
    await proxy?.close();
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const paths = [
    { name: 'EPSV (busybox with IPv6)', viaProxy: false, verb: 'EPSV' },
    { name: 'PASV (EPSV refused, as busybox without IPv6)', viaProxy: true, verb: 'PASV' },
  ];

  for (const path of paths) {
    for (const [label, size] of [
      ['0 B', 0],
      ['1 KiB', KiB],
      ['1 MiB', MiB],
    ] as Array<[string, number]>) {
      test(`${path.name}: ftpput then ftpget ${label} in a subdirectory, sha256 matches`, async () => {
        const port = path.viaProxy ? proxy.port : srv.port;
        const name = `${path.verb.toLowerCase()}-${size}.bin`;
        const remote = `devices/unit-42/${name}`;
        const src = local(name);
        makeRandomFile(src, size);
        const want = await sha256File(src);
        const seenBefore = proxy.seen.length;

        const put = await bb('ftpput', port, ALICE, [remote, src]);
        assertOk(put, 'ftpput');
        assert.ok(commands(put).includes('STOR'), `ftpput sent STOR:\n${put.stderr}`);
        const onDisk = join(srv.dataDir, 'devices', 'unit-42', name);
        assert.equal(statSync(onDisk).size, size);
        assert.equal(await sha256File(onDisk), want);
        const upLog = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === `/${remote}` && l.direction === 'upload');
        assert.equal(upLog.result, 'ok');
        assert.equal(upLog.mode, 'passive');

        const dst = local(`${name}.down`);
        const get = await bb('ftpget', port, ALICE, [dst, remote]);
        assertOk(get, 'ftpget');
        assert.ok(commands(get).includes('RETR'), `ftpget sent RETR:\n${get.stderr}`);
        assert.equal(statSync(dst).size, size);
        assert.equal(await sha256File(dst), want);

        if (path.viaProxy) {
          // busybox tried EPSV, was refused, and then used PASV for both transfers.
          const seen = proxy.seen.slice(seenBefore);
          assert.equal(seen.filter((v) => v === 'EPSV').length, 2, `seen: ${seen.join(' ')}`);
          assert.equal(seen.filter((v) => v === 'PASV').length, 2, `seen: ${seen.join(' ')}`);
        } else {
          assert.ok(commands(put).includes('EPSV') && !commands(put).includes('PASV'), put.stderr);
          assert.ok(commands(get).includes('EPSV') && !commands(get).includes('PASV'), get.stderr);
        }
        rmSync(src, { force: true });
        rmSync(dst, { force: true });
      });
    }
  }

  test('ftpput replaces an existing file (devices re-upload under one name)', async () => {
    const src = local('status.txt');
    writeFileSync(src, 'first report, rather long\n');
    assertOk(await bb('ftpput', srv.port, ALICE, ['devices/unit-42/status.txt', src]), 'first upload');
    writeFileSync(src, 'second\n');
    assertOk(await bb('ftpput', proxy.port, ALICE, ['devices/unit-42/status.txt', src]), 'second upload');
    assert.equal(readFileSync(join(srv.dataDir, 'devices/unit-42/status.txt'), 'utf8'), 'second\n');
  });

  test('ftpget -c resumes a partial download (REST)', async () => {
    const remote = join(srv.dataDir, 'devices', 'unit-42', 'firmware.img');
    makeRandomFile(remote, MiB + 333);
    const dst = local('firmware.img');
    assertOk(await bb('ftpget', srv.port, ALICE, [dst, 'devices/unit-42/firmware.img']), 'full download');
    truncateSync(dst, 400_000);
    const resumed = await run(
      'busybox',
      ['ftpget', '-v', '-c', '-u', ALICE.name, '-p', ALICE.password, '-P', String(proxy.port), '127.0.0.1', dst, 'devices/unit-42/firmware.img'],
      { timeoutMs: 60_000 },
    );
    assertOk(resumed, 'resumed download');
    assert.ok(resumed.stderr.includes('cmd REST 400000'), resumed.stderr);
    assert.equal(await sha256File(dst), await sha256File(remote));
  });

  test('ftpput fails (non-zero exit, nothing stored) for a wrong password, a missing directory and a read-only user', async () => {
    const src = local('denied.bin');
    makeRandomFile(src, 2 * KiB);

    const badPass = await bb('ftpput', srv.port, { name: 'alice', password: 'wrong' }, ['devices/unit-42/badpass.bin', src]);
    assert.notEqual(badPass.code, 0);
    assert.match(badPass.stderr, /530/);
    assert.equal(existsSync(join(srv.dataDir, 'devices/unit-42/badpass.bin')), false);

    const noDir = await bb('ftpput', srv.port, ALICE, ['no/such/dir/file.bin', src]);
    assert.notEqual(noDir.code, 0);
    assert.match(noDir.stderr, /550/);
    assert.equal(existsSync(join(srv.dataDir, 'no')), false);

    const reader = await bb('ftpput', srv.port, READER, ['devices/unit-42/reader.bin', src]);
    assert.notEqual(reader.code, 0);
    assert.match(reader.stderr, /550/);
    assert.equal(existsSync(join(srv.dataDir, 'devices/unit-42/reader.bin')), false);

    // The read-only user can still fetch.
    writeFileSync(join(srv.dataDir, 'devices/unit-42/config.txt'), 'interval=60\n');
    const dst = local('config.txt');
    assertOk(await bb('ftpget', srv.port, READER, [dst, 'devices/unit-42/config.txt']), 'reader ftpget');
    assert.equal(readFileSync(dst, 'utf8'), 'interval=60\n');
  });

  test('ftpget of a missing file fails with 550', async () => {
    const dst = local('missing.bin');
    const r = await bb('ftpget', srv.port, ALICE, [dst, 'devices/unit-42/does-not-exist.bin']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /550/);
  });
});
