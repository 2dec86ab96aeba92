/** File transfers: RETR, STOR, STOU, APPE, REST, ABOR. */
import { randomBytes } from 'node:crypto';
import { reply } from '../../protocol/replies.js';
import { baseName, joinVirtual, parentOf } from '../../protocol/virtualPath.js';
import { IsADirectoryError, NotFoundError, OffsetPastEndError } from '../../storage/errors.js';
import { InvalidArgumentError } from '../errors.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

function upload(session: Session, path: string, options: { append?: boolean; offset?: number }, label = path) {
  return session.runTransfer({
    direction: 'upload',
    path,
    label,
    target: () => session.storage.createUpload(path, options),
  });
}

async function exists(session: Session, path: string): Promise<boolean> {
  try {
    await session.storage.stat(path);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

export const transferCommands: CommandTable = {
  RETR: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      session.require('read');
      const path = session.resolve(arg);
      const start = session.takeRestOffset();
      const storage = session.storage;
      return session.runTransfer({
        direction: 'download',
        path,
        label: path,
        async source() {
          const st = await storage.stat(path);
          if (st.isDirectory) throw new IsADirectoryError(`${arg}: not a regular file.`);
          if (start > st.size) throw new OffsetPastEndError(`Restart offset ${start} is past the end of the file (${st.size} bytes).`);
          return storage.openRead(path, { start });
        },
      });
    },
  },
  STOR: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      session.require('write');
      return upload(session, session.resolve(arg), { offset: session.takeRestOffset() });
    },
  },
  APPE: {
    arg: 'required',
    syntax: '<path>',
    async run(session, arg) {
      session.require('write');
      session.takeRestOffset();
      return upload(session, session.resolve(arg), { append: true });
    },
  },
  STOU: {
    arg: 'optional',
    syntax: '[<name hint>]',
    async run(session, arg) {
      session.require('write');
      session.takeRestOffset();
      const hint = arg.trim() === '' ? null : session.resolve(arg);
      const dir = hint ? parentOf(hint) : session.cwd;
      const stem = hint ? baseName(hint) : 'ftpfleet';
      let path = hint ?? joinVirtual(dir, `${stem}.${randomBytes(4).toString('hex')}`);
      for (let i = 0; await exists(session, path); i++) {
        if (i > 20) throw new InvalidArgumentError('Could not find a unique name.');
        path = joinVirtual(dir, `${stem}.${randomBytes(4).toString('hex')}`);
      }
      // RFC 1123 §4.1.2.9: the 150 reply names the file as "FILE: name".
      const result = await upload(session, path, {}, `FILE: ${baseName(path)}`);
      return result ?? reply(226, `Transfer complete (unique file name ${baseName(path)}).`);
    },
  },
  REST: {
    arg: 'required',
    syntax: '<offset>',
    feat: 'REST STREAM',
    run(session, arg) {
      if (!/^\d{1,15}$/.test(arg.trim())) throw new InvalidArgumentError('REST needs a byte offset.');
      session.restOffset = Number(arg.trim());
      return reply(350, `Restarting at ${session.restOffset}. Send STOR or RETR to initiate transfer.`);
    },
  },
  ABOR: {
    arg: 'none',
    // The transfer stops at once; ABOR's own reply follows those of the commands queued before it.
    onArrival: (session, arg) => {
      if (arg.trim() === '') session.interruptTransfer();
    },
    run(session) {
      if (session.finishAbort()) return reply(226, 'ABOR successful; transfer aborted.');
      return reply(225, 'No transfer to abort.');
    },
  },
};
