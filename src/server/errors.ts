/**
 * Every failure a command can meet, one class per kind, and the one place
 * (replyForError) where each kind becomes an FTP reply code.
 */
import { reply, type Reply } from '../protocol/replies.js';
import {
  AccessDeniedError,
  AlreadyExistsError,
  DirectoryNotEmptyError,
  InsufficientStorageError,
  InvalidNameError,
  IsADirectoryError,
  OffsetPastEndError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  TransientStorageError,
} from '../storage/errors.js';
import { PassivePortsExhaustedError } from '../net/passivePortPool.js';
import { DataConnectionError } from '../net/dataChannel.js';

/** No data connection could be set up (no PASV/PORT, timeout, refused connect): defined beside the data channels. */
export { DataConnectionError };

export class FtpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Malformed or invalid argument. */
export class InvalidArgumentError extends FtpError {}
/** A parameter value this server does not implement (TYPE E, MODE B…). */
export class UnsupportedParameterError extends FtpError {}
/** Command not allowed before login. */
export class NotLoggedInError extends FtpError {}
/** Command out of sequence (RNTO without RNFR…). */
export class BadSequenceError extends FtpError {}
/** The user's permissions do not allow this. */
export class PermissionDeniedError extends FtpError {}
/** A PORT/EPRT target refused by policy (bounce protection). */
export class ActiveTargetRefusedError extends FtpError {}
/** EPRT/EPSV for an address family the connection cannot use (RFC 2428 §2). */
export class NetworkProtocolError extends FtpError {}
/** The transfer stopped before the end (ABOR, data connection lost). */
export class TransferAbortedError extends FtpError {}
/** The session may not proceed at all (limit, ban, shutdown): reply and close. */
export class SessionRefusedError extends FtpError {}
/** A command of the standards that this node does not offer as configured. */
export class NotAvailableError extends FtpError {}
/** Login before AUTH TLS where policy requires TLS (RFC 4217 §11). */
export class TlsRequiredError extends FtpError {}
/** A transfer without PROT P where policy requires protected data (RFC 4217 §9). */
export class DataProtectionRequiredError extends FtpError {}
/** The data connection's TLS handshake failed or did not reuse the control session. */
export class DataTlsError extends FtpError {}
/** Refused by security policy (PROT C under a data-TLS policy, CCC). */
export class PolicyDeniedError extends FtpError {}

type ErrorClass = abstract new (...args: never[]) => Error;

const CODES: Array<[ErrorClass, number]> = [
  [InvalidArgumentError, 501],
  [UnsupportedParameterError, 504],
  [NotLoggedInError, 530],
  [BadSequenceError, 503],
  [PermissionDeniedError, 550],
  [DataConnectionError, 425],
  [PassivePortsExhaustedError, 425],
  [ActiveTargetRefusedError, 504],
  [NetworkProtocolError, 522],
  [TransferAbortedError, 426],
  [SessionRefusedError, 421],
  [NotAvailableError, 502],
  [TlsRequiredError, 530],
  [DataProtectionRequiredError, 521],
  [DataTlsError, 522],
  [PolicyDeniedError, 534],
  [NotFoundError, 550],
  [AlreadyExistsError, 550],
  [NotADirectoryError, 550],
  [IsADirectoryError, 550],
  [DirectoryNotEmptyError, 550],
  [AccessDeniedError, 550],
  [InsufficientStorageError, 552],
  [InvalidNameError, 553],
  // RFC 3659 §5.5: an invalid REST parameter.
  [OffsetPastEndError, 554],
  [TransientStorageError, 451],
  [StorageError, 451],
];

/** The reply for an error; null when it is not one of ours (a bug: log it). */
export function replyForError(err: unknown): Reply | null {
  for (const [cls, code] of CODES) {
    if (err instanceof cls) return reply(code, (err as Error).message);
  }
  return null;
}
