import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { LocalStorage, TEMP_PREFIX, translateFsError } from '../../src/storage/local/localStorage.js';
import {
  AccessDeniedError,
  AlreadyExistsError,
  DirectoryNotEmptyError,
  InsufficientStorageError,
  InvalidNameError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  OffsetPastEndError,
  StorageError,
  TransientStorageError,
} from '../../src/storage/errors.js';
import type { Upload } from '../../src/storage/storage.js';

let base = '';
let root = '';
let outside = '';
let storage: LocalStorage;
let caseNo = 0;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'ftpfleet-localstorage-test-'));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});
beforeEach(async () => {
  // A fresh root and a fresh "outside" directory for every test.
  const caseDir = join(base, String(caseNo++));
  root = join(caseDir, 'root');
  outside = join(caseDir, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), 'TOP SECRET');
  storage = new LocalStorage({ root, fsync: true });
  await storage.init();
});

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function names(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of storage.list(path)) out.push(e.name);
  return out.sort();
}

/** Writes data into an upload and waits until it is all on disk (not committed). */
async function write(upload: Upload, data: string | Buffer): Promise<void> {
  upload.stream.end(data);
  await finished(upload.stream);
}

async function put(path: string, data: string, options?: { offset?: number; append?: boolean }): Promise<void> {
  const u = await storage.createUpload(path, options);
  await write(u, data);
  await u.commit();
}

const tempFiles = (dir = root) => readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));

/** Asserts that the promise rejects with exactly this StorageError class. */
async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), cls: new (...a: any[]) => StorageError) {
  await assert.rejects(typeof p === 'function' ? p() : p, (err: unknown) => {
    assert.ok(err instanceof StorageError, `not a StorageError: ${String(err)}`);
    assert.equal((err as Error).constructor, cls, `expected ${cls.name}, got ${(err as Error).constructor.name}: ${(err as Error).message}`);
    assert.equal((err as Error).name, cls.name);
    return true;
  });
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _;
}

describe('LocalStorage jail', () => {
  it('creates the root on init', () => {
    assert.ok(existsSync(root));
  });

  it('refuses a symlinked directory that leads outside the root', async () => {
    symlinkSync(outside, join(root, 'escape'));
    await rejectsWith(storage.stat('/escape'), AccessDeniedError);
    await rejectsWith(drain(storage.list('/escape')), AccessDeniedError);
    await rejectsWith(storage.stat('/escape/secret.txt'), AccessDeniedError);
    await rejectsWith(storage.openRead('/escape/secret.txt'), AccessDeniedError);
    await rejectsWith(storage.createUpload('/escape/new.txt'), AccessDeniedError);
    await rejectsWith(storage.mkdir('/escape/newdir'), AccessDeniedError);
    await rejectsWith(storage.delete('/escape/secret.txt'), AccessDeniedError);
    await rejectsWith(storage.rename('/escape/secret.txt', '/stolen.txt'), AccessDeniedError);
    await rejectsWith(storage.setModifiedTime('/escape/secret.txt', new Date(0)), AccessDeniedError);
    // Nothing outside was touched.
    assert.deepEqual(readdirSync(outside), ['secret.txt']);
    assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'TOP SECRET');
    assert.equal(existsSync(join(root, 'stolen.txt')), false);
  });

  it('refuses a relative symlink that climbs out of the root', async () => {
    symlinkSync('../outside', join(root, 'up'));
    mkdirSync(join(root, 'sub'));
    symlinkSync('../../outside/secret.txt', join(root, 'sub', 'file-link'));
    await rejectsWith(storage.stat('/up/secret.txt'), AccessDeniedError);
    await rejectsWith(storage.openRead('/sub/file-link'), AccessDeniedError);
    await rejectsWith(storage.stat('/sub/file-link'), AccessDeniedError);
  });

  it('refuses a file symlink that leads outside the root', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link'));
    await rejectsWith(storage.openRead('/secret-link'), AccessDeniedError);
    await rejectsWith(storage.stat('/secret-link'), AccessDeniedError);
    await rejectsWith(storage.setModifiedTime('/secret-link', new Date(0)), AccessDeniedError);
  });

  it('does not list symlinks that lead outside, but lists those that stay inside', async () => {
    writeFileSync(join(root, 'real.txt'), 'x');
    mkdirSync(join(root, 'dir'));
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link'));
    symlinkSync('real.txt', join(root, 'inside-link'));
    symlinkSync('dir', join(root, 'dir-link'));
    symlinkSync('missing', join(root, 'dangling'));
    assert.deepEqual(await names('/'), ['dir', 'dir-link', 'inside-link', 'real.txt']);
  });

  it('follows symlinks that stay inside the root', async () => {
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', 'f.txt'), 'inside');
    symlinkSync(join(root, 'a'), join(root, 'b'));
    assert.equal(await readAll(await storage.openRead('/b/f.txt')), 'inside');
    assert.equal((await storage.stat('/b')).isDirectory, true);
  });

  it('works when the root itself is reached through a symlink', async () => {
    const alias = join(base, `alias-${caseNo}`);
    symlinkSync(root, alias);
    const viaAlias = new LocalStorage({ root: alias, fsync: false });
    await viaAlias.init();
    writeFileSync(join(root, 'f.txt'), 'abc');
    assert.equal((await viaAlias.stat('/f.txt')).size, 3);
    const u = await viaAlias.createUpload('/g.txt');
    await write(u, 'xyz');
    await u.commit();
    assert.equal(readFileSync(join(root, 'g.txt'), 'utf8'), 'xyz');
  });

  it('does not copy bytes from outside the root when appending or resuming through a symlink', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(root, 'link'));
    for (const options of [{ append: true }, { offset: 3 }]) {
      let leaked = '';
      try {
        const u = await storage.createUpload('/link', options);
        await write(u, '!');
        await u.commit();
        leaked = readFileSync(join(root, 'link'), 'utf8');
      } catch (err) {
        assert.ok(err instanceof AccessDeniedError, String(err));
      }
      assert.ok(!leaked.includes('TOP'), `outside bytes copied into the root: ${JSON.stringify(leaked)}`);
    }
    assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'TOP SECRET');
    assert.deepEqual(tempFiles(), []);
  });

  it('refuses ".." segments everywhere', async () => {
    mkdirSync(join(root, 'a'));
    for (const p of ['/..', '/../outside/secret.txt', '/a/../a', '/a/..', '..', '/a/../../x']) {
      await rejectsWith(storage.stat(p), InvalidNameError);
      await rejectsWith(storage.openRead(p), InvalidNameError);
      await rejectsWith(storage.createUpload(p), InvalidNameError);
      await rejectsWith(storage.mkdir(p), InvalidNameError);
      await rejectsWith(storage.delete(p), InvalidNameError);
      await rejectsWith(drain(storage.list(p)), InvalidNameError);
    }
    await rejectsWith(storage.rename('/a', '/../a'), InvalidNameError);
    await rejectsWith(storage.rmdir('/a/..'), InvalidNameError);
    assert.ok(existsSync(join(root, 'a')));
  });

  it('refuses names that start with the temp prefix, in any segment', async () => {
    const hidden = `${TEMP_PREFIX}abc123`;
    writeFileSync(join(root, hidden), 'in flight');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'ok.txt'), 'ok');
    for (const p of [`/${hidden}`, `/d/${hidden}`, `/${hidden}/x`]) {
      await rejectsWith(storage.stat(p), InvalidNameError);
      await rejectsWith(storage.openRead(p), InvalidNameError);
      await rejectsWith(storage.createUpload(p), InvalidNameError);
      await rejectsWith(storage.delete(p), InvalidNameError);
      await rejectsWith(storage.mkdir(p), InvalidNameError);
      await rejectsWith(storage.setModifiedTime(p, new Date()), InvalidNameError);
    }
    await rejectsWith(storage.rename('/ok.txt', `/${hidden}`), InvalidNameError);
    await rejectsWith(storage.rename(`/${hidden}`, '/taken.txt'), InvalidNameError);
    assert.equal(readFileSync(join(root, hidden), 'utf8'), 'in flight');
    assert.ok(existsSync(join(root, 'ok.txt')));
    // A name that merely contains the prefix later on is fine.
    await put(`/x${TEMP_PREFIX}`, 'fine');
    assert.equal((await storage.stat(`/x${TEMP_PREFIX}`)).size, 4);
  });

  it('refuses NUL bytes in names', async () => {
    await rejectsWith(storage.stat('/a\0b'), InvalidNameError);
    await rejectsWith(storage.createUpload('/a\0b'), InvalidNameError);
  });

  it('refuses to remove or rename the root', async () => {
    await rejectsWith(storage.rmdir('/'), AccessDeniedError);
    await rejectsWith(storage.rename('/', '/x'), AccessDeniedError);
    assert.ok(existsSync(root));
  });
});

describe('LocalStorage uploads', () => {
  it('keeps an upload invisible until commit', async () => {
    const u = await storage.createUpload('/new.txt');
    await write(u, 'hello');
    await rejectsWith(storage.stat('/new.txt'), NotFoundError);
    assert.deepEqual(await names('/'), []);
    assert.equal(tempFiles().length, 1, 'the data is in a temp file meanwhile');
    await u.commit();
    const st = await storage.stat('/new.txt');
    assert.equal(st.size, 5);
    assert.equal(st.isDirectory, false);
    assert.equal(st.name, 'new.txt');
    assert.equal(await readAll(await storage.openRead('/new.txt')), 'hello');
    assert.deepEqual(tempFiles(), []);
  });

  it('keeps the old content readable while a replacement is uploading', async () => {
    await put('/f.txt', 'old content');
    const u = await storage.createUpload('/f.txt');
    await write(u, 'new');
    assert.equal(await readAll(await storage.openRead('/f.txt')), 'old content');
    await u.commit();
    assert.equal(await readAll(await storage.openRead('/f.txt')), 'new');
  });

  it('leaves no temp file and no target after abort', async () => {
    const u = await storage.createUpload('/gone.txt');
    await write(u, 'discard me');
    await u.abort();
    assert.deepEqual(readdirSync(root), []);
    await rejectsWith(storage.stat('/gone.txt'), NotFoundError);
  });

  it('leaves no temp file after abort before any data, or mid-stream', async () => {
    const u1 = await storage.createUpload('/a.txt');
    await u1.abort();
    const u2 = await storage.createUpload('/b.txt');
    u2.stream.write('partial');
    await u2.abort();
    assert.deepEqual(readdirSync(root), []);
  });

  it('keeps the original file intact after an aborted overwrite or resume', async () => {
    await put('/f.txt', 'original');
    const u1 = await storage.createUpload('/f.txt');
    await write(u1, 'replacement');
    await u1.abort();
    const u2 = await storage.createUpload('/f.txt', { offset: 3 });
    await write(u2, 'XXXXXXXXXXXX');
    await u2.abort();
    const u3 = await storage.createUpload('/f.txt', { append: true });
    await write(u3, 'more');
    await u3.abort();
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'original');
    assert.deepEqual(readdirSync(root), ['f.txt']);
  });

  it('leaves no temp file in a subdirectory after abort', async () => {
    await storage.mkdir('/sub');
    const u = await storage.createUpload('/sub/x.bin');
    await write(u, Buffer.alloc(1000, 1));
    await u.abort();
    assert.deepEqual(readdirSync(join(root, 'sub')), []);
  });

  it('refuses a second commit or abort', async () => {
    const u = await storage.createUpload('/once.txt');
    await write(u, 'x');
    await u.commit();
    await rejectsWith(u.commit(), StorageError);
    await rejectsWith(u.abort(), StorageError);
    assert.equal(readFileSync(join(root, 'once.txt'), 'utf8'), 'x');
  });

  it('keeps the first offset bytes and writes after them (REST + STOR)', async () => {
    await put('/f.txt', 'abcdefghij');
    await put('/f.txt', 'XYZ', { offset: 4 });
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'abcdXYZ');
  });

  it('resumes at the exact end of the file', async () => {
    await put('/f.txt', 'abcdefghij');
    await put('/f.txt', 'KLM', { offset: 10 });
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'abcdefghijKLM');
  });

  it('resumes with a write shorter than the rest of the old file (truncates the old tail)', async () => {
    await put('/f.txt', '0123456789');
    await put('/f.txt', 'ab', { offset: 2 });
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), '01ab');
  });

  it('offset 0 replaces the file', async () => {
    await put('/f.txt', 'abcdefghij');
    await put('/f.txt', 'new', { offset: 0 });
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'new');
  });

  it('refuses an offset past the end of the file or on a missing file, leaving no temp file', async () => {
    await put('/f.txt', 'abc');
    await rejectsWith(storage.createUpload('/f.txt', { offset: 4 }), OffsetPastEndError);
    await rejectsWith(storage.createUpload('/missing.txt', { offset: 1 }), OffsetPastEndError);
    assert.deepEqual(readdirSync(root), ['f.txt']);
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'abc');
  });

  it('appends to an existing file (APPE)', async () => {
    await put('/log.txt', 'line1\n');
    await put('/log.txt', 'line2\n', { append: true });
    await put('/log.txt', 'line3\n', { append: true });
    assert.equal(readFileSync(join(root, 'log.txt'), 'utf8'), 'line1\nline2\nline3\n');
  });

  it('append to a missing file creates it', async () => {
    await put('/new.txt', 'first', { append: true });
    assert.equal(readFileSync(join(root, 'new.txt'), 'utf8'), 'first');
  });

  it('append ignores an offset and keeps the whole file', async () => {
    await put('/f.txt', 'abcdef');
    await put('/f.txt', 'G', { append: true, offset: 2 });
    assert.equal(readFileSync(join(root, 'f.txt'), 'utf8'), 'abcdefG');
  });

  it('writes large uploads in many chunks correctly, at an offset', async () => {
    const head = Buffer.alloc(100_000, 0x41);
    const u0 = await storage.createUpload('/big.bin');
    await write(u0, head);
    await u0.commit();
    const u = await storage.createUpload('/big.bin', { offset: 50_000 });
    const parts: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      const chunk = Buffer.alloc(16 * 1024, i);
      parts.push(chunk);
      u.stream.write(chunk);
    }
    u.stream.end();
    await finished(u.stream);
    await u.commit();
    const expected = Buffer.concat([head.subarray(0, 50_000), ...parts]);
    assert.ok(readFileSync(join(root, 'big.bin')).equals(expected));
  });

  it('refuses to upload over a directory', async () => {
    await storage.mkdir('/d');
    await rejectsWith(storage.createUpload('/d'), IsADirectoryError);
    assert.deepEqual(tempFiles(), []);
  });

  it('refuses to upload into a missing directory', async () => {
    await rejectsWith(storage.createUpload('/no/such/dir/f.txt'), NotFoundError);
  });

  it('does not list in-flight uploads or stray temp files', async () => {
    await put('/visible.txt', 'v');
    writeFileSync(join(root, `${TEMP_PREFIX}stray`), 'leftover');
    const u = await storage.createUpload('/pending.txt');
    await write(u, 'p');
    assert.deepEqual(await names('/'), ['visible.txt']);
    await u.commit();
    assert.deepEqual(await names('/'), ['pending.txt', 'visible.txt']);
  });
});

describe('LocalStorage operations', () => {
  it('stats files and directories', async () => {
    await put('/f.txt', 'hello');
    await storage.mkdir('/d');
    const f = await storage.stat('/f.txt');
    const d = await storage.stat('/d');
    const r = await storage.stat('/');
    assert.deepEqual([f.name, f.isDirectory, f.size], ['f.txt', false, 5]);
    assert.deepEqual([d.name, d.isDirectory, d.size], ['d', true, 0]);
    assert.deepEqual([r.name, r.isDirectory], ['/', true]);
    assert.ok(f.mtime instanceof Date);
    assert.notEqual(f.id, d.id);
    assert.equal((await storage.stat('/f.txt')).id, f.id);
  });

  it('lists a directory with types and sizes', async () => {
    await storage.mkdir('/d');
    await put('/d/a.txt', 'aaa');
    await storage.mkdir('/d/sub');
    const entries = [];
    for await (const e of storage.list('/d')) entries.push(e);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(
      entries.map((e) => [e.name, e.isDirectory, e.size]),
      [
        ['a.txt', false, 3],
        ['sub', true, 0],
      ],
    );
  });

  it('reports missing paths and wrong types with the right classes', async () => {
    await put('/f.txt', 'x');
    await storage.mkdir('/d');
    await rejectsWith(storage.stat('/missing'), NotFoundError);
    await rejectsWith(drain(storage.list('/missing')), NotFoundError);
    await rejectsWith(drain(storage.list('/f.txt')), NotADirectoryError);
    await rejectsWith(storage.stat('/f.txt/x'), NotADirectoryError);
    await rejectsWith(storage.openRead('/missing'), NotFoundError);
    await rejectsWith(storage.openRead('/d'), IsADirectoryError);
    await rejectsWith(storage.delete('/missing'), NotFoundError);
    await rejectsWith(storage.delete('/d'), IsADirectoryError);
    await rejectsWith(storage.rmdir('/missing'), NotFoundError);
    await rejectsWith(storage.rmdir('/f.txt'), NotADirectoryError);
    await rejectsWith(storage.mkdir('/d'), AlreadyExistsError);
    await rejectsWith(storage.mkdir('/f.txt'), AlreadyExistsError);
    await rejectsWith(storage.mkdir('/no/such'), NotFoundError);
  });

  it('reads from an offset', async () => {
    await put('/f.txt', '0123456789');
    assert.equal(await readAll(await storage.openRead('/f.txt', { start: 7 })), '789');
    assert.equal(await readAll(await storage.openRead('/f.txt', { start: 10 })), '');
  });

  it('removes only empty directories', async () => {
    await storage.mkdir('/d');
    await put('/d/f.txt', 'x');
    await rejectsWith(storage.rmdir('/d'), DirectoryNotEmptyError);
    await storage.delete('/d/f.txt');
    await storage.rmdir('/d');
    await rejectsWith(storage.stat('/d'), NotFoundError);
  });

  it('removes a directory holding only stale temp uploads when asked to, never fresh ones or real files', async () => {
    const old = new Date(Date.now() - 3600_000);
    const temp = (dir: string, age: Date) => {
      const file = join(root, dir, `${TEMP_PREFIX}${dir}`);
      writeFileSync(file, 'partial');
      utimesSync(file, age, age);
    };
    for (const d of ['stale', 'fresh', 'mixed']) await storage.mkdir(`/${d}`);
    temp('stale', old);
    temp('fresh', new Date());
    temp('mixed', old);
    await put('/mixed/kept.txt', 'x');
    // Without the option a temp file keeps the directory, as before.
    await rejectsWith(storage.rmdir('/stale'), DirectoryNotEmptyError);
    await storage.rmdir('/stale', { staleUploadAgeMs: 60_000 });
    assert.equal(existsSync(join(root, 'stale')), false);
    await rejectsWith(storage.rmdir('/fresh', { staleUploadAgeMs: 60_000 }), DirectoryNotEmptyError);
    await rejectsWith(storage.rmdir('/mixed', { staleUploadAgeMs: 60_000 }), DirectoryNotEmptyError);
    assert.equal(readdirSync(join(root, 'fresh')).length, 1);
    assert.deepEqual(readdirSync(join(root, 'mixed')).sort(), [`${TEMP_PREFIX}mixed`, 'kept.txt']);
  });

  it('deletes a symlink itself, not its target', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(root, 'link'));
    await storage.delete('/link');
    assert.equal(existsSync(join(root, 'link')), false);
    assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'TOP SECRET');
  });

  it('renames files and directories', async () => {
    await put('/a.txt', 'A');
    await storage.rename('/a.txt', '/b.txt');
    assert.equal(readFileSync(join(root, 'b.txt'), 'utf8'), 'A');
    assert.equal(existsSync(join(root, 'a.txt')), false);
    await storage.mkdir('/d');
    await storage.rename('/b.txt', '/d/c.txt');
    await storage.rename('/d', '/e');
    assert.equal(readFileSync(join(root, 'e', 'c.txt'), 'utf8'), 'A');
  });

  it('rename replaces an existing file but refuses an existing directory', async () => {
    await put('/a.txt', 'A');
    await put('/b.txt', 'B');
    await storage.rename('/a.txt', '/b.txt');
    assert.equal(readFileSync(join(root, 'b.txt'), 'utf8'), 'A');
    await storage.mkdir('/d');
    await rejectsWith(storage.rename('/b.txt', '/d'), AlreadyExistsError);
    assert.ok(existsSync(join(root, 'b.txt')));
  });

  it('refuses to move a directory into itself', async () => {
    await storage.mkdir('/d');
    await storage.mkdir('/d/sub');
    await rejectsWith(storage.rename('/d', '/d/sub/d'), InvalidNameError);
    await rejectsWith(storage.rename('/missing', '/x'), NotFoundError);
    assert.ok(existsSync(join(root, 'd', 'sub')));
  });

  it('sets the modification time', async () => {
    await put('/f.txt', 'x');
    const when = new Date('2001-02-03T04:05:06Z');
    await storage.setModifiedTime('/f.txt', when);
    assert.equal((await storage.stat('/f.txt')).mtime.getTime(), when.getTime());
    await rejectsWith(storage.setModifiedTime('/missing', when), NotFoundError);
  });
});

describe('translateFsError', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  it('maps errno codes to storage error classes', () => {
    const table: Array<[string, new (...a: any[]) => StorageError]> = [
      ['ENOENT', NotFoundError],
      ['EEXIST', AlreadyExistsError],
      ['ENOTDIR', NotADirectoryError],
      ['EISDIR', IsADirectoryError],
      ['ENOTEMPTY', DirectoryNotEmptyError],
      ['EACCES', AccessDeniedError],
      ['EPERM', AccessDeniedError],
      ['EROFS', AccessDeniedError],
      ['ENOSPC', InsufficientStorageError],
      ['EDQUOT', InsufficientStorageError],
      ['EFBIG', InsufficientStorageError],
      ['ENAMETOOLONG', InvalidNameError],
      ['EINVAL', InvalidNameError],
      ['EIO', TransientStorageError],
    ];
    for (const [code, cls] of table) {
      const err = translateFsError(errno(code), '/p');
      assert.equal(err.constructor, cls, code);
      assert.match(err.message, /^\/p: /);
      assert.equal((err as Error & { cause?: unknown }).cause instanceof Error, true);
    }
  });

  it('passes storage errors through unchanged', () => {
    const e = new IsADirectoryError('x');
    assert.equal(translateFsError(e, '/p'), e);
  });
});

describe('LocalStorage symlinked directories', () => {
  it('rmdir on a symlink to a directory fails and keeps the directory it points to', async () => {
    mkdirSync(join(root, 'target'));
    symlinkSync('target', join(root, 'link'));
    await assert.rejects(storage.rmdir('/link'), NotADirectoryError);
    assert.ok(existsSync(join(root, 'target')), 'the directory behind the link was removed');
  });
});
