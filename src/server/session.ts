/**
 * One client's control connection: reads command lines, runs their handlers
 * in order, and owns the session state (login, directory, data channel,
 * running transfer). ABOR, STAT and NOOP are answered while a transfer runs;
 * other commands wait for it (RFC 959 §4.1.3).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { User } from '../auth/user.js';
import type { Permission } from '../config/schema.js';
import { normalizeAddress } from '../net/addressMatch.js';
import { LineSplitter, parseCommandLine } from '../protocol/commandLine.js';
import { MLST_FACTS, type MlstFact } from '../protocol/listing.js';
import { formatReply, reply, type Reply } from '../protocol/replies.js';
import { resolveVirtual } from '../protocol/virtualPath.js';
import type { Storage, Upload } from '../storage/storage.js';
import type { ServerContext } from './context.js';
import type { DataChannel, DataMode } from './dataChannel.js';
import {
  BadSequenceError,
  DataConnectionError,
  NotLoggedInError,
  PermissionDeniedError,
  replyForError,
  SessionRefusedError,
  TransferAbortedError,
} from './errors.js';
import { COMMANDS } from './handlers/index.js';
import { receiveFromClient, sendToClient } from './transfer.js';

export type HashAlgorithm = 'SHA-256' | 'SHA-1' | 'MD5';

/** Commands of the standards this server knows but does not offer (502, not 500). */
const NOT_IMPLEMENTED = new Set(['SMNT', 'SITE', 'AUTH', 'PBSZ', 'PROT', 'CCC', 'ADAT', 'MIC', 'CONF', 'ENC', 'LANG', 'RANG']);

/** Commands waiting behind a transfer; past this the socket stops being read. */
const MAX_QUEUED = 32;
/** A client that does not read its replies is dropped past this. */
const MAX_UNSENT_REPLY_BYTES = 1 << 20;

interface RunningTransfer {
  direction: 'download' | 'upload';
  path: string;
  mode: DataMode;
  started: number;
  socket: Socket | null;
  controller: AbortController;
  done: Promise<void>;
}

export type TransferSpec =
  | { direction: 'download'; path: string; label: string; source: () => Promise<Readable>; ascii?: boolean }
  | { direction: 'upload'; path: string; label: string; target: () => Promise<Upload> };

export class Session {
  readonly id = randomBytes(6).toString('hex');
  readonly clientAddress: string;
  readonly localAddress: string;
  /** Carries session id, client and (after login) user on every line. */
  log: Logger;
  readonly connectedAt = Date.now();

  user: User | null = null;
  /** The user's view of the store, rooted at their home (set at login). */
  storage!: Storage;
  pendingUser: string | null = null;
  cwd = '/';
  type: 'A' | 'I' = 'A';
  restOffset = 0;
  renameFrom: string | null = null;
  lastVerb = '';
  mlstFacts: MlstFact[] = [...MLST_FACTS];
  hashAlgorithm: HashAlgorithm = 'SHA-256';
  epsvAll = false;
  clientName: string | null = null;
  failedLogins = 0;

  private dataChannel: DataChannel | null = null;
  transfer: RunningTransfer | null = null;
  private readonly splitter: LineSplitter;
  private readonly queue: Array<() => Promise<void>> = [];
  private pumping = false;
  private closed = false;
  private draining = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private loginTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    readonly ctx: ServerContext,
    private readonly onClose: (session: Session) => void,
  ) {
    this.clientAddress = normalizeAddress(socket.remoteAddress ?? '');
    this.localAddress = normalizeAddress(socket.localAddress ?? '');
    this.log = ctx.log.child({ session: this.id, client: this.clientAddress });
    this.splitter = new LineSplitter(ctx.config.limits.maxLineLength);
  }

  get config() {
    return this.ctx.config;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  start(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'control connection error'));
    socket.on('close', () => this.cleanup());
    this.log.info({ local: this.localAddress }, 'session opened');
    this.send(reply(220, this.config.banner));
    const limits = this.config.limits;
    if (limits.loginTimeout > 0) {
      this.loginTimer = setTimeout(() => this.closeWith(reply(421, 'Login timeout.'), 'login timeout'), limits.loginTimeout * 1000);
    }
    this.touch();
  }

  send(r: Reply): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(formatReply(r));
    if (this.socket.writableLength > MAX_UNSENT_REPLY_BYTES) {
      this.log.warn('client does not read replies; closing');
      this.socket.destroy();
    }
  }

  /** Sends a final reply and closes the connection once it is written. */
  closeWith(r: Reply, why: string): void {
    if (this.closed) return;
    this.log.info({ why }, 'closing session');
    this.send(r);
    this.closed = true;
    this.socket.end();
    // A client that never reads could keep the socket half-open: cut it.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.cleanup();
  }

  /** Graceful stop: close now if idle, else right after the running transfer. */
  drain(): void {
    this.draining = true;
    if (!this.transfer && !this.pumping) this.closeWith(reply(421, 'Server shutting down.'), 'shutdown');
  }

  private cleanup(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.idleTimer = this.loginTimer = null;
    this.closeDataChannel();
    this.transfer?.controller.abort();
    if (!this.closed) {
      this.closed = true;
      this.log.info("session closed");
    }
    this.queue.length = 0;
    this.onClose(this);
  }

  /** Restarts the idle timer; it does not run out while a transfer is active. */
  private touch(): void {
    const idle = this.config.limits.idleTimeout;
    if (idle <= 0 || this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.transfer) this.touch();
      else this.closeWith(reply(421, `Idle timeout (${idle}s); closing control connection.`), 'idle timeout');
    }, idle * 1000);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.touch();
    for (const line of this.splitter.push(chunk)) {
      if (line === 'oversize') {
        this.log.warn({ max: this.config.limits.maxLineLength }, 'command line too long');
        this.enqueue(async () => this.send(reply(500, 'Command line too long.')));
      } else {
        this.onLine(line);
      }
    }
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
  }

  private onLine(line: Buffer): void {
    const parsed = parseCommandLine(line);
    if (!parsed.ok) {
      if (parsed.reason === 'empty') return;
      this.log.warn({ reason: parsed.reason }, 'malformed command line');
      this.enqueue(async () => this.send(reply(500, parsed.reason === 'nul' ? 'NUL byte in command line.' : 'Syntax error, command unrecognized.')));
      return;
    }
    const { verb, arg } = parsed.command;
    const spec = COMMANDS[verb];
    if (spec?.duringTransfer && this.transfer && this.queue.length === 0) {
      void this.execute(verb, arg);
      return;
    }
    this.enqueue(() => this.execute(verb, arg));
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue.push(task);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0 && !this.closed) {
      const task = this.queue.shift()!;
      await task();
      if (this.queue.length < MAX_QUEUED / 2 && this.socket.isPaused()) this.socket.resume();
    }
    this.pumping = false;
    if (this.draining && !this.transfer) this.drain();
  }

  private async execute(verb: string, arg: string): Promise<void> {
    const spec = COMMANDS[verb];
    const log = this.log.child({ command: verb });
    try {
      if (!spec) {
        log.debug('unknown command');
        this.send(NOT_IMPLEMENTED.has(verb) ? reply(502, `${verb} not implemented.`) : reply(500, `Unknown command ${verb}.`));
        return;
      }
      if (!spec.public && !this.user) throw new NotLoggedInError('Please login with USER and PASS.');
      if (spec.arg === 'required' && arg.trim() === '') {
        this.send(reply(501, `Syntax: ${verb} ${spec.syntax ?? ''}`.trim()));
        return;
      }
      if (spec.arg === 'none' && arg.trim() !== '') {
        this.send(reply(501, `${verb} takes no argument.`));
        return;
      }
      const result = await spec.run(this, arg);
      if (result) this.send(result);
    } catch (err) {
      const r = replyForError(err);
      if (r) {
        log.info({ code: r.code, err: (err as Error).message }, 'command failed');
        // A refusal's own 421 is the one reply: send it and close (no second reply).
        if (err instanceof SessionRefusedError) this.closeWith(r, (err as Error).message);
        else this.send(r);
      } else {
        log.error({ err }, 'command crashed');
        this.send(reply(451, 'Local error in processing.'));
      }
    } finally {
      this.lastVerb = verb;
    }
  }

  /* ---------- helpers for handlers ---------- */

  /** The virtual path an argument names, relative to the current directory. */
  resolve(arg: string): string {
    return resolveVirtual(this.cwd, arg);
  }

  require(permission: Permission): void {
    if (!this.user!.permissions.has(permission)) {
      throw new PermissionDeniedError(`Permission denied (${permission}).`);
    }
  }

  setDataChannel(channel: DataChannel | null): void {
    this.closeDataChannel();
    this.dataChannel = channel;
  }

  closeDataChannel(): void {
    this.dataChannel?.close();
    this.dataChannel = null;
  }

  /** Takes the REST offset, which applies to one transfer only. */
  takeRestOffset(): number {
    const offset = this.restOffset;
    this.restOffset = 0;
    return offset;
  }

  /**
   * Runs one transfer: opens the data connection, sends 150, moves the bytes,
   * commits an upload, and replies 226 (or 426/451/…). ABOR interrupts it.
   */
  async runTransfer(spec: TransferSpec): Promise<Reply | void> {
    const channel = this.dataChannel;
    this.dataChannel = null;
    if (!channel) throw new BadSequenceError('Use PORT, EPRT, PASV or EPSV first.');
    const controller = new AbortController();
    let finish!: () => void;
    const transfer: RunningTransfer = {
      direction: spec.direction,
      path: spec.path,
      mode: channel.mode,
      started: Date.now(),
      socket: null,
      controller,
      done: new Promise<void>((r) => (finish = r)),
    };
    this.transfer = transfer;
    let upload: Upload | null = null;
    let result: 'ok' | 'aborted' | 'failed' = 'failed';
    let error: unknown = null;
    try {
      // Open the file first so a missing file gets 550 without a data connection.
      const source = spec.direction === 'download' ? await spec.source() : null;
      upload = spec.direction === 'upload' ? await spec.target() : null;
      let socket: Socket;
      try {
        socket = await channel.open();
      } catch (err) {
        source?.destroy();
        throw err instanceof DataConnectionError ? err : new DataConnectionError(`Can't open data connection: ${(err as Error).message}`);
      }
      transfer.socket = socket;
      const timeout = this.config.limits.dataTimeout * 1000;
      if (timeout > 0) socket.setTimeout(timeout, () => socket.destroy(new Error('data connection stalled')));
      this.send(
        reply(150, spec.label.startsWith('FILE: ') ? spec.label : `Opening ${this.type === 'A' ? 'ASCII' : 'BINARY'} mode data connection for ${spec.label}.`),
      );
      try {
        if (source) {
          await sendToClient(source, socket, spec.direction === 'download' && (spec.ascii ?? this.type === 'A'), controller.signal);
        } else {
          await receiveFromClient(socket, upload!.stream, this.type === 'A', controller.signal);
          // An upload whose control connection is already gone was interrupted,
          // not finished: never commit it under the real name.
          if (this.closed) throw new TransferAbortedError('Control connection closed during upload.');
          const toCommit = upload!;
          upload = null;
          await toCommit.commit();
        }
      } catch (err) {
        socket.destroy();
        if (controller.signal.aborted) throw new TransferAbortedError('Connection closed; transfer aborted.');
        if (replyForError(err)) throw err; // a storage failure: its own reply
        throw new TransferAbortedError(`Connection closed; transfer aborted (${(err as Error).message}).`);
      }
      result = 'ok';
      return reply(226, 'Transfer complete.');
    } catch (err) {
      error = err;
      result = err instanceof TransferAbortedError ? 'aborted' : 'failed';
      throw err;
    } finally {
      if (upload) await upload.abort().catch((e) => this.log.warn({ err: e }, 'discarding upload failed'));
      channel.close();
      const socket = transfer.socket;
      const bytes = socket ? (spec.direction === 'download' ? socket.bytesWritten : socket.bytesRead) : 0;
      this.log.info(
        {
          path: spec.path,
          direction: spec.direction,
          mode: channel.mode,
          bytes,
          seconds: (Date.now() - transfer.started) / 1000,
          result,
          ...(error ? { err: (error as Error).message } : {}),
        },
        'transfer',
      );
      this.transfer = null;
      finish();
      this.touch();
    }
  }

  /** ABOR (RFC 959 §4.1.3): aborts the running transfer; its 426 goes out before our 226. */
  async abortTransfer(): Promise<boolean> {
    const t = this.transfer;
    if (!t) {
      this.closeDataChannel();
      return false;
    }
    t.controller.abort();
    t.socket?.destroy();
    await t.done;
    return true;
  }

  /** Bytes moved so far by the running transfer, for STAT. */
  transferProgress(): { path: string; direction: string; bytes: number; mode: DataMode } | null {
    const t = this.transfer;
    if (!t) return null;
    const bytes = t.socket ? (t.direction === 'download' ? t.socket.bytesWritten : t.socket.bytesRead) : 0;
    return { path: t.path, direction: t.direction, bytes, mode: t.mode };
  }

  endLoginTimer(): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }

  refuse(message: string): never {
    throw new SessionRefusedError(message);
  }
}
