/** FTPS commands (RFC 4217, RFC 2228): AUTH, PBSZ, PROT, CCC. */
import { reply } from '../../protocol/replies.js';
import { BadSequenceError, InvalidArgumentError, NotAvailableError, PolicyDeniedError, UnsupportedParameterError } from '../errors.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

const tlsFeature = (...lines: string[]) => (s: Session) => (s.ctx.tls ? lines : []);

function requireSecureControl(session: Session): void {
  if (!session.tlsContext) throw new BadSequenceError('Use AUTH TLS first.');
}

export const securityCommands: CommandTable = {
  AUTH: {
    public: true,
    arg: 'required',
    syntax: '{TLS | SSL}',
    // One line per mechanism, as most servers list them (RFC 4217 §6 names only TLS).
    feat: tlsFeature('AUTH TLS', 'AUTH SSL'),
    async run(session, arg) {
      if (!session.ctx.tls) throw new NotAvailableError('TLS is not configured on this server.');
      if (session.tlsContext) throw new BadSequenceError('Already using TLS.');
      const mechanism = arg.trim().toUpperCase();
      // "SSL" and "TLS-C" are old names for TLS; "TLS-P" (RFC 4217 drafts) also protects data.
      if (!/^(TLS|SSL|TLS-C|TLS-P)$/.test(mechanism)) throw new UnsupportedParameterError(`AUTH ${arg.trim()} not supported; use AUTH TLS.`);
      session.send(reply(234, `AUTH ${mechanism} successful.`));
      try {
        await session.secureControl();
      } catch {
        session.socket.destroy();
        return;
      }
      // RFC 4217 §4: a login started before AUTH must be repeated.
      session.pendingUser = null;
      // As vsftpd and ProFTPD do: TLS-P means PBSZ 0 and PROT P without asking.
      if (mechanism === 'TLS-P') session.pbszDone = session.protectData = true;
    },
  },
  PBSZ: {
    public: true,
    arg: 'required',
    syntax: '0',
    feat: tlsFeature('PBSZ'),
    run(session, arg) {
      requireSecureControl(session);
      if (!/^\d+$/.test(arg.trim())) throw new InvalidArgumentError('Syntax: PBSZ 0');
      session.pbszDone = true;
      // RFC 4217 §9: TLS needs no buffer; the answer is always 0.
      return reply(200, 'PBSZ=0');
    },
  },
  PROT: {
    public: true,
    arg: 'required',
    syntax: '{C | P}',
    feat: tlsFeature('PROT'),
    run(session, arg) {
      requireSecureControl(session);
      if (!session.pbszDone) throw new BadSequenceError('PBSZ must come before PROT.');
      const level = arg.trim().toUpperCase();
      if (level === 'P') {
        session.protectData = true;
        return reply(200, 'Protection level set to P.');
      }
      if (level === 'C') {
        if (session.tlsPolicy() === 'data') throw new PolicyDeniedError('Policy requires PROT P.');
        session.protectData = false;
        return reply(200, 'Protection level set to C.');
      }
      if (level === 'S' || level === 'E') throw new UnsupportedParameterError(`PROT ${level} not supported; use P or C.`);
      throw new InvalidArgumentError('Syntax: PROT {C | P}');
    },
  },
  CCC: {
    arg: 'none',
    run() {
      // Clearing the control channel would hide it from nothing and expose the rest.
      throw new PolicyDeniedError('CCC not allowed.');
    },
  },
};
