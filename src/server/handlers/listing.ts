/** Directory listings: LIST, NLST, MLSD over the data connection; MLST and STAT over control. */
import { Readable } from 'node:stream';
import { hasGlob, matchGlob } from '../../protocol/glob.js';
import {
  formatListLine,
  formatMlsxFacts,
  formatMlsxLine,
  mlstFeatLine,
  splitListArgs,
  type EntryPermissions,
  type ListEntry,
} from '../../protocol/listing.js';
import { reply } from '../../protocol/replies.js';
import { baseName, parentOf } from '../../protocol/virtualPath.js';
import { NotADirectoryError } from '../../storage/errors.js';
import type { FileStat } from '../../storage/storage.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

const toEntry = (st: FileStat, name = st.name): ListEntry => ({
  name,
  type: st.isDirectory ? 'dir' : 'file',
  size: st.size,
  mtime: st.mtime,
  unique: st.id,
});

function permissionsOf(session: Session): EntryPermissions {
  const p = session.user!.permissions;
  return {
    read: p.has('read'),
    write: p.has('write'),
    delete: p.has('delete'),
    rename: p.has('rename'),
    mkdir: p.has('mkdir'),
    list: p.has('list'),
  };
}

/**
 * The entries a LIST/NLST/STAT argument names: a directory's contents, a
 * single file, or the matches of a glob in the last path segment.
 */
async function* entriesFor(session: Session, pathArg: string): AsyncGenerator<ListEntry> {
  const storage = session.storage;
  const path = session.resolve(pathArg);
  let dir = path;
  let pattern: string | null = null;
  if (hasGlob(baseName(path))) {
    dir = parentOf(path);
    pattern = baseName(path);
  } else {
    const st = await storage.stat(path);
    if (!st.isDirectory) {
      yield toEntry(st, pathArg.trim() === '' ? st.name : baseName(path));
      return;
    }
  }
  for await (const st of storage.list(dir)) {
    if (pattern === null || matchGlob(pattern, st.name)) yield toEntry(st);
  }
}

/** Lines joined with CRLF, sent in batches rather than one write per line. */
function linesStream(lines: AsyncIterable<string>): Readable {
  return Readable.from(
    (async function* () {
      let batch = '';
      for await (const line of lines) {
        batch += line + '\r\n';
        if (batch.length >= 64 * 1024) {
          yield Buffer.from(batch, 'utf8');
          batch = '';
        }
      }
      if (batch.length > 0) yield Buffer.from(batch, 'utf8');
    })(),
    { objectMode: false },
  );
}

/**
 * Runs a listing transfer. The first entry is read before the data connection
 * opens, so a missing path gets 550 rather than an empty listing.
 */
async function listTransfer(session: Session, label: string, lines: AsyncGenerator<string>) {
  const first = await lines.next();
  async function* all() {
    if (!first.done) yield first.value;
    yield* lines;
  }
  try {
    return await session.runTransfer({
      direction: 'download',
      path: label,
      label,
      ascii: false,
      source: async () => linesStream(all()),
    });
  } finally {
    // The first entry holds the directory open: close it when the transfer never
    // read on (no data connection, refused, aborted), or every such LIST leaks an fd.
    await lines.return(undefined);
  }
}

export const listingCommands: CommandTable = {
  LIST: {
    arg: 'optional',
    syntax: '[-la] [<path>]',
    async run(session, arg) {
      session.require('list');
      const { path } = splitListArgs(arg);
      const now = new Date();
      async function* lines() {
        for await (const e of entriesFor(session, path)) yield formatListLine(e, now);
      }
      return listTransfer(session, `LIST ${session.resolve(path)}`, lines());
    },
  },
  NLST: {
    arg: 'optional',
    syntax: '[<path>]',
    async run(session, arg) {
      session.require('list');
      const { path } = splitListArgs(arg);
      // A glob's matches keep the directory as the client wrote it ("dir/*.txt" gives "dir/a.txt"),
      // as other servers answer, so each name can be passed back to RETR.
      const prefix = hasGlob(baseName(session.resolve(path))) ? path.slice(0, path.lastIndexOf('/') + 1) : '';
      async function* lines() {
        for await (const e of entriesFor(session, path)) yield prefix + e.name;
      }
      return listTransfer(session, `NLST ${session.resolve(path)}`, lines());
    },
  },
  MLSD: {
    arg: 'optional',
    syntax: '[<path>]',
    async run(session, arg) {
      session.require('list');
      const path = session.resolve(arg);
      const storage = session.storage;
      const st = await storage.stat(path);
      if (!st.isDirectory) throw new NotADirectoryError(`${arg}: not a directory.`);
      const perms = permissionsOf(session);
      const facts = session.mlstFacts;
      async function* lines() {
        yield formatMlsxLine(toEntry(st, '.'), perms, facts, 'cdir');
        for await (const child of storage.list(path)) {
          yield formatMlsxLine(toEntry(child), perms, facts);
        }
      }
      return listTransfer(session, `MLSD ${path}`, lines());
    },
  },
  MLST: {
    arg: 'optional',
    syntax: '[<path>]',
    feat: (s) => mlstFeatLine(s.mlstFacts),
    async run(session, arg) {
      session.require('list');
      const path = session.resolve(arg);
      const st = await session.storage.stat(path);
      // RFC 3659 §7.2: the fact line starts with one space and names the full path.
      const facts = formatMlsxFacts(toEntry(st), permissionsOf(session), session.mlstFacts);
      return reply(250, `Listing ${path}`, ` ${facts} ${path}`, 'End.');
    },
  },
  STAT: {
    public: true,
    duringTransfer: true,
    arg: 'optional',
    syntax: '[<path>]',
    async run(session, arg) {
      if (arg.trim() === '') {
        const progress = session.transferProgress();
        if (progress) {
          const what = `${progress.direction} of ${progress.path} in ${progress.mode} mode, ${progress.bytes} bytes transferred.`;
          return reply(213, `Status on node ${session.config.nodeId}: ${what}`);
        }
        const lines = [
          'ftpfleet status:',
          `Node ${session.config.nodeId}`,
          `Connected from ${session.clientAddress}`,
          session.user ? `Logged in as ${session.user.name}` : 'Not logged in',
          `TYPE: ${session.type === 'A' ? 'ASCII' : 'BINARY'}, MODE: Stream, STRUcture: File`,
          'End of status.',
        ];
        return reply(211, ...lines);
      }
      if (!session.user) return reply(530, 'Please login with USER and PASS.');
      session.require('list');
      const { path } = splitListArgs(arg);
      const now = new Date();
      const lines = [`Status of ${session.resolve(path)}:`];
      for await (const e of entriesFor(session, path)) {
        lines.push(formatListLine(e, now));
        if (lines.length > 10000) {
          lines.push('... (listing truncated; use LIST)');
          break;
        }
      }
      lines.push('End of status.');
      return reply(213, ...lines);
    },
  },
};
