/** FTPS commands (RFC 4217, RFC 2228): AUTH, PBSZ, PROT, CCC. */
import { reply } from '../../protocol/replies.js';
import { BadSequenceError, InvalidArgumentError, NotAvailableError, PolicyDeniedError, UnsupportedParameterError } from '../errors.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

const tlsFeature = (line: string) => (s: Session) => (s.ctx.tls ? line : '');

function requireSecureControl(session: Session): void {
  if (!session.tlsContext) throw new BadSequenceError('Use AUTH TLS first.');
}

export const securityCommands: CommandTable = {
  AUTH: {
    public: true,
    arg: 'required',
    syntax: 'TLS',
    feat: tlsFeature('AUTH TLS'),
    async run(session, arg) {
      if (!session.ctx.tls) throw new NotAvailableError('TLS is not configured on this server.');
      if (session.tlsContext) throw new BadSequenceError('Already using TLS.');
      // "SSL", "TLS-C" and "TLS-P" are old names for the same thing.
      if (!/^(TLS|SSL|TLS-C|TLS-P)$/i.test(arg.trim())) throw new UnsupportedParameterError(`AUTH ${arg.trim()} not supported; use AUTH TLS.`);
      session.send(reply(234, `AUTH ${arg.trim().toUpperCase()} successful.`));
      try {
        await session.secureControl();
      } catch {
        session.socket.destroy();
        return;
      }
      // RFC 4217 §4: a login started before AUTH must be repeated.
      session.pendingUser = null;
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
