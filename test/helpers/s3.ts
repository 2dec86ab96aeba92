/**
 * A real S3-compatible server for tests: Ceph RGW on loopback, started with
 * ../shared/s3/s3-up.sh (idempotent; it installs its Debian packages on first
 * use). Test files share one gateway: each registers while it runs, and the
 * last one out stops the gateway only if a test started it. Each test file
 * gets its own fresh bucket.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  S3Client,
} from '@aws-sdk/client-s3';

const SHARED = resolve(import.meta.dirname, '../../../../shared/s3');
const RGW_DIR = process.env.CEPH_RGW_DIR ?? '/tmp/ceph-rgw';
const STATE = '/tmp/ftpfleet-s3-tests';

export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface S3Fixture {
  env: S3Env;
  client: S3Client;
  bucket: string;
  /** storage config selecting this bucket (merge into startServer's config). */
  storageConfig(extra?: Record<string, unknown>): Record<string, any>;
  /** Every key in the bucket (under `prefix`). */
  keys(prefix?: string): Promise<string[]>;
  /** Makes another bucket, deleted with its contents by close(). */
  extraBucket(tag: string): Promise<string>;
  /** Multipart uploads in progress in the bucket. */
  multipartUploads(): Promise<Array<{ Key?: string; UploadId?: string; Initiated?: Date }>>;
  /** Unregisters, deletes the bucket's contents and the bucket; stops the gateway if a test started it and nobody else uses it. */
  close(): Promise<void>;
}

/**
 * Runs a shell script under the tests' lock (one s3-up/s3-down at a time).
 * `flock -o` keeps the lock out of the Ceph daemons the script starts, and the
 * script sends their output to a file: daemons that inherited the lock or
 * spawnSync's pipes would block every later caller until its timeout.
 */
function locked(script: string, timeoutMs = 300_000): { code: number | null; out: string } {
  mkdirSync(`${STATE}/users`, { recursive: true });
  const r = spawnSync('flock', ['-o', `${STATE}/lock`, 'bash', '-c', script], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, CEPH_RGW_DIR: RGW_DIR, SHARED, STATE, ME: String(process.pid) },
  });
  const why = r.error ? `${r.error.message}\n` : r.signal ? `killed by ${r.signal}\n` : '';
  return { code: r.status, out: `${why}${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function readEnv(): S3Env {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(`${RGW_DIR}/s3.env`, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return {
    endpoint: vars.S3_ENDPOINT!,
    accessKeyId: vars.AWS_ACCESS_KEY_ID!,
    secretAccessKey: vars.AWS_SECRET_ACCESS_KEY!,
    region: vars.AWS_REGION ?? 'us-east-1',
  };
}

/** Starts (or joins) the gateway. Returns a skip reason when it cannot run on this machine (never in CI). */
export function s3Up(): S3Env | { skip: string } {
  const r = locked(`
    set -e
    if [ -f "$CEPH_RGW_DIR/s3.env" ] && [ -f "$CEPH_RGW_DIR/run/client.rgw.a.pid" ] && kill -0 "$(cat "$CEPH_RGW_DIR/run/client.rgw.a.pid")" 2>/dev/null; then
      started=0
    else
      started=1
    fi
    if ! bash "$SHARED/s3-up.sh" </dev/null >"$STATE/s3-up.log" 2>&1; then cat "$STATE/s3-up.log"; exit 1; fi
    [ $started = 1 ] && touch "$STATE/started"
    touch "$STATE/users/$ME"
  `);
  if (r.code !== 0 || !existsSync(`${RGW_DIR}/s3.env`)) {
    const why = `Ceph RGW (../shared/s3/s3-up.sh) could not start on this machine: exit ${r.code}\n${r.out.slice(-3000)}`;
    if (process.env.CI) throw new Error(why);
    return { skip: why };
  }
  return readEnv();
}

/** Unregisters this process; the last user stops the gateway if the tests started it. */
export function s3Down(): void {
  locked(`
    rm -f "$STATE/users/$ME"
    for f in "$STATE"/users/*; do
      [ -e "$f" ] || continue
      kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
    done
    if [ -z "$(ls -A "$STATE/users")" ] && [ -f "$STATE/started" ]; then
      CEPH_RGW_DOWN_FAST=1 bash "$SHARED/s3-down.sh" </dev/null >"$STATE/s3-down.log" 2>&1 && rm -f "$STATE/started"
    fi
    true
  `);
}

export function s3Client(env: S3Env): S3Client {
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The storage.s3 settings the gateway needs (RGW: path style, WHEN_REQUIRED checksums). */
export function s3Settings(env: S3Env, bucket: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bucket,
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    accessKeyId: env.accessKeyId,
    secretAccessKey: env.secretAccessKey,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    partSize: 5 * 1024 * 1024,
    ...extra,
  };
}

export function randomBucket(tag: string): string {
  return `ftpfleet-${tag}-${randomBytes(4).toString('hex')}`;
}

async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  const ups = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of ups.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Starts or joins the gateway and makes a fresh bucket; `skip` when the gateway cannot run here. */
export async function s3Fixture(tag: string): Promise<S3Fixture | { skip: string }> {
  const env = s3Up();
  if ('skip' in env) return env;
  const client = s3Client(env);
  const bucket = randomBucket(tag);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const extra: string[] = [];
  return {
    env,
    client,
    bucket,
    storageConfig: (extra = {}) => ({ storage: { backend: 's3', s3: s3Settings(env, bucket, extra) } }),
    async keys(prefix = '') {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push(o.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async extraBucket(tag: string) {
      const name = randomBucket(tag);
      await client.send(new CreateBucketCommand({ Bucket: name }));
      extra.push(name);
      return name;
    },
    async multipartUploads() {
      const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return r.Uploads ?? [];
    },
    async close() {
      for (const b of [bucket, ...extra]) {
        try {
          await emptyBucket(client, b);
          await client.send(new DeleteBucketCommand({ Bucket: b }));
        } catch {
          // the gateway is wiped anyway when the tests started it
        }
      }
      client.destroy();
      s3Down();
    },
  };
}
