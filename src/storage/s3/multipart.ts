/**
 * Multipart uploads that start from the bytes of an existing object (APPE,
 * REST + STOR), and server-side copies of any size.
 *
 * A resumed upload keeps the first `keep` bytes of the existing object:
 * - keep >= 5 MiB: they are copied inside S3 with UploadPartCopy (ranged, in
 *   parts of copyPartSize), while the client's bytes arrive;
 * - keep < 5 MiB (too small for a part of its own): they are read and sent as
 *   the start of the first uploaded part.
 * The client's bytes follow as parts of `partSize`, at most `queueSize` in
 * flight (the stream applies backpressure beyond that). The object appears
 * only at CompleteMultipartUpload; abort() aborts the multipart upload.
 */
import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { InsufficientStorageError, StorageError } from '../errors.js';
import type { Upload } from '../storage.js';
import { translateS3Error } from './errors.js';
import { copyRanges } from './keys.js';

export const MIN_PART = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** The largest object CopyObject copies in one request. */
export const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;

export interface MultipartContext {
  client: S3Client;
  bucket: string;
  partSize: number;
  queueSize: number;
  copyPartSize: number;
}

/** CopySource for a key (each segment URL-encoded, as S3 expects). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The header fields a copy with MetadataDirective REPLACE must carry over from the source. */
export function preservedHeaders(head: HeadObjectCommandOutput) {
  return {
    ...(head.ContentType ? { ContentType: head.ContentType } : {}),
    ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
    ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
    ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
    ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
    ...(head.StorageClass ? { StorageClass: head.StorageClass } : {}),
  };
}

async function readAll(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > limit) throw new StorageError(`read more than the ${limit} bytes asked for`);
  }
  return Buffer.concat(chunks);
}

/**
 * Copies `size` bytes of `from` to `to` inside S3: one CopyObject up to
 * 5 GiB, a multipart copy above. `head` is the source's HeadObject; with
 * `metadata` the copy gets it (REPLACE), otherwise the source's. Fails if the
 * source changed since `head` (its ETag).
 */
export async function copyObject(
  ctx: MultipartContext,
  from: string,
  to: string,
  head: HeadObjectCommandOutput,
  metadata: Record<string, string> | null,
  path: string,
): Promise<void> {
  const { client, bucket } = ctx;
  const size = head.ContentLength ?? 0;
  const source = copySource(bucket, from);
  try {
    if (size <= Math.min(MAX_SINGLE_COPY, ctx.copyPartSize)) {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: to,
          CopySource: source,
          ...(head.ETag ? { CopySourceIfMatch: head.ETag } : {}),
          ...(metadata ? { MetadataDirective: 'REPLACE', Metadata: metadata, ...preservedHeaders(head) } : {}),
        }),
      );
      return;
    }
  } catch (err) {
    throw translateS3Error(err, path, bucket);
  }
  let uploadId: string | undefined;
  try {
    const created = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, Metadata: metadata ?? head.Metadata, ...preservedHeaders(head) }),
    );
    uploadId = created.UploadId!;
    const parts = await copyParts(ctx, from, head.ETag, to, uploadId, size, 1);
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    if (uploadId) await abortMultipart(client, bucket, to, uploadId);
    throw translateS3Error(err, path, bucket);
  }
}

/** UploadPartCopy of the first `length` bytes of `from`, as parts firstPart, firstPart+1, … (4 at a time). */
async function copyParts(
  ctx: MultipartContext,
  from: string,
  etag: string | undefined,
  to: string,
  uploadId: string,
  length: number,
  firstPart: number,
): Promise<Array<{ PartNumber: number; ETag: string }>> {
  const ranges = copyRanges(length, Math.min(ctx.copyPartSize, MAX_SINGLE_COPY), MIN_PART);
  const parts: Array<{ PartNumber: number; ETag: string }> = new Array(ranges.length);
  let next = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const i = next++;
      const [start, end] = ranges[i]!;
      const r = await ctx.client.send(
        new UploadPartCopyCommand({
          Bucket: ctx.bucket,
          Key: to,
          UploadId: uploadId,
          PartNumber: firstPart + i,
          CopySource: copySource(ctx.bucket, from),
          CopySourceRange: `bytes=${start}-${end}`,
          ...(etag ? { CopySourceIfMatch: etag } : {}),
        }),
      );
      parts[i] = { PartNumber: firstPart + i, ETag: r.CopyPartResult!.ETag! };
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ranges.length) }, worker));
  return parts;
}

/** Aborts a multipart upload; an upload already gone is fine. Tries a few times. */
export async function abortMultipart(client: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      return;
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchUpload' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return;
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/**
 * An upload to `key` that begins with the first `keep` bytes of the existing
 * object `source` (described by `head`), then the bytes written to the stream.
 */
export async function createComposedUpload(
  ctx: MultipartContext,
  key: string,
  source: { key: string; head: HeadObjectCommandOutput },
  keep: number,
  path: string,
): Promise<Upload> {
  const { client, bucket, partSize, queueSize } = ctx;
  const fail = (err: unknown) => translateS3Error(err, path, bucket);
  const etag = source.head.ETag;
  // Read a small kept head first (it must go inside the first part).
  let head: Buffer = Buffer.alloc(0);
  if (keep > 0 && keep < MIN_PART) {
    try {
      const got = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: source.key, Range: `bytes=0-${keep - 1}`, ...(etag ? { IfMatch: etag } : {}) }),
      );
      head = await readAll(got.Body as Readable, keep);
    } catch (err) {
      throw fail(err);
    }
    if (head.length !== keep) throw new StorageError(`${path}: read ${head.length} of the ${keep} bytes to keep`);
  }
  let uploadId: string;
  try {
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...preservedHeaders(source.head) }));
    uploadId = created.UploadId!;
  } catch (err) {
    throw fail(err);
  }
  const parts: Array<{ PartNumber: number; ETag: string }> = [];
  let nextPart = 1;
  let copying: Promise<void> = Promise.resolve();
  if (keep >= MIN_PART) {
    const nCopy = copyRanges(keep, Math.min(ctx.copyPartSize, MAX_SINGLE_COPY), MIN_PART).length;
    nextPart = nCopy + 1;
    copying = copyParts(ctx, source.key, etag, key, uploadId, keep, 1).then((p) => void parts.push(...p));
  }
  let copyError: unknown = null;
  copying = copying.catch((err) => {
    copyError = err;
    stream.destroy(fail(err));
  });

  let pending: Buffer[] = head.length > 0 ? [head] : [];
  let pendingBytes = head.length;
  const inFlight = new Set<Promise<void>>();
  let partError: unknown = null;

  const sendPart = (body: Buffer) => {
    const partNumber = nextPart++;
    if (partNumber > MAX_PARTS) {
      throw new InsufficientStorageError(`${path}: file too large: more than ${MAX_PARTS} parts of ${partSize} bytes (raise storage.s3.partSize)`);
    }
    const p = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
      .then(
        (r) => void parts.push({ PartNumber: partNumber, ETag: r.ETag! }),
        (err) => {
          partError ??= err;
          stream.destroy(fail(err));
        },
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const takePending = (): Buffer => {
    const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    return body;
  };

  const stream = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _enc, done) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < partSize) return done();
      try {
        sendPart(takePending());
      } catch (err) {
        return done(err as Error);
      }
      // Backpressure: hold the writer while queueSize parts are in flight.
      const wait = async () => {
        while (inFlight.size >= queueSize) await Promise.race(inFlight);
      };
      wait().then(() => done(partError ? fail(partError) : null));
    },
    final(done) {
      try {
        // The last part may be short; an upload always has at least one part.
        if (pendingBytes > 0 || nextPart === 1) sendPart(takePending());
      } catch (err) {
        return done(err as Error);
      }
      Promise.all([...inFlight]).then(() => done(partError ? fail(partError) : null));
    },
  });
  stream.on('error', () => {}); // reported through the pipeline, commit or abort

  let settled = false;
  const settle = () => {
    if (settled) throw new StorageError('upload already committed or aborted');
    settled = true;
  };
  const drain = async () => {
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    await copying;
  };
  return {
    stream,
    async commit(signal?: AbortSignal) {
      settle();
      await drain();
      try {
        if (partError || copyError) throw partError ?? copyError;
        if (signal?.aborted) throw new StorageError(`${path}: upload abandoned: the client went away before it was committed`);
        if (!stream.writableFinished) throw new StorageError(`${path}: upload committed before its data ended`);
        parts.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      } catch (err) {
        await abortMultipart(client, bucket, key, uploadId).catch(() => {});
        throw fail(err);
      }
    },
    async abort() {
      settle();
      stream.destroy();
      // Parts still being sent would outlive an abort issued now: wait for them.
      await drain();
      await abortMultipart(client, bucket, key, uploadId);
    },
  };
}
