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
/** A failure that may go away if retried (I/O error, throttling). */
export class TransientStorageError extends StorageError {}
