/**
 * TLS for FTPS (RFC 4217): the node's certificate, reloadable on SIGHUP, and
 * server-side handshakes on control and data connections.
 *
 * Each control session gets its own secure context with its own session
 * ticket keys. A data connection that resumes a TLS session under those keys
 * can only have got its ticket from this session's control connection, which
 * is how data-channel session reuse (vsftpd's require_ssl_reuse) is checked.
 */
import { randomBytes } from 'node:crypto';
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
    return createSecureContext({
      cert: this.cert,
      key: this.key,
      minVersion: this.files.minVersion,
      ticketKeys: randomBytes(48),
      sessionIdContext: randomBytes(16).toString('hex'),
    });
  }
}

/** Runs the server side of a TLS handshake over an accepted or connected socket. */
export function acceptTls(socket: Socket, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
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
