/**
 * TLS for FTPS (RFC 4217): the node's certificate, reloadable on SIGHUP, and
 * server-side handshakes on control and data connections.
 *
 * Each control session gets its own secure context with its own session
 * ticket keys, and its own cache of TLS 1.2 session IDs. A data connection
 * that resumes a TLS session under those keys or from that cache can only
 * have got it from this session's control connection, which is how
 * data-channel session reuse (vsftpd's require_ssl_reuse) is checked.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

export class TlsProvider {
  private cert!: Buffer;
  private key!: Buffer;

  constructor(private readonly files: TlsFiles) {
    this.load();
  }

  /** Reads and checks the PEM files; throws a clear error when they are unusable. */
  private load(): void {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.files.cert);
      key = readFileSync(this.files.key);
    } catch (err) {
      throw new Error(`tls: cannot read certificate or key: ${(err as Error).message}`);
    }
    try {
      createSecureContext({ cert, key, minVersion: this.files.minVersion });
    } catch (err) {
      throw new Error(`tls: ${this.files.cert} / ${this.files.key} are not a usable certificate and key: ${(err as Error).message}`);
    }
    this.cert = cert;
    this.key = key;
  }

  /** Re-reads the files (SIGHUP). On failure the previous pair stays in use. */
  reload(): void {
    this.load();
  }

  /** A fresh context for one control session (see the module comment). */
  sessionContext(): SecureContext {
    const context = createSecureContext({
      cert: this.cert,
      key: this.key,
      minVersion: this.files.minVersion,
      ticketKeys: randomBytes(48),
      sessionIdContext: randomBytes(16).toString('hex'),
    });
    sessionCaches.set(context, sessionIdCache());
    return context;
  }
}

/** TLS 1.2 sessions remembered per control session (its control and data connections' full handshakes). */
const MAX_CACHED_SESSIONS = 64;

/**
 * TLS 1.2 clients that do not use tickets (curl limited to TLS 1.2, many
 * embedded stacks) resume by session ID, which Node serves only through a
 * tls.Server's 'newSession'/'resumeSession' events (OpenSSL's own cache is off).
 * A standalone TLSSocket takes any emitter as its `server`: this one keeps the
 * IDs of one control session.
 */
function sessionIdCache(): EventEmitter {
  const sessions = new Map<string, Buffer>();
  const cache = new EventEmitter();
  cache.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
    sessions.set(id.toString('hex'), data);
    if (sessions.size > MAX_CACHED_SESSIONS) sessions.delete(sessions.keys().next().value!);
    done();
  });
  cache.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
    done(null, sessions.get(id.toString('hex')) ?? null);
  });
  return cache;
}

const sessionCaches = new WeakMap<SecureContext, EventEmitter>();

/** Runs the server side of a TLS handshake over an accepted or connected socket. */
export function acceptTls(socket: Socket, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const server = sessionCaches.get(context) as never; // typed as a net.Server; see sessionIdCache
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context, server });
    // Settle exactly once, whatever ends the handshake: a peer that closes before it
    // completes emits 'close' without 'error' (and destroy() on a closed socket emits nothing).
    const fail = (err: Error) => {
      clearTimeout(timer);
      secure.removeListener('close', onClose);
      secure.on('error', () => {});
      secure.destroy();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => fail(new Error('connection closed during TLS handshake'));
    const timer = setTimeout(() => fail(new Error('TLS handshake timed out')), timeoutMs);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.removeListener('error', onError);
      secure.removeListener('close', onClose);
      resolve(secure);
    });
    secure.once('error', onError);
    secure.once('close', onClose);
  });
}
