/**
 * Storage on a local file system, rooted at one directory.
 *
 * Uploads are written to a hidden temporary file beside the target and
 * renamed into place on commit (after fsync of the file and its directory when
 * `fsync` is on), so a reader never sees a half-written file under its real name.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import type { FileStat, ReadOptions, RmdirOptions, Storage, Upload, UploadOptions } from '../storage.js';
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
} from '../errors.js';

/** Names starting with this are in-flight uploads: hidden and unreachable. */
export const TEMP_PREFIX = '.ftpfleet-upload-';

const READ_CHUNK = 256 * 1024;

export interface LocalStorageOptions {
  root: string;
  /** fsync file and directory before an upload is reported complete. */
  fsync: boolean;
}

export function translateFsError(err: unknown, path: string): StorageError {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`${path}: no such file or directory`, { cause: err });
    case 'EEXIST':
      return new AlreadyExistsError(`${path}: already exists`, { cause: err });
    case 'ENOTDIR':
      return new NotADirectoryError(`${path}: not a directory`, { cause: err });
    case 'EISDIR':
      return new IsADirectoryError(`${path}: is a directory`, { cause: err });
    case 'ENOTEMPTY':
    case 'EEXIST_DIR':
      return new DirectoryNotEmptyError(`${path}: directory not empty`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new AccessDeniedError(`${path}: permission denied`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return new InsufficientStorageError(`${path}: no space left`, { cause: err });
    case 'ENAMETOOLONG':
    case 'EINVAL':
      return new InvalidNameError(`${path}: invalid name`, { cause: err });
    default:
      if (err instanceof StorageError) return err;
      return new TransientStorageError(`${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Bytes an upload gathers before writing them out in one call. */
const WRITE_BATCH = 512 * 1024;
/** Longest that gathered bytes of a slow upload wait for the batch to fill. */
const WRITE_DELAY_MS = 20;

/**
 * Writes to an open file from `position` on, reporting failures as StorageErrors.
 * Each write is a thread-pool round trip (two thread wake-ups), and one per socket
 * read cost more CPU than the copying: reads are gathered into one `writev` per
 * WRITE_BATCH bytes (or per WRITE_DELAY_MS, or at the end).
 */
class FileWriter extends Writable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly handle: fs.FileHandle,
    private at: number,
    private readonly path: string,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.gather(chunk);
    this.afterGather(done);
  }

  override _writev(entries: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    for (const e of entries) this.gather(e.chunk);
    this.afterGather(done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.flush().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    done(err);
  }

  private gather(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** A full batch holds the stream (backpressure) until it is written; a partial one waits a little. */
  private afterGather(done: (err?: Error | null) => void): void {
    if (this.failure) return done(this.failure);
    if (this.pendingBytes >= WRITE_BATCH) return void this.flush().then(() => done(), done);
    // A failure of this write is reported by the next one, or by the end.
    this.timer ??= setTimeout(() => void this.flush().catch(() => {}), WRITE_DELAY_MS);
    done();
  }

  /** Writes out what is pending, after any write in flight; rejects with the first failure. */
  private flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = this.writing.then(() => {
      if (this.failure) throw this.failure;
      if (bytes > 0) return this.writeAll(chunks, bytes);
    });
    return this.writing;
  }

  private async writeAll(chunks: Buffer[], total: number): Promise<void> {
    try {
      let written = (await this.handle.writev(chunks, this.at)).bytesWritten;
      // writev may write less than asked (signals, full disk): finish the rest.
      if (written < total) {
        const all = Buffer.concat(chunks);
        while (written < total) written += (await this.handle.write(all, written, total - written, this.at + written)).bytesWritten;
      }
      this.at += total;
    } catch (err) {
      this.failure = translateFsError(err, this.path);
      throw this.failure;
    }
  }
}

interface LocalUploadParts {
  path: string;
  handle: fs.FileHandle;
  temp: string;
  target: string;
  start: number;
  fsync: boolean;
}

/** An upload into `temp`, renamed to `target` on commit. */
function localUpload({ path, handle, temp, target, start, fsync }: LocalUploadParts): Upload {
  const stream = new FileWriter(handle, start, path);
  let settled = false;
  const settle = () => {
    if (settled) throw new StorageError('upload already committed or aborted');
    settled = true;
  };
  return {
    stream,
    async commit(signal?: AbortSignal) {
      settle();
      // With fsync, the directory is opened meanwhile: its fsync makes the rename durable.
      const dir = fsync ? fs.open(nodePath.dirname(target), 'r') : null;
      dir?.catch(() => {}); // awaited below
      try {
        if (fsync) await handle.sync();
        // (Closing first also gives a client that went away more time to be noticed.)
        await handle.close();
        if (signal?.aborted) throw new StorageError(`${path}: upload abandoned: the client went away before it was committed`);
        await fs.rename(temp, target);
      } catch (err) {
        void dir?.then((d) => d.close(), () => {});
        await handle.close().catch(() => {});
        await fs.rm(temp, { force: true });
        throw translateFsError(err, path);
      }
      if (dir) await syncDirectory(dir, path);
    },
    async abort() {
      settle();
      stream.destroy();
      await handle.close().catch(() => {});
      await fs.rm(temp, { force: true });
    },
  };
}

/** fsyncs a directory (being opened), which makes a rename in it durable. */
async function syncDirectory(opening: Promise<fs.FileHandle>, path: string): Promise<void> {
  try {
    const d = await opening;
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (err) {
    throw translateFsError(err, path);
  }
}

/**
 * Removes the temporary uploads in `dir` when they are all it holds and none
 * was written in the last `ageMs` (an upload still running writes on). True if removed.
 */
async function removeStaleUploads(dir: string, ageMs: number): Promise<boolean> {
  const cutoff = Date.now() - ageMs;
  const stale: string[] = [];
  for await (const entry of await fs.opendir(dir)) {
    if (!entry.isFile() || !entry.name.startsWith(TEMP_PREFIX)) return false;
    const full = nodePath.join(dir, entry.name);
    const st = await fs.lstat(full).catch(() => null);
    if (st && st.mtimeMs > cutoff) return false;
    stale.push(full);
  }
  await Promise.all(stale.map((f) => fs.rm(f, { force: true })));
  return true;
}

export class LocalStorage implements Storage {
  private realRoot = '';

  constructor(private readonly options: LocalStorageOptions) {}

  async init(): Promise<void> {
    await fs.mkdir(this.options.root, { recursive: true });
    this.realRoot = await fs.realpath(this.options.root);
  }

  async check(): Promise<void> {
    await this.stat('/');
  }

  async scoped(home: string): Promise<Storage> {
    const root = await this.hostPath(home, 'target');
    const st = await fs.stat(root).catch((err) => {
      throw translateFsError(err, home);
    });
    if (!st.isDirectory()) throw new NotADirectoryError(`${home}: not a directory`);
    const view = new LocalStorage({ ...this.options, root });
    await view.init();
    return view;
  }

  /** Maps a storage path to a host path, refusing temp names and escapes. */
  private async hostPath(path: string, mustExist: 'target' | 'parent'): Promise<string> {
    const segments = path.split('/').filter((s) => s.length > 0);
    if (segments.some((s) => s === '..' || s.startsWith(TEMP_PREFIX) || s.includes('\0'))) {
      throw new InvalidNameError(`${path}: invalid name`);
    }
    const host = nodePath.join(this.realRoot, ...segments);
    // The root was resolved at init: a name directly in it has no parent to resolve.
    if (mustExist === 'parent' && segments.length === 1) return host;
    // Resolve symlinks and make sure the result is still inside the root.
    let real: string;
    try {
      real = await fs.realpath(mustExist === 'target' ? host : nodePath.dirname(host));
    } catch (err) {
      throw translateFsError(err, path);
    }
    if (real !== this.realRoot && !real.startsWith(this.realRoot + nodePath.sep)) {
      throw new AccessDeniedError(`${path}: leads outside the storage root`);
    }
    return mustExist === 'target' ? real : nodePath.join(real, nodePath.basename(host));
  }

  private toStat(name: string, st: import('node:fs').Stats): FileStat {
    return {
      name,
      isDirectory: st.isDirectory(),
      size: st.isDirectory() ? 0 : st.size,
      mtime: st.mtime,
      id: `${st.dev.toString(16)}.${st.ino.toString(16)}`,
    };
  }

  async stat(path: string): Promise<FileStat> {
    const host = await this.hostPath(path, 'target');
    try {
      return this.toStat(nodePath.basename(path) || '/', await fs.stat(host));
    } catch (err) {
      throw translateFsError(err, path);
    }
  }

  async *list(path: string): AsyncIterable<FileStat> {
    const host = await this.hostPath(path, 'target');
    let dir: import('node:fs').Dir;
    try {
      dir = await fs.opendir(host, { bufferSize: 128 });
    } catch (err) {
      throw translateFsError(err, path);
    }
    for await (const entry of dir) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const full = nodePath.join(host, entry.name);
      try {
        if (entry.isSymbolicLink()) {
          const real = await fs.realpath(full);
          if (real !== this.realRoot && !real.startsWith(this.realRoot + nodePath.sep)) continue;
        }
        yield this.toStat(entry.name, await fs.stat(full));
      } catch {
        // Vanished meanwhile, or a dangling link: not listed.
      }
    }
  }

  async openRead(path: string, options: ReadOptions = {}): Promise<Readable> {
    const host = await this.hostPath(path, 'target');
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(host, 'r');
    } catch (err) {
      throw translateFsError(err, path);
    }
    const isDirectory = await handle.stat().then(
      (st) => st.isDirectory(),
      () => false,
    );
    if (isDirectory) {
      await handle.close();
      throw new IsADirectoryError(`${path}: is a directory`);
    }
    return handle.createReadStream({ start: options.start ?? 0, highWaterMark: READ_CHUNK });
  }

  async createUpload(path: string, options: UploadOptions = {}): Promise<Upload> {
    const target = await this.hostPath(path, 'parent');
    const dir = nodePath.dirname(target);
    const temp = nodePath.join(dir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    const resumes = options.append === true || (options.offset ?? 0) > 0;
    // A fresh upload creates its temp file while the target is inspected (one round trip fewer).
    const opening = resumes ? null : fs.open(temp, 'wx');
    opening?.catch(() => {}); // awaited below
    let handle: fs.FileHandle;
    let start = 0;
    try {
      const existing = await this.existingTarget(path, target);
      if (opening) handle = await opening;
      else {
        start = await this.copyKept(path, target, temp, existing, options);
        handle = await fs.open(temp, start > 0 ? 'r+' : 'wx');
      }
    } catch (err) {
      await opening?.then((h) => h.close(), () => {});
      // The rm fails too when the "directory" is a file (ENOTDIR): report the first error.
      await fs.rm(temp, { force: true }).catch(() => {});
      throw translateFsError(err, path);
    }
    return localUpload({ path, handle, temp, target, start, fsync: this.options.fsync });
  }

  /** What an upload would replace (null: nothing); refuses a directory, and a symlink out of the root. */
  private async existingTarget(path: string, target: string): Promise<Stats | null> {
    const link = await fs.lstat(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    let existing = link;
    if (link?.isSymbolicLink()) {
      // A final-component symlink must not lead out of the root: APPE or REST+STOR
      // would copy the outside file in.
      await this.hostPath(path, 'target').catch((err) => {
        if (!(err instanceof NotFoundError)) throw err; // dangling: replaced by the upload
      });
      existing = await fs.stat(target).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
    }
    if (existing?.isDirectory()) throw new IsADirectoryError(`${path}: is a directory`);
    return existing;
  }

  /**
   * Resumed upload (APPE, REST + STOR): starts the temp file as a copy of the kept
   * bytes (a reflink where the file system has them), so the original stays intact
   * until commit. Returns the offset to write from.
   */
  private async copyKept(path: string, target: string, temp: string, existing: Stats | null, options: UploadOptions): Promise<number> {
    const keep = options.append ? (existing?.size ?? 0) : (options.offset ?? 0);
    if (keep === 0) return 0;
    if (!existing || existing.size < keep) {
      throw new OffsetPastEndError(`${path}: restart offset ${keep} is past the end of the file`);
    }
    await fs.copyFile(target, temp, fsConstants.COPYFILE_FICLONE);
    await fs.truncate(temp, keep);
    return keep;
  }

  async mkdir(path: string): Promise<void> {
    const host = await this.hostPath(path, 'parent');
    try {
      await fs.mkdir(host);
    } catch (err) {
      throw translateFsError(err, path);
    }
  }

  async rmdir(path: string, options: RmdirOptions = {}): Promise<void> {
    if (path.split('/').every((s) => s === '')) throw new AccessDeniedError(`${path}: cannot remove the root`);
    const host = await this.hostPath(path, 'parent');
    try {
      // rmdir(2) on a symlink fails with ENOTDIR; never remove the directory it points to.
      if ((await fs.lstat(host)).isSymbolicLink()) throw new NotADirectoryError(`${path}: not a directory`);
      await fs.rmdir(host).catch(async (err: NodeJS.ErrnoException) => {
        const age = options.staleUploadAgeMs;
        if (err.code !== 'ENOTEMPTY' || age === undefined || !(await removeStaleUploads(host, age))) throw err;
        await fs.rmdir(host);
      });
    } catch (err) {
      throw translateFsError(err, path);
    }
  }

  async delete(path: string): Promise<void> {
    const host = await this.hostPath(path, 'parent');
    try {
      const st = await fs.lstat(host);
      if (st.isDirectory()) throw new IsADirectoryError(`${path}: is a directory`);
      await fs.unlink(host);
    } catch (err) {
      throw translateFsError(err, path);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const src = await this.hostPath(from, 'parent');
    const dst = await this.hostPath(to, 'parent');
    if (src === this.realRoot) throw new AccessDeniedError(`${from}: cannot rename the root`);
    try {
      const [s, d] = await Promise.all([fs.lstat(src), fs.stat(dst).catch(() => null)]);
      if (d?.isDirectory()) throw new AlreadyExistsError(`${to}: a directory of that name exists`);
      if (s.isDirectory() && (dst + nodePath.sep).startsWith(src + nodePath.sep)) {
        throw new InvalidNameError(`${to}: cannot move a directory into itself`);
      }
      await fs.rename(src, dst);
    } catch (err) {
      throw translateFsError(err, from);
    }
  }

  async setModifiedTime(path: string, mtime: Date): Promise<void> {
    const host = await this.hostPath(path, 'target');
    try {
      const st = await fs.stat(host);
      await fs.utimes(host, st.atime, mtime);
    } catch (err) {
      throw translateFsError(err, path);
    }
  }
}
