/**
 * One client's control connection: reads command lines, runs their handlers
 * in order, and owns the session state (login, directory, data channel,
 * running transfer). STAT and NOOP are answered while a transfer runs, and
 * ABOR stops it at once; other commands wait for it (RFC 959 §4.1.3).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { User } from '../auth/user.js';
import type { Permission, TlsPolicy } from '../config/schema.js';
import { normalizeAddress } from '../net/addressMatch.js';
import type { ProxyHeader } from '../net/proxyProtocol.js';
import type { Offence } from '../net/defender.js';
import { parseCommandLine } from '../protocol/commandLine.js';
import { MLST_FACTS, type MlstFact } from '../protocol/listing.js';
import { reply, type Reply } from '../protocol/replies.js';
import { resolveVirtual } from '../protocol/virtualPath.js';
import type { Storage, Upload } from '../storage/storage.js';
import { storageErrorCause } from '../storage/errors.js';
import type { ServerContext } from './context.js';
import type { DataChannel, DataMode } from '../net/dataChannel.js';
import {
  ActiveTargetRefusedError,
  BadSequenceError,
  DataConnectionError,
  DataProtectionRequiredError,
  DataTlsError,
  NotLoggedInError,
  PermissionDeniedError,
  replyForError,
  SessionRefusedError,
  TransferAbortedError,
} from './errors.js';
import { COMMANDS } from './handlers/index.js';
import { acceptTls } from '../net/tls.js';
import { ControlChannel } from '../net/controlChannel.js';
import { receiveFromClient, sendToClient } from './transfer.js';

export interface SessionOptions {
  /** Implicit FTPS: TLS from the first byte. */
  implicitTls: boolean;
  /** The balancer's PROXY header, when the connection came with one. */
  proxy: ProxyHeader | null;
}

export type HashAlgorithm = 'SHA-256' | 'SHA-1' | 'MD5';

/** Commands of the standards this server knows but does not offer (502, not 500). */
const NOT_IMPLEMENTED = new Set(['SMNT', 'SITE', 'ADAT', 'MIC', 'CONF', 'ENC', 'LANG', 'RANG']);

/** Commands waiting behind a transfer; past this the socket stops being read. */
const MAX_QUEUED = 32;
const BANNED_TEXT = 'Too many errors from your address; try again later.';

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

/** The channel's connection, or a rejection as soon as `signal` fires (a connection made later is closed). */
function openUnlessAborted(channel: DataChannel, signal: AbortSignal): Promise<Socket> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    channel.open().then(
      (socket) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) socket.destroy();
        else resolve(socket);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export class Session {
  /** Correlation id: the balancer's PROXY v2 unique id when it sends one. */
  readonly id: string;
  /** The real client: from the PROXY header when there is one, else the TCP peer. */
  readonly clientAddress: string;
  /** The TCP peer of the control connection (the balancer, behind a proxy). */
  readonly tcpPeer: string;
  /** The address the client connected to (PROXY destination, else our local address). */
  readonly connectedTo: string;
  /**
   * Who passive data connections must come from: the client, or the balancer
   * when the control connection had a PROXY header and data connections do not.
   */
  get dataPeer(): string {
    return this.ctx.config.proxyProtocol.data === 'off' ? this.tcpPeer : this.clientAddress;
  }

  /** Our end of the control connection. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Carries session id, client and (after login) user on every line. */
  log: Logger;

  user: User | null = null;
  /** The user's view of the store, rooted at their home (set at login). */
  storage!: Storage;
  pendingUser: string | null = null;
  cwd = '/';
  restOffset = 0;
  renameFrom: string | null = null;
  lastVerb = '';
  clientName: string | null = null;
  // Transfer settings, set by resetSettings() (at start and at REIN).
  type!: 'A' | 'I';
  mlstFacts!: MlstFact[];
  hashAlgorithm!: HashAlgorithm;
  epsvAll!: boolean;
  pbszDone!: boolean;
  /** PROT P: data connections are TLS too. */
  protectData!: boolean;

  private dataChannel: DataChannel | null = null;
  transfer: RunningTransfer | null = null;
  /** ABOR has arrived and its turn has not come: the transfers of the commands ahead of it stop at once. */
  private abortRequested = false;
  /** ...and one of them was stopped: ABOR's own reply is then 226 (else 225). */
  private transferAborted = false;
  private readonly queue: Array<() => Promise<void>> = [];
  private pumping = false;
  private draining = false;
  /** Commands before login other than USER and PASS. */
  private preLoginCommands = 0;
  private readonly control: ControlChannel;

  constructor(
    private readonly tcp: Socket,
    readonly ctx: ServerContext,
    private readonly onClose: (session: Session) => void,
    private readonly options: SessionOptions = { implicitTls: false, proxy: null },
  ) {
    const { proxy } = options;
    this.id = proxy?.uniqueId ?? randomBytes(6).toString('hex');
    this.tcpPeer = normalizeAddress(tcp.remoteAddress ?? '');
    this.localAddress = normalizeAddress(tcp.localAddress ?? '');
    this.localPort = tcp.localPort ?? 0;
    this.clientAddress = proxy?.source ? normalizeAddress(proxy.source.address) : this.tcpPeer;
    this.connectedTo = proxy?.destination ? normalizeAddress(proxy.destination.address) : this.localAddress;
    this.log = ctx.log.child({ session: this.id, client: this.clientAddress });
    this.control = new ControlChannel(tcp, {
      log: this.log,
      limits: ctx.config.limits,
      handshakeTimeout: ctx.config.tls.handshakeTimeout,
      busy: () => this.transfer !== null,
      onLine: (line) => this.onLine(line),
      onReply: (code) => ctx.metrics.reply(code),
      onClosed: (unannounced) => this.cleanup(unannounced),
    });
    this.resetSettings();
  }

  /** The control connection: the TCP socket, or the TLS socket over it after AUTH TLS. */
  get socket(): Socket {
    return this.control.socket;
  }

  /** Control-connection TLS (RFC 4217): its context, once AUTH TLS or implicit TLS succeeded. */
  get tlsContext(): SecureContext | null {
    return this.control.tlsContext;
  }

  private get closed(): boolean {
    return this.control.closed;
  }

  get config() {
    return this.ctx.config;
  }

  start(): void {
    this.log.info(
      {
        local: this.localAddress,
        implicitTls: this.options.implicitTls || undefined,
        via: this.tcpPeer !== this.clientAddress ? this.tcpPeer : undefined,
        connectedTo: this.connectedTo !== this.localAddress ? this.connectedTo : undefined,
      },
      'session opened',
    );
    this.control.startLoginTimer();
    if (!this.options.implicitTls) {
      this.control.listen();
      this.send(reply(220, this.config.banner));
      return;
    }
    // Implicit FTPS: TLS from the first byte, and data protected by default.
    this.secureControl().then(
      () => {
        this.control.touch();
        this.send(reply(220, this.config.banner));
      },
      () => this.tcp.destroy(),
    );
  }

  /**
   * Runs the TLS handshake on the control connection (after "234" for AUTH
   * TLS) and from then on reads and writes through TLS.
   */
  async secureControl(): Promise<void> {
    const provider = this.ctx.tls;
    if (!provider) throw new Error('TLS is not configured');
    const secure = await this.control.secure(provider.sessionContext());
    this.log.info({ protocol: secure.getProtocol(), cipher: secure.getCipher().name }, 'control connection secured');
  }

  /** The TLS policy in force: the user's own (by login name) or the server's. */
  tlsPolicy(name = this.user?.name ?? this.pendingUser): TlsPolicy {
    return (name !== null && this.ctx.users.tlsPolicyOf(name)) || this.config.tls.policy;
  }

  send(r: Reply): void {
    this.control.send(r);
  }

  /** Sends a final reply and closes the connection once it is written. */
  closeWith(r: Reply, why: string): void {
    if (this.control.closeWith(r, why)) this.cleanup(false);
  }

  /** Graceful stop: close now if idle, else right after the running transfer. */
  drain(): void {
    this.draining = true;
    if (!this.transfer && !this.pumping) this.closeWith(reply(421, 'Server shutting down.'), 'shutdown');
  }

  private cleanup(logClosed: boolean): void {
    this.control.stopTimers();
    this.closeDataChannel();
    this.transfer?.controller.abort();
    if (logClosed) this.log.info('session closed');
    this.queue.length = 0;
    this.onClose(this);
  }

  private onLine(line: Buffer | 'oversize'): void {
    if (line === 'oversize') {
      this.log.warn({ max: this.config.limits.maxLineLength }, 'command line too long');
      this.enqueue(async () => this.reject(reply(500, 'Command line too long.'), 'protocolAbuse'));
      return;
    }
    const parsed = parseCommandLine(line);
    if (!parsed.ok) {
      if (parsed.reason === 'empty') return;
      this.log.warn({ reason: parsed.reason }, 'malformed command line');
      const nul = parsed.reason === 'nul';
      this.enqueue(async () =>
        this.reject(reply(500, nul ? 'NUL byte in command line.' : 'Syntax error, command unrecognized.'), nul ? 'protocolAbuse' : 'badCommand'),
      );
      return;
    }
    const { verb, arg } = parsed.command;
    const spec = COMMANDS[verb];
    spec?.onArrival?.(this, arg);
    if (spec?.duringTransfer && this.transfer && this.queue.length === 0) {
      void this.execute(verb, arg);
      return;
    }
    this.enqueue(() => this.execute(verb, arg));
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue.push(task);
    if (this.queue.length >= MAX_QUEUED) this.control.pause();
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0 && !this.closed) {
      const task = this.queue.shift()!;
      await task();
      if (this.queue.length < MAX_QUEUED / 2) this.control.resume();
    }
    this.pumping = false;
    // Every ABOR read has had its turn, even one refused (530 before login, say).
    this.abortRequested = this.transferAborted = false;
    if (this.draining && !this.transfer) this.drain();
  }

  private async execute(verb: string, arg: string): Promise<void> {
    const spec = COMMANDS[verb];
    // The command's child logger, made only when something is logged (most commands log nothing).
    let child: Logger | null = null;
    const log = () => (child ??= this.log.child({ command: verb }));
    try {
      if (!this.user && this.cutBeforeLogin(verb)) return;
      if (!spec) {
        log().debug('unknown command');
        this.respond(NOT_IMPLEMENTED.has(verb) ? reply(502, `${verb} not implemented.`) : reply(500, `Unknown command ${verb}.`));
        return;
      }
      if (!spec.public && !this.user) throw new NotLoggedInError('Please login with USER and PASS.');
      if (spec.arg === 'required' && arg.trim() === '') {
        this.respond(reply(501, `Syntax: ${verb} ${spec.syntax ?? ''}`.trim()));
        return;
      }
      if (spec.arg === 'none' && arg.trim() !== '') {
        this.respond(reply(501, `${verb} takes no argument.`));
        return;
      }
      const result = await spec.run(this, arg);
      if (result) this.respond(result);
    } catch (err) {
      const r = replyForError(err);
      if (r) {
        log().info({ code: r.code, err: (err as Error).message, cause: storageErrorCause(err) }, 'command failed');
        // A refusal's own 421 is the one reply: send it and close (no second reply).
        if (err instanceof SessionRefusedError) this.closeWith(r, (err as Error).message);
        else if (err instanceof ActiveTargetRefusedError) this.reject(r, 'protocolAbuse'); // an FTP bounce attempt
        else this.respond(r);
      } else {
        log().error({ err }, 'command crashed');
        this.send(reply(451, 'Local error in processing.'));
      }
    } finally {
      this.lastVerb = verb;
    }
  }

  /** Sends a command's reply; 500 and 501 count as bad commands. */
  private respond(r: Reply): void {
    if (r.code === 500 || r.code === 501) this.reject(r, 'badCommand');
    else this.send(r);
  }

  /** Sends an error reply, or 421 and closes when this offence gets the address banned. */
  private reject(r: Reply, offence: Offence): void {
    if (this.ctx.defender.record(this.clientAddress, offence).banned) this.closeWith(reply(421, BANNED_TEXT), `address banned (${offence})`);
    else this.send(r);
  }

  /**
   * Before login: a banned address's sessions are closed at their next
   * command, and commands past the allowance count as abuse. True if closed.
   */
  private cutBeforeLogin(verb: string): boolean {
    const { defender } = this.ctx;
    if (verb !== 'USER' && verb !== 'PASS' && ++this.preLoginCommands > this.config.limits.defender.preLoginCommands) {
      defender.record(this.clientAddress, 'protocolAbuse');
    }
    if (!defender.isBanned(this.clientAddress)) return false;
    this.closeWith(reply(421, BANNED_TEXT), 'address banned');
    return true;
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

  /** REIN: the transfer settings a new session starts with; TLS on the control connection stays. */
  resetSettings(): void {
    this.type = 'A';
    this.epsvAll = false;
    this.mlstFacts = [...MLST_FACTS];
    this.hashAlgorithm = 'SHA-256';
    // Implicit FTPS starts with protected data, explicit FTPS with PROT C (RFC 4217 §9).
    this.pbszDone = this.protectData = this.options.implicitTls;
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
    if (!this.protectData && this.tlsPolicy() === 'data') {
      channel.close();
      throw new DataProtectionRequiredError('Data connections must be encrypted: use PROT P.');
    }
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
    if (this.abortRequested) this.stopTransfer(transfer);
    let upload: Upload | null = null;
    let result: 'ok' | 'aborted' | 'failed' = 'failed';
    let error: unknown = null;
    try {
      // Open the file first so a missing file gets 550 without a data connection.
      const source = spec.direction === 'download' ? await spec.source() : null;
      upload = spec.direction === 'upload' ? await spec.target() : null;
      let socket: Socket;
      try {
        socket = await openUnlessAborted(channel, controller.signal);
      } catch (err) {
        source?.destroy();
        if (controller.signal.aborted) throw new TransferAbortedError('Transfer aborted before the data connection was open.');
        throw err instanceof DataConnectionError ? err : new DataConnectionError(`Can't open data connection: ${(err as Error).message}`);
      }
      transfer.socket = socket;
      const timeout = this.config.limits.dataTimeout * 1000;
      if (timeout > 0) socket.setTimeout(timeout, () => socket.destroy(new Error('data connection stalled')));
      this.send(
        reply(150, spec.label.startsWith('FILE: ') ? spec.label : `Opening ${this.type === 'A' ? 'ASCII' : 'BINARY'} mode data connection for ${spec.label}.`),
      );
      // The client starts the data TLS handshake after the 150 (curl waits for it).
      if (this.protectData) socket = transfer.socket = await this.secureData(socket);
      try {
        if (source) {
          await sendToClient(source, socket, spec.direction === 'download' && (spec.ascii ?? this.type === 'A'), controller.signal);
        } else {
          await receiveFromClient(socket, upload!.stream, this.type === 'A', controller.signal);
          // An upload whose control connection is already gone was interrupted,
          // not finished: never commit it under the real name.
          // A client that dies closes both connections at once, and the data
          // connection's end may be read first: let the event loop read the
          // control connection (two turns), and have the commit give up if the
          // control connection ends before the upload becomes visible.
          await new Promise((r) => setImmediate(r));
          await new Promise((r) => setImmediate(r));
          const control = this.socket;
          const gone = new AbortController();
          const onGone = () => gone.abort();
          if (this.closed || control.readableEnded || control.destroyed) onGone();
          if (gone.signal.aborted) throw new TransferAbortedError('Control connection closed during upload.');
          control.once('end', onGone).once('close', onGone);
          const toCommit = upload!;
          upload = null;
          // An ABOR that comes before the upload becomes visible discards it too.
          const discard = AbortSignal.any([gone.signal, controller.signal]);
          try {
            await toCommit.commit(discard);
          } catch (err) {
            if (gone.signal.aborted) throw new TransferAbortedError('Control connection closed during upload.');
            if (discard.aborted) throw new TransferAbortedError('Upload aborted; nothing was stored.');
            throw err;
          } finally {
            control.off('end', onGone).off('close', onGone);
          }
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
      // Once aborted, whatever failed next (the data TLS handshake, say) failed because of it.
      error = controller.signal.aborted && !(err instanceof TransferAbortedError) ? new TransferAbortedError('Transfer aborted.') : err;
      result = error instanceof TransferAbortedError ? 'aborted' : 'failed';
      throw error;
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
          ...(error ? { err: (error as Error).message, cause: storageErrorCause(error) } : {}),
        },
        'transfer',
      );
      this.ctx.metrics.transfer(spec.direction, channel.mode, result, bytes);
      this.transfer = null;
      finish();
      this.control.touch();
    }
  }

  /**
   * TLS on a data connection, which must resume this session's control TLS
   * session unless tls.requireSessionReuse is off (see server/tls.ts).
   */
  private async secureData(socket: Socket): Promise<TLSSocket> {
    let secure: TLSSocket;
    try {
      secure = await acceptTls(socket, this.tlsContext!, this.config.tls.handshakeTimeout * 1000);
    } catch (err) {
      socket.destroy();
      throw new DataTlsError(`TLS negotiation on the data connection failed: ${(err as Error).message}.`);
    }
    if (this.config.tls.requireSessionReuse && !secure.isSessionReused()) {
      secure.destroy();
      this.log.warn('data connection did not reuse the control TLS session; refused');
      this.ctx.metrics.dataFailure('tls_reuse_refused');
      throw new DataTlsError('TLS session reuse required on the data connection.');
    }
    secure.on('error', () => {});
    return secure;
  }

  /**
   * ABOR's first half (RFC 959 §4.1.3), run as soon as it is read: stops the
   * running transfer, whose command then replies 426, even with other
   * commands queued behind the transfer; a transfer command still queued
   * ahead of ABOR stops as soon as it starts.
   */
  interruptTransfer(): void {
    this.abortRequested = true;
    if (this.transfer) this.stopTransfer(this.transfer);
  }

  private stopTransfer(t: RunningTransfer): void {
    this.transferAborted = true;
    t.controller.abort();
    t.socket?.destroy();
  }

  /** ABOR's turn in the queue: true if it stopped a transfer; else any data channel set up is dropped. */
  finishAbort(): boolean {
    const aborted = this.transferAborted;
    this.abortRequested = this.transferAborted = false;
    if (!aborted) this.closeDataChannel();
    return aborted;
  }

  /** Resolves once the running transfer (if any) has ended and cleaned up after itself. */
  transferSettled(): Promise<void> {
    return this.transfer?.done ?? Promise.resolve();
  }

  /** Bytes moved so far by the running transfer, for STAT. */
  transferProgress(): { path: string; direction: string; bytes: number; mode: DataMode } | null {
    const t = this.transfer;
    if (!t) return null;
    const bytes = t.socket ? (t.direction === 'download' ? t.socket.bytesWritten : t.socket.bytesRead) : 0;
    return { path: t.path, direction: t.direction, bytes, mode: t.mode };
  }

  /** (Re)starts the time allowed from connect or REIN to a successful login. */
  startLoginTimer(): void {
    this.control.startLoginTimer();
  }

  endLoginTimer(): void {
    this.control.endLoginTimer();
  }

  refuse(message: string): never {
    throw new SessionRefusedError(message);
  }
}
