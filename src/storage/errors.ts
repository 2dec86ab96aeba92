/**
 * Storage failures, one class per kind. Backends translate their native
 * errors (errno codes, S3 error names) into these; the server maps each
 * class to one FTP reply in one place (server/errors.ts).
 */

export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends StorageError {}
export class AlreadyExistsError extends StorageError {}
export class NotADirectoryError extends StorageError {}
export class IsADirectoryError extends StorageError {}
export class DirectoryNotEmptyError extends StorageError {}
export class AccessDeniedError extends StorageError {}
export class InsufficientStorageError extends StorageError {}
export class InvalidNameError extends StorageError {}
/** A start offset (resumed read or upload) past the end of the file. */
export class OffsetPastEndError extends StorageError {}
/** A failure that may go away if retried (I/O error, throttling). */
export class TransientStorageError extends StorageError {}

/**
 * What a log line should say about the native error behind a storage error
 * (an S3 error's name, HTTP status and request ids; an errno code), or
 * undefined when there is none.
 */
export function storageErrorCause(err: unknown): Record<string, unknown> | undefined {
  if (!(err instanceof StorageError) || err.cause === undefined || err.cause === null) return undefined;
  const c = err.cause as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    Code?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string; attempts?: number };
  };
  const out: Record<string, unknown> = {};
  if (typeof c.name === 'string') out.name = c.name;
  if (typeof c.message === 'string' && c.message !== '') out.message = c.message;
  if (typeof c.code === 'string') out.code = c.code;
  else if (typeof c.Code === 'string') out.code = c.Code;
  const m = c.$metadata;
  if (m) {
    if (m.httpStatusCode !== undefined) out.status = m.httpStatusCode;
    if (m.requestId) out.requestId = m.requestId;
    if (m.extendedRequestId) out.extendedRequestId = m.extendedRequestId;
    if (m.attempts !== undefined) out.attempts = m.attempts;
  }
  return out;
}
