/**
 * Multipart uploads left behind by a node that died mid-upload (SIGKILL,
 * power loss): invisible, but their parts are stored and billed until
 * aborted. A bucket lifecycle rule (AbortIncompleteMultipartUpload) removes
 * them after whole days; `ftpfleet s3 cleanup` does it now, for uploads older
 * than a given age (older than any upload still running).
 */
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortMultipart } from './multipart.js';

export interface StaleUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

/** Multipart uploads under `prefix` started before `before`, page by page. */
export async function* staleUploads(client: S3Client, bucket: string, prefix: string, before: Date): AsyncGenerator<StaleUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !u.Initiated) continue;
      if (u.Initiated.getTime() < before.getTime()) yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated };
    }
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
    if (!keyMarker && !uploadIdMarker) return;
  }
}

/** Aborts the stale uploads (or only lists them with dryRun); returns them. */
export async function abortStaleUploads(
  client: S3Client,
  bucket: string,
  prefix: string,
  before: Date,
  options: { dryRun?: boolean; onUpload?: (u: StaleUpload) => void } = {},
): Promise<StaleUpload[]> {
  const found: StaleUpload[] = [];
  // Collect first: aborting while paging would shift the markers.
  for await (const u of staleUploads(client, bucket, prefix, before)) found.push(u);
  for (const u of found) {
    if (!options.dryRun) await abortMultipart(client, bucket, u.key, u.uploadId);
    options.onUpload?.(u);
  }
  return found;
}
