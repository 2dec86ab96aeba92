/** Directories and file metadata: PWD, CWD, CDUP, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT, HASH. */
import { createHash } from 'node:crypto';
import { formatTimeVal, parseTimeVal } from '../../protocol/listing.js';
import { reply } from '../../protocol/replies.js';
import { quotePath } from '../../protocol/virtualPath.js';
import { IsADirectoryError, NotADirectoryError } from '../../storage/errors.js';
import { BadSequenceError, InvalidArgumentError, PermissionDeniedError } from '../errors.js';
import type { Session } from '../session.js';
import { HASH_ALGORITHMS } from './settings.js';
import type { CommandSpec, CommandTable } from './types.js';

async function changeDirectory(session: Session, arg: string) {
  const target = session.resolve(arg);
  const st = await session.storage.stat(target);
  if (!st.isDirectory) throw new NotADirectoryError(`${arg}: not a directory.`);
  session.cwd = target;
  return target;
}

/** Stat of a path that must be a regular file. */
async function statFile(session: Session, arg: string) {
  const path = session.resolve(arg);
  const st = await session.storage.stat(path);
  if (st.isDirectory) throw new IsADirectoryError(`${arg}: not a regular file.`);
  return { path, st };
}

const pwd: CommandSpec = { arg: 'none', run: (s) => reply(257, `${quotePath(s.cwd)} is the current directory.`) };
const cwd: CommandSpec = {
  arg: 'required',
  syntax: '<path>',
  async run(session, arg) {
    return reply(250, `Directory changed to ${await changeDirectory(session, arg)}.`);
  },
};
const cdup: CommandSpec = {
  arg: 'none',
  async run(session) {
    return reply(200, `Directory changed to ${await changeDirectory(session, '..')}.`);
  },
};
const mkd: CommandSpec = {
  arg: 'required',
  syntax: '<path>',
  async run(session, arg) {
    session.require('mkdir');
    const path = session.resolve(arg);
    await session.storage.mkdir(path);
    return reply(257, `${quotePath(path)} created.`);
  },
};
const rmd: CommandSpec = {
  arg: 'required',
  syntax: '<path>',
  async run(session, arg) {
    session.require('delete');
    const path = session.resolve(arg);
    if (path === '/') throw new PermissionDeniedError('Cannot remove the root directory.');
    // Temp files of uploads cut off longer ago than a stalled transfer can live are leftovers.
    const dataTimeout = session.config.limits.dataTimeout;
    await session.storage.rmdir(path, { staleUploadAgeMs: dataTimeout > 0 ? dataTimeout * 2000 : undefined });
    return reply(250, 'Directory removed.');
  },
};

export const fileCommands: CommandTable = {
  PWD: pwd,
  XPWD: pwd,
  CWD: cwd,
  XCWD: cwd,
  CDUP: cdup,
  XCUP: cdup,
  MKD: mkd,
  XMKD: mkd,
  RMD: rmd,
  XRMD: rmd,
  DELE: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      session.require('delete');
      await session.storage.delete(session.resolve(arg));
      return reply(250, 'File deleted.');
    },
  },
  RNFR: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      session.require('rename');
      const path = session.resolve(arg);
      if (path === '/') throw new InvalidArgumentError('Cannot rename the root directory.');
      await session.storage.stat(path);
      session.renameFrom = path;
      return reply(350, 'Ready for RNTO.');
    },
  },
  RNTO: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      const from = session.renameFrom;
      session.renameFrom = null;
      // RFC 959: RNTO must come right after RNFR.
      if (from === null || session.lastVerb !== 'RNFR') throw new BadSequenceError('RNFR required first.');
      session.require('rename');
      const to = session.resolve(arg);
      await session.storage.rename(from, to);
      session.log.info({ from, to }, 'renamed');
      return reply(250, 'Rename successful.');
    },
  },
  SIZE: {
    arg: 'required',
    syntax: '<path>',
    feat: 'SIZE',
    async run(session, arg) {
      session.require('list');
      const { st } = await statFile(session, arg);
      return reply(213, String(st.size));
    },
  },
  MDTM: {
    arg: 'required',
    syntax: '<path>',
    feat: 'MDTM',
    async run(session, arg) {
      session.require('list');
      const { st } = await statFile(session, arg);
      return reply(213, formatTimeVal(st.mtime));
    },
  },
  MFMT: {
    arg: 'required',
    syntax: '<YYYYMMDDHHMMSS> <path>',
    feat: 'MFMT',
    async run(session, arg) {
      session.require('write');
      const m = /^(\S+)\s+(.+)$/.exec(arg.trim());
      const time = m ? parseTimeVal(m[1]!) : null;
      if (!m || !time) throw new InvalidArgumentError('Syntax: MFMT YYYYMMDDHHMMSS path');
      const { path } = await statFile(session, m[2]!);
      await session.storage.setModifiedTime(path, time);
      return reply(213, `Modify=${formatTimeVal(time)}; ${m[2]}`);
    },
  },
  HASH: {
    arg: 'required',
    syntax: '<path>',
    feat: (s) => `HASH ${HASH_ALGORITHMS.map((a) => (a === s.hashAlgorithm ? `${a}*` : a)).join(';')}`,
    async run(session, arg) {
      session.require('read');
      const { path, st } = await statFile(session, arg);
      const algo = session.hashAlgorithm;
      const hash = createHash(algo.replace('-', '').toLowerCase());
      const stream = await session.storage.openRead(path);
      for await (const chunk of stream) hash.update(chunk as Buffer);
      // draft-bryan-ftpext-hash §3.1: "213 <algo> <start>-<end> <hash> <path>"
      return reply(213, `${algo} 0-${st.size} ${hash.digest('hex')} ${arg.trim()}`);
    },
  },
};
