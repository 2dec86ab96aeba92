/**
 * Storage in an S3 bucket (AWS S3 or a compatible server: Ceph RGW, MinIO, R2),
 * under a key prefix. Shared by every node of a fleet: nothing is kept locally.
 *
 * - Files are objects; a directory is a key prefix. MKD writes a marker object
 *   "dir/" so empty directories exist; a directory exists while its marker or
 *   any key below it does.
 * - Uploads stream as multipart uploads (lib-storage) with bounded memory and
 *   no temporary object: the object appears under its name only when S3 has
 *   completed the upload (commit), and abort aborts the multipart upload.
 * - APPE and REST + STOR compose the kept bytes of the existing object and the
 *   new ones (see multipart.ts); nothing is overwritten before that completes.
 * - Renames copy then delete (multipart copy for big objects); a directory
 *   rename is refused above renameDirMaxObjects objects.
 * - A modification time set by MFMT is user metadata x-amz-meta-mtime
 *   (seconds since the epoch, as rclone and s3fs write it).
 */
import { Readable, Writable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload as LibUpload } from '@aws-sdk/lib-storage';
import {
  AccessDeniedError,
  AlreadyExistsError,
  DirectoryNotEmptyError,
  InvalidNameError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  OffsetPastEndError,
  StorageError,
} from '../errors.js';
import type { FileStat, ReadOptions, Storage, Upload, UploadOptions } from '../storage.js';
import { isNotFound, s3ErrorName, s3Status, translateS3Error } from './errors.js';
import {
  MTIME_METADATA,
  NO_TIME,
  baseNameOf,
  directoryPrefix,
  entryToStat,
  formatMtimeMetadata,
  isRoot,
  normalizePrefix,
  objectId,
  objectKey,
  pageEntries,
  parentPath,
  parseMtimeMetadata,
  type ListedEntry,
} from './keys.js';
import { abortMultipart, copyObject, createComposedUpload, type MultipartContext } from './multipart.js';

export interface S3StorageOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix of the store's root ("" or "a/b/"). */
  prefix: string;
  partSize: number;
  queueSize: number;
  copyPartSize: number;
  listMetadata: boolean;
  listConcurrency: number;
  renameDirMaxObjects: number;
}

/** What a ListObjectsV2 of a directory's prefix said about it. */
interface DirProbe {
  exists: boolean;
  /** The marker object "dir/", when there is one. */
  marker: { lastModified: Date | null } | null;
  /** Some key other than the marker lies below. */
  hasChildren: boolean;
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of results. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class S3Storage implements Storage {
  private readonly prefix: string;

  constructor(private readonly options: S3StorageOptions) {
    this.prefix = normalizePrefix(options.prefix);
  }

  get bucket(): string {
    return this.options.bucket;
  }

  get keyPrefix(): string {
    return this.prefix;
  }

  private get client(): S3Client {
    return this.options.client;
  }

  private get mp(): MultipartContext {
    const { client, bucket, partSize, queueSize, copyPartSize } = this.options;
    return { client, bucket, partSize, queueSize, copyPartSize };
  }

  private fail(err: unknown, path: string): StorageError {
    return translateS3Error(err, path, this.bucket);
  }

  private key(path: string): string {
    return objectKey(this.prefix, path);
  }

  private dir(path: string): string {
    return directoryPrefix(this.prefix, path);
  }

  /* ---------- requests ---------- */

  /** HeadObject, or null when there is no such key (a missing bucket looks the same to HEAD). */
  private async head(key: string, path: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.fail(err, path);
    }
  }

  private async probeDir(dirPrefix: string, path: string): Promise<DirProbe> {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dirPrefix, MaxKeys: 2 }));
    } catch (err) {
      throw this.fail(err, path);
    }
    const contents = page.Contents ?? [];
    const first = contents[0];
    const marker = first?.Key === dirPrefix ? { lastModified: first.LastModified ?? null } : null;
    return { exists: contents.length > 0, marker, hasChildren: contents.some((c) => c.Key !== dirPrefix) };
  }

  /** Throws unless `path` is an existing directory (as parent of something being created). */
  private async requireDirectory(path: string, probe?: DirProbe): Promise<void> {
    if (isRoot(path)) return;
    const p = probe ?? (await this.probeDir(this.dir(path), path));
    if (p.exists) return;
    if (await this.head(this.key(path), path)) throw new NotADirectoryError(`${path}: not a directory`);
    throw new NotFoundError(`${path}: no such directory`);
  }

  /* ---------- Storage ---------- */

  async init(): Promise<void> {
    // Nothing to create: a bucket is made by its owner. An unreachable bucket
    // must not stop the node; check() (readiness) reports it.
  }

  /** HeadBucket: reachable, existing and ours to use. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = s3Status(err);
      const name = s3ErrorName(err);
      if (status === 404 || name === 'NoSuchBucket' || name === 'NotFound') {
        throw new StorageError(`bucket "${this.bucket}" does not exist (${name}, HTTP ${status ?? '?'})`, { cause: err });
      }
      throw this.fail(err, `bucket "${this.bucket}"`);
    }
  }

  async scoped(home: string): Promise<Storage> {
    // No request: S3 has no directories to open. The home's marker is made at first login.
    return new S3Storage({ ...this.options, prefix: this.dir(home) });
  }

  async stat(path: string): Promise<FileStat> {
    if (isRoot(path)) return { name: '/', isDirectory: true, size: 0, mtime: NO_TIME, id: objectId(this.bucket, this.prefix) };
    const key = this.key(path);
    const [head, dir] = await Promise.allSettled([this.head(key, path), this.probeDir(key + '/', path)]);
    if (head.status === 'fulfilled' && head.value) return this.fileStat(baseNameOf(path), key, head.value);
    // The listing's error is the telling one (HEAD of a missing bucket is a bare 404).
    if (dir.status === 'rejected') throw dir.reason;
    if (head.status === 'rejected') throw head.reason;
    if (dir.value.exists) {
      return {
        name: baseNameOf(path),
        isDirectory: true,
        size: 0,
        mtime: dir.value.marker?.lastModified ?? NO_TIME,
        id: objectId(this.bucket, key + '/'),
      };
    }
    throw new NotFoundError(`${path}: no such file or directory`);
  }

  private fileStat(name: string, key: string, head: HeadObjectCommandOutput): FileStat {
    return {
      name,
      isDirectory: false,
      size: head.ContentLength ?? 0,
      mtime: parseMtimeMetadata(head.Metadata?.[MTIME_METADATA]) ?? head.LastModified ?? NO_TIME,
      id: objectId(this.bucket, key),
    };
  }

  async *list(path: string): AsyncIterable<FileStat> {
    const prefix = this.dir(path);
    let token: string | undefined;
    let first = true;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 1000, ContinuationToken: token }),
        );
      } catch (err) {
        throw this.fail(err, path);
      }
      if (first && !isRoot(path) && (page.Contents ?? []).length === 0 && (page.CommonPrefixes ?? []).length === 0) {
        if (await this.head(this.key(path), path)) throw new NotADirectoryError(`${path}: not a directory`);
        throw new NotFoundError(`${path}: no such directory`);
      }
      first = false;
      // One page at a time: its entries (and their metadata) are all that is held.
      yield* await this.withTimes(pageEntries(page, prefix));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Listed entries as FileStats, with x-amz-meta-mtime read by HEAD when listMetadata is on. */
  private async withTimes(entries: ListedEntry[]): Promise<FileStat[]> {
    if (!this.options.listMetadata) return entries.map((e) => entryToStat(this.bucket, e));
    const stats = await mapLimit(entries, this.options.listConcurrency, async (e) => {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: e.key }));
        return entryToStat(this.bucket, e, parseMtimeMetadata(head.Metadata?.[MTIME_METADATA]) ?? head.LastModified ?? null);
      } catch (err) {
        if (isNotFound(err)) return e.isDirectory ? entryToStat(this.bucket, e) : null; // a directory without marker; a file deleted meanwhile
        return entryToStat(this.bucket, e); // listing goes on with LastModified
      }
    });
    return stats.filter((s): s is FileStat => s !== null);
  }

  async openRead(path: string, options: ReadOptions = {}): Promise<Readable> {
    const key = this.key(path);
    const start = options.start ?? 0;
    try {
      const got = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }),
      );
      return got.Body as Readable;
    } catch (err) {
      // REST at the very end of the file: nothing left to send.
      if (s3ErrorName(err) === 'InvalidRange' || s3Status(err) === 416) return Readable.from([]);
      if (isNotFound(err)) {
        const dir = await this.probeDir(key + '/', path);
        if (dir.exists) throw new IsADirectoryError(`${path}: is a directory`);
      }
      throw this.fail(err, path);
    }
  }

  async createUpload(path: string, options: UploadOptions = {}): Promise<Upload> {
    const key = this.key(path);
    const parent = parentPath(path);
    const [existing, asDir, parentProbe] = await Promise.all([
      this.head(key, path),
      this.probeDir(key + '/', path),
      isRoot(parent) ? Promise.resolve(undefined) : this.probeDir(this.dir(parent), parent),
    ]);
    if (!existing && asDir.exists) throw new IsADirectoryError(`${path}: is a directory`);
    await this.requireDirectory(parent, parentProbe);
    const keep = options.append ? (existing?.ContentLength ?? 0) : (options.offset ?? 0);
    if (keep > 0) {
      if (!existing || (existing.ContentLength ?? 0) < keep) {
        throw new OffsetPastEndError(`${path}: restart offset ${keep} is past the end of the file`);
      }
      return createComposedUpload(this.mp, key, { key, head: existing }, keep, path);
    }
    return this.streamingUpload(key, path);
  }

  /**
   * A new object from the stream's bytes: one PutObject when they fit in one
   * part, else a multipart upload (lib-storage). The bytes written go into the
   * upload's Body, which lib-storage reads a part at a time: with queueSize
   * parts in flight it stops reading and the writer waits (backpressure). The
   * Body ends only at commit(), so nothing is completed before that.
   */
  private streamingUpload(key: string, path: string): Upload {
    const { client, bucket, partSize, queueSize } = this.options;
    let wake: (() => void) | null = null;
    const body = new Readable({
      highWaterMark: 1024 * 1024,
      read() {
        const w = wake;
        wake = null;
        w?.();
      },
    });
    body.on('error', () => {}); // our own destroy() on abort
    const upload = new LibUpload({ client, params: { Bucket: bucket, Key: key, Body: body }, partSize, queueSize, leavePartsOnError: false });
    let failure: StorageError | null = null;
    const stream = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _enc, done) {
        if (failure) return done(failure);
        if (body.push(chunk)) return done();
        wake = () => done(failure);
      },
      final(done) {
        done(failure); // every byte is in the Body; the upload ends at commit()
      },
    });
    stream.on('error', () => {}); // reported through the transfer's pipeline, commit or abort
    const finished = upload.done().then(
      () => undefined,
      (err) => {
        failure ??= this.fail(err, path);
        // Stop the transfer now rather than let the client fill a Body nobody reads.
        stream.destroy(failure);
        throw failure;
      },
    );
    finished.catch(() => {});
    let settled = false;
    const settle = () => {
      if (settled) throw new StorageError('upload already committed or aborted');
      settled = true;
    };
    const discard = async () => {
      body.destroy(new Error('upload aborted'));
      await finished.catch(() => {});
      // lib-storage aborts the multipart upload itself; make sure even if that request failed.
      if (upload.uploadId) await abortMultipart(client, bucket, key, upload.uploadId);
    };
    return {
      stream,
      async commit(signal?: AbortSignal) {
        settle();
        if (!failure && signal?.aborted) failure = new StorageError(`${path}: upload abandoned: the client went away before it was committed`);
        if (failure) {
          await discard().catch(() => {});
          throw failure;
        }
        // Until CompleteMultipartUpload, lib-storage's own abort still stops it.
        const onAbandon = () => void upload.abort();
        signal?.addEventListener('abort', onAbandon, { once: true });
        body.push(null);
        try {
          await finished;
        } catch (err) {
          await discard().catch(() => {});
          throw err;
        } finally {
          signal?.removeEventListener('abort', onAbandon);
        }
      },
      async abort() {
        settle();
        stream.destroy();
        await discard();
      },
    };
  }

  async mkdir(path: string): Promise<void> {
    if (isRoot(path)) throw new AlreadyExistsError(`${path}: already exists`);
    const key = this.key(path);
    const parent = parentPath(path);
    const [file, dir, parentProbe] = await Promise.all([
      this.head(key, path),
      this.probeDir(key + '/', path),
      isRoot(parent) ? Promise.resolve(undefined) : this.probeDir(this.dir(parent), parent),
    ]);
    if (file || dir.exists) throw new AlreadyExistsError(`${path}: already exists`);
    await this.requireDirectory(parent, parentProbe);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key + '/', Body: '', ContentLength: 0 }));
    } catch (err) {
      throw this.fail(err, path);
    }
  }

  async rmdir(path: string): Promise<void> {
    if (isRoot(path)) throw new AccessDeniedError(`${path}: cannot remove the root`);
    const prefix = this.dir(path);
    const probe = await this.probeDir(prefix, path);
    if (!probe.exists) {
      if (await this.head(this.key(path), path)) throw new NotADirectoryError(`${path}: not a directory`);
      throw new NotFoundError(`${path}: no such directory`);
    }
    if (probe.hasChildren) throw new DirectoryNotEmptyError(`${path}: directory not empty`);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: prefix }));
    } catch (err) {
      throw this.fail(err, path);
    }
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    if (!(await this.head(key, path))) {
      const dir = await this.probeDir(key + '/', path);
      if (dir.exists) throw new IsADirectoryError(`${path}: is a directory`);
      throw new NotFoundError(`${path}: no such file or directory`);
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw this.fail(err, path);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    if (isRoot(from)) throw new AccessDeniedError(`${from}: cannot rename the root`);
    if (isRoot(to)) throw new AlreadyExistsError(`${to}: a directory of that name exists`);
    const src = this.key(from);
    const dst = this.key(to);
    if (src === dst) return;
    const toParent = parentPath(to);
    const [srcHead, srcDir, dstHead, dstDir, parentProbe] = await Promise.all([
      this.head(src, from),
      this.probeDir(src + '/', from),
      this.head(dst, to),
      this.probeDir(dst + '/', to),
      isRoot(toParent) ? Promise.resolve(undefined) : this.probeDir(this.dir(toParent), toParent),
    ]);
    if (!srcHead && !srcDir.exists) throw new NotFoundError(`${from}: no such file or directory`);
    if (dstDir.exists) throw new AlreadyExistsError(`${to}: a directory of that name exists`);
    await this.requireDirectory(toParent, parentProbe);
    if (srcHead) {
      await copyObject(this.mp, src, dst, srcHead, null, from);
      await this.deleteKeys([src], from);
      return;
    }
    if ((dst + '/').startsWith(src + '/')) throw new InvalidNameError(`${to}: cannot move a directory into itself`);
    if (dstHead) throw new AlreadyExistsError(`${to}: a file of that name exists`);
    await this.renameDirectory(from, src + '/', dst + '/');
  }

  /**
   * Copies every object under `srcPrefix` to `dstPrefix`, then deletes the
   * originals. Refused above renameDirMaxObjects objects: S3 has no rename, and
   * a long copy would leave two half-trees if the node died in the middle.
   */
  private async renameDirectory(from: string, srcPrefix: string, dstPrefix: string): Promise<void> {
    const max = this.options.renameDirMaxObjects;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: srcPrefix, ContinuationToken: token, MaxKeys: 1000 }));
      } catch (err) {
        throw this.fail(err, from);
      }
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      if (keys.length > max) {
        throw new AccessDeniedError(
          `${from}: directory has more than ${max} objects; renaming a directory on S3 copies every object, so it is refused above storage.s3.renameDirMaxObjects (${max})`,
        );
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const copied: string[] = [];
    try {
      await mapLimit(keys, 8, async (key) => {
        const target = dstPrefix + key.slice(srcPrefix.length);
        const head = await this.head(key, from);
        if (!head) return; // deleted meanwhile
        await copyObject(this.mp, key, target, head, null, from);
        copied.push(target);
      });
    } catch (err) {
      // Leave the original tree as it was: remove the copies made so far.
      await this.deleteKeys(copied, from).catch(() => {});
      throw err;
    }
    await this.deleteKeys(keys, from);
  }

  /** Deletes keys, 1000 per DeleteObjects request. */
  private async deleteKeys(keys: string[], path: string): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let failed: Array<{ Key?: string; Code?: string }> = [];
      try {
        const r = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        failed = r.Errors ?? [];
      } catch (err) {
        throw this.fail(err, path);
      }
      if (failed.length > 0) {
        const first = failed[0]!;
        throw this.fail(Object.assign(new Error(first.Code ?? 'DeleteFailed'), { name: first.Code ?? 'DeleteFailed' }), path);
      }
    }
  }

  async setModifiedTime(path: string, mtime: Date): Promise<void> {
    const key = this.key(path);
    let target = key;
    let head = await this.head(key, path);
    if (!head) {
      // A directory: its marker carries the time (a directory without one has none to set).
      head = await this.head(key + '/', path);
      target = key + '/';
      if (!head) {
        const dir = await this.probeDir(key + '/', path);
        if (dir.exists) throw new AccessDeniedError(`${path}: directory has no marker object to keep a time on`);
        throw new NotFoundError(`${path}: no such file or directory`);
      }
    }
    const metadata = { ...(head.Metadata ?? {}), [MTIME_METADATA]: formatMtimeMetadata(mtime) };
    await copyObject(this.mp, target, target, head, metadata, path);
  }

  /** Used by the cleanup command and tests: aborts one multipart upload. */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    await abortMultipart(this.client, this.bucket, key, uploadId);
  }
}
