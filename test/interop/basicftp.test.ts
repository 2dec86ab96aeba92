/**
 * Interop: the Node client basic-ftp (passive only: EPSV, then PASV) against a
 * real ftpfleet process, over IPv4 and IPv6.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client, FileType, FTPError } from 'basic-ftp';
import { ALICE, READER, startServer, type TestServer } from '../helpers/server.js';
import { makeRandomFile, sha256File } from '../helpers/clients.js';

const KiB = 1024;

/** Waits (up to `ms`) until `fn` returns a value; log lines arrive a little after the replies. */
async function eventually<T>(fn: () => T | undefined | false, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v || Date.now() > deadline) return v || undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const MiB = 1024 * KiB;

describe('basic-ftp', { timeout: 110_000 }, () => {
  let srv: TestServer;
  let work: string;
  const clients: Client[] = [];

  const connect = async (host = '127.0.0.1', user = ALICE) => {
    const client = new Client(30_000);
    clients.push(client);
    // Each listen address gets its own port when the configured port is 0.
    const port = srv.logs.find((l) => l.msg === 'listening' && l.address === host)?.port ?? srv.port;
    await client.access({ host, port, user: user.name, password: user.password });
    return client;
  };

  before(async () => {
    srv = await startServer();
    work = mkdtempSync(join(tmpdir(), 'ftpfleet-basicftp-'));
  });

  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const [label, size] of [
    ['0 B', 0],
    ['1 KiB', KiB],
    ['1 MiB', MiB],
    ['100 MiB + 17 B', 100 * MiB + 17],
  ] as const) {
    test(`uploadFrom / downloadTo ${label}`, async () => {
      const client = await connect();
      const src = join(work, `src-${size}.bin`);
      const dst = join(work, `dst-${size}.bin`);
      makeRandomFile(src, size);
      try {
        const up = await client.uploadFrom(src, `/file-${size}.bin`);
        assert.equal(up.code, 226);
        const want = await sha256File(src);
        assert.equal(statSync(join(srv.dataDir, `file-${size}.bin`)).size, size);
        assert.equal(await sha256File(join(srv.dataDir, `file-${size}.bin`)), want, 'server copy');
        const down = await client.downloadTo(dst, `/file-${size}.bin`);
        assert.equal(down.code, 226);
        assert.equal(statSync(dst).size, size);
        assert.equal(await sha256File(dst), want, 'downloaded copy');
      } finally {
        rmSync(src, { force: true });
        rmSync(dst, { force: true });
        if (size > 10 * MiB) rmSync(join(srv.dataDir, `file-${size}.bin`), { force: true });
      }
      client.close();
    });
  }

  test('list() uses MLSD and reports names, sizes and types', async () => {
    const client = await connect();
    await client.ensureDir('/listing/sub dir');
    await client.cd('/listing');
    await client.uploadFrom(Readable.from([Buffer.alloc(1234, 1)]), 'one.bin');
    await client.uploadFrom(Readable.from([Buffer.alloc(0)]), 'empty ü.txt');
    const before = srv.logs.length;
    const list = await client.list();
    const byName = new Map(list.map((f) => [f.name, f]));
    assert.deepEqual([...byName.keys()].sort(), ['empty ü.txt', 'one.bin', 'sub dir']);
    assert.equal(byName.get('one.bin')!.type, FileType.File);
    assert.equal(byName.get('one.bin')!.size, 1234);
    assert.equal(byName.get('empty ü.txt')!.type, FileType.File);
    assert.equal(byName.get('empty ü.txt')!.size, 0);
    assert.equal(byName.get('sub dir')!.type, FileType.Directory);
    // MLSD gives a parsed modification time.
    const mtime = statSync(join(srv.dataDir, 'listing/one.bin')).mtime;
    assert.equal(byName.get('one.bin')!.modifiedAt?.getTime(), Math.floor(mtime.getTime() / 1000) * 1000);
    const listed = await eventually(() => srv.logs.slice(before).find((l) => l.msg === 'transfer' && l.path === 'MLSD /listing'));
    assert.ok(listed, 'the listing went over MLSD');
    // A listing of a path.
    const sub = await client.list('/listing/sub dir');
    assert.deepEqual(sub, []);
    client.close();
  });

  test('ensureDir, rename, size, lastMod, remove, removeDir', async () => {
    const client = await connect();
    await client.ensureDir('/tree/a/b c/d');
    assert.equal(await client.pwd(), '/tree/a/b c/d');
    assert.ok(statSync(join(srv.dataDir, 'tree/a/b c/d')).isDirectory());
    const data = randomBytes(5000);
    await client.uploadFrom(Readable.from([data]), 'x.bin');
    assert.equal(await client.size('x.bin'), 5000);
    assert.equal(await client.size('/tree/a/b c/d/x.bin'), 5000);
    const mtime = statSync(join(srv.dataDir, 'tree/a/b c/d/x.bin')).mtime;
    assert.equal((await client.lastMod('x.bin')).getTime(), Math.floor(mtime.getTime() / 1000) * 1000);

    await client.rename('x.bin', '/tree/a/renamed ñ.bin');
    assert.ok(!existsSync(join(srv.dataDir, 'tree/a/b c/d/x.bin')));
    assert.deepEqual(readFileSync(join(srv.dataDir, 'tree/a/renamed ñ.bin')), data);

    await assert.rejects(client.size('x.bin'), (e: unknown) => e instanceof FTPError && e.code === 550);
    await assert.rejects(client.size('/tree/a'), (e: unknown) => e instanceof FTPError && e.code === 550, 'SIZE of a directory');

    const del = await client.remove('/tree/a/renamed ñ.bin');
    assert.equal(del.code, 250);
    assert.ok(!existsSync(join(srv.dataDir, 'tree/a/renamed ñ.bin')));
    await assert.rejects(client.remove('/tree/a/renamed ñ.bin'), (e: unknown) => e instanceof FTPError && e.code === 550);

    await client.uploadFrom(Readable.from([data]), '/tree/a/b c/keep.bin');
    await client.removeDir('/tree/a');
    assert.ok(!existsSync(join(srv.dataDir, 'tree/a')));
    assert.ok(existsSync(join(srv.dataDir, 'tree')));
    client.close();
  });

  test('appendFrom and downloadTo with startAt (REST)', async () => {
    const client = await connect();
    const first = randomBytes(3000);
    const second = randomBytes(70_000);
    await client.uploadFrom(Readable.from([first]), '/append.bin');
    const r = await client.appendFrom(Readable.from([second]), '/append.bin');
    assert.equal(r.code, 226);
    const whole = Buffer.concat([first, second]);
    assert.deepEqual(readFileSync(join(srv.dataDir, 'append.bin')), whole);
    // appendFrom to a file that does not exist creates it.
    await client.appendFrom(Readable.from([first]), '/append-new.bin');
    assert.deepEqual(readFileSync(join(srv.dataDir, 'append-new.bin')), first);

    const dst = join(work, 'resume.bin');
    writeFileSync(dst, whole.subarray(0, 12_345));
    const before = srv.logs.length;
    // basic-ftp appends to an existing file when startAt > 0.
    await client.downloadTo(dst, '/append.bin', 12_345);
    assert.deepEqual(readFileSync(dst), whole);
    const t = await eventually(() => srv.logs.slice(before).find((l) => l.msg === 'transfer' && l.path === '/append.bin' && l.direction === 'download'));
    assert.equal(t?.bytes, whole.length - 12_345, 'only the rest was sent');
    // A start offset past the end is refused.
    writeFileSync(join(work, 'past.bin'), whole);
    await assert.rejects(client.downloadTo(join(work, 'past.bin'), '/append.bin', whole.length + 1), (e: unknown) => e instanceof FTPError && e.code === 554);
    // The session is still usable afterwards.
    assert.equal(await client.size('/append.bin'), whole.length);
    client.close();
  });

  test('errors: missing file, read-only user', async () => {
    const client = await connect();
    await assert.rejects(client.downloadTo(join(work, 'missing.bin'), '/no/such/file'), (e: unknown) => e instanceof FTPError && e.code === 550);
    client.close();
    const reader = await connect('127.0.0.1', READER);
    await assert.rejects(reader.uploadFrom(Readable.from([Buffer.from('x')]), '/reader.bin'), (e: unknown) => e instanceof FTPError && e.code === 550);
    assert.ok(!existsSync(join(srv.dataDir, 'reader.bin')));
    const list = await reader.list('/');
    assert.ok(list.some((f) => f.name === 'append.bin'));
    reader.close();
  });

  test('IPv6 ::1: upload, list, download, EPSV', async () => {
    const client = await connect('::1');
    const src = join(work, 'v6.bin');
    const dst = join(work, 'v6-down.bin');
    makeRandomFile(src, MiB + 3);
    await client.ensureDir('/v6');
    await client.uploadFrom(src, 'v6 file.bin');
    const list = await client.list();
    assert.equal(list.find((f) => f.name === 'v6 file.bin')?.size, MiB + 3);
    await client.downloadTo(dst, '/v6/v6 file.bin');
    assert.equal(await sha256File(dst), await sha256File(src));
    assert.equal(await sha256File(join(srv.dataDir, 'v6/v6 file.bin')), await sha256File(src));
    const transfers = await eventually(() => {
      const t = srv.logs.filter((l) => l.msg === 'transfer' && l.client === '::1');
      return t.length >= 3 && t;
    });
    assert.ok(transfers, 'three transfers logged for client ::1');
    assert.ok(transfers.every((l) => l.mode === 'passive' && l.result === 'ok'));
    // PASV cannot express an IPv6 address: the server says so (basic-ftp used EPSV).
    const pasv = await client.sendIgnoringError('PASV');
    assert.equal(pasv.code, 522);
    client.close();
  });
});
