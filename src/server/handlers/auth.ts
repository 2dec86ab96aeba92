/** Login and session reset: USER, PASS, ACCT, REIN, QUIT, HOST (RFC 959 §4.1.1, RFC 7151). */
import { setTimeout as sleep } from 'node:timers/promises';
import { NetworkList } from '../../net/addressMatch.js';
import { reply } from '../../protocol/replies.js';
import type { Storage } from '../../storage/storage.js';
import { BadSequenceError, TlsRequiredError } from '../errors.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

/** The user's home as a storage view, created on first login. */
async function openHome(session: Session): Promise<Storage> {
  const { ctx } = session;
  const storage = ctx.storageFor ? await ctx.storageFor(session.user!) : ctx.storage;
  const home = session.user!.home;
  let path = '';
  for (const segment of home.split('/').filter(Boolean)) {
    path += `/${segment}`;
    await storage.mkdir(path).catch(() => {});
  }
  return storage.scoped(home);
}

function resetLogin(session: Session): void {
  if (session.user) {
    session.log = session.ctx.log.child({ session: session.id, client: session.clientAddress });
    session.ctx.loggedOut?.(session);
  }
  session.user = null;
  session.pendingUser = null;
  session.cwd = '/';
  session.renameFrom = null;
  session.restOffset = 0;
  session.resetSettings();
  session.setDataChannel(null);
  session.startLoginTimer();
}

async function loginFailed(session: Session, name: string, why: string) {
  session.ctx.metrics.login(false);
  const { ctx } = session;
  session.log.warn({ user: name, why }, 'login failed');
  const { banned } = ctx.defender.record(session.clientAddress, 'failedLogin', name);
  await sleep(ctx.config.limits.failedLoginDelay * 1000);
  if (banned) session.refuse('Too many failed logins; try again later.');
  return reply(530, 'Login incorrect.');
}

export const authCommands: CommandTable = {
  USER: {
    public: true,
    arg: 'required',
    syntax: '<username>',
    run(session, arg) {
      if (session.user) throw new BadSequenceError('Already logged in; use REIN to log in again.');
      const name = arg.trim();
      if (!session.tlsContext && session.tlsPolicy(name) !== 'optional') {
        session.log.info({ user: name }, 'login refused without TLS');
        throw new TlsRequiredError('TLS required: use AUTH TLS before logging in.');
      }
      session.pendingUser = name;
      if (session.ctx.users.isAnonymousName(name)) return reply(331, 'Anonymous login ok, send your e-mail address as password.');
      return reply(331, `Password required for ${name}.`);
    },
  },
  PASS: {
    public: true,
    arg: 'optional',
    syntax: '<password>',
    async run(session, arg) {
      if (session.user) return reply(230, 'Already logged in.');
      const name = session.pendingUser;
      if (name === null) throw new BadSequenceError('Login with USER first.');
      session.pendingUser = null;
      const { ctx } = session;
      const user = await ctx.users.authenticate(name, arg);
      if (!user) return loginFailed(session, name, 'bad user name or password');
      if (user.allowedNetworks.length > 0 && !new NetworkList(user.allowedNetworks).has(session.clientAddress)) {
        return loginFailed(session, name, 'client address not allowed for user');
      }
      if (!(await ctx.claimLogin(session, user))) {
        session.log.warn({ user: user.name, max: user.maxSessions }, 'user session limit reached');
        session.refuse(`Too many sessions for ${user.name} (at most ${user.maxSessions}).`);
      }
      session.user = user;
      try {
        session.storage = await openHome(session);
      } catch (err) {
        session.user = null;
        ctx.loggedOut?.(session);
        session.log.error({ user: user.name, err: (err as Error).message }, 'home directory unusable');
        return reply(530, 'Home directory unavailable.');
      }
      // Anyone can log in anonymously: that forgives nothing.
      if (!user.anonymous) ctx.defender.forgive(session.clientAddress, user.name);
      session.endLoginTimer();
      session.cwd = '/';
      session.log = session.log.child({ user: user.name });
      session.log.info('logged in');
      ctx.metrics.login(true);
      return reply(230, `User ${user.name} logged in.`);
    },
  },
  ACCT: { public: true, arg: 'required', syntax: '<account>', run: () => reply(202, 'No account needed.') },
  REIN: {
    public: true,
    arg: 'none',
    run(session) {
      resetLogin(session);
      return reply(220, 'Service ready for new user.');
    },
  },
  QUIT: {
    public: true,
    arg: 'none',
    run(session) {
      session.closeWith(reply(221, 'Goodbye.'), 'quit');
    },
  },
  HOST: {
    public: true,
    arg: 'required',
    syntax: '<domain>',
    feat: 'HOST',
    run(session, arg) {
      // RFC 7151 §3: HOST must come before USER; one virtual host is served.
      if (session.user || session.pendingUser) throw new BadSequenceError('HOST must come before USER.');
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})$/.test(arg.trim())) return reply(501, 'Invalid host name.');
      return reply(220, `Host ${arg.trim()} accepted.`);
    },
  },
};
