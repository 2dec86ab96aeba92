/**
 * S3 errors (by error name and HTTP status, never by message: RGW sends empty
 * messages) translated into storage error classes. The S3 error is kept as
 * `cause`, so the log line can show its name, status and request id.
 */
import {
  AccessDeniedError,
  InsufficientStorageError,
  InvalidNameError,
  NotFoundError,
  StorageError,
  TransientStorageError,
} from '../errors.js';

interface S3LikeError {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

export function s3ErrorName(err: unknown): string {
  const e = (err ?? {}) as S3LikeError;
  return e.Code ?? e.name ?? e.code ?? 'Error';
}

export function s3Status(err: unknown): number | undefined {
  return ((err ?? {}) as S3LikeError).$metadata?.httpStatusCode;
}

/** A missing key (HEAD answers a bare 404 "NotFound", GET "NoSuchKey"). */
export function isNotFound(err: unknown): boolean {
  const name = s3ErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload');
}

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'PriorRequestNotComplete',
]);

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

const QUOTA = new Set(['QuotaExceeded', 'EntityTooLarge', 'InsufficientCapacity', 'TooManyBuckets', 'UserSuspended']);

const DENIED = new Set(['AccessDenied', 'AllAccessDisabled', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AccountProblem', 'InvalidObjectState']);

const BAD_NAME = new Set(['KeyTooLongError', 'InvalidObjectName', 'InvalidArgument']);

/** The storage error for an S3 failure about `path` (`bucket` names the bucket in messages). */
export function translateS3Error(err: unknown, path: string, bucket: string): StorageError {
  if (err instanceof StorageError) return err;
  const name = s3ErrorName(err);
  const status = s3Status(err);
  const code = (err as { code?: string } | null)?.code;
  const tag = status ? `${name}, HTTP ${status}` : name;
  if (name === 'NoSuchBucket') return new StorageError(`storage unavailable: bucket "${bucket}" does not exist (${tag})`, { cause: err });
  if (isNotFound(err)) return new NotFoundError(`${path}: no such file or directory`, { cause: err });
  if (QUOTA.has(name) || status === 507) return new InsufficientStorageError(`${path}: storage quota exceeded (${tag})`, { cause: err });
  if (DENIED.has(name) || status === 403) return new AccessDeniedError(`${path}: access denied by the object store (${tag})`, { cause: err });
  if (BAD_NAME.has(name)) return new InvalidNameError(`${path}: name refused by the object store (${tag})`, { cause: err });
  if (name === 'PreconditionFailed' || status === 412) {
    return new TransientStorageError(`${path}: changed by another client meanwhile; try again (${tag})`, { cause: err });
  }
  if (name === 'NoSuchUpload') return new TransientStorageError(`${path}: the multipart upload was aborted meanwhile (${tag})`, { cause: err });
  if (
    THROTTLING.has(name) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    (code !== undefined && NETWORK.has(code)) ||
    name === 'AbortError' ||
    (err as S3LikeError | null)?.$retryable !== undefined
  ) {
    return new TransientStorageError(`${path}: object store temporarily unavailable (${tag}); try again`, { cause: err });
  }
  return new StorageError(`${path}: object store error (${tag})`, { cause: err });
}
