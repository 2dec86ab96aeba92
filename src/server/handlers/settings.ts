/** Transfer parameters and harmless commands: TYPE, MODE, STRU, ALLO, NOOP, SYST, CLNT, OPTS. */
import { parseMlstOpts } from '../../protocol/listing.js';
import { reply } from '../../protocol/replies.js';
import { InvalidArgumentError, UnsupportedParameterError } from '../errors.js';
import type { HashAlgorithm } from '../session.js';
import type { CommandTable } from './types.js';

const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['SHA-256', 'SHA-1', 'MD5'];

export const settingsCommands: CommandTable = {
  TYPE: {
    arg: 'required',
    syntax: '{A [N] | I | L 8}',
    run(session, arg) {
      const a = arg.trim().toUpperCase().split(/\s+/);
      const [code, param] = a;
      if (a.length > 2) throw new InvalidArgumentError(`Bad TYPE argument "${arg}".`);
      if (code === 'A' && (param === undefined || param === 'N')) session.type = 'A';
      else if (code === 'I' && param === undefined) session.type = 'I';
      else if (code === 'L' && param === '8') session.type = 'I';
      else if (code === 'E' || (code === 'A' && (param === 'T' || param === 'C')) || code === 'L') {
        throw new UnsupportedParameterError(`TYPE ${arg.trim()} not implemented.`);
      } else throw new InvalidArgumentError(`Bad TYPE argument "${arg}".`);
      return reply(200, `Type set to ${session.type === 'A' ? 'A' : 'I'}.`);
    },
  },
  MODE: {
    arg: 'required',
    syntax: 'S',
    run(_session, arg) {
      const m = arg.trim().toUpperCase();
      if (m === 'S') return reply(200, 'Mode set to S.');
      if (m === 'B' || m === 'C' || m === 'Z') throw new UnsupportedParameterError(`MODE ${m} not implemented.`);
      throw new InvalidArgumentError(`Bad MODE argument "${arg}".`);
    },
  },
  STRU: {
    arg: 'required',
    syntax: 'F',
    run(_session, arg) {
      const s = arg.trim().toUpperCase();
      if (s === 'F') return reply(200, 'Structure set to F.');
      if (s === 'R' || s === 'P') throw new UnsupportedParameterError(`STRU ${s} not implemented.`);
      throw new InvalidArgumentError(`Bad STRU argument "${arg}".`);
    },
  },
  ALLO: {
    arg: 'required',
    syntax: '<size> [R <record-size>]',
    run(_session, arg) {
      if (!/^\d{1,20}(\s+R\s+\d{1,20})?$/i.test(arg.trim())) throw new InvalidArgumentError(`Bad ALLO argument "${arg}".`);
      return reply(202, 'No storage allocation necessary.');
    },
  },
  NOOP: { public: true, duringTransfer: true, arg: 'none', run: () => reply(200, 'NOOP ok.') },
  SYST: { public: true, arg: 'none', run: () => reply(215, 'UNIX Type: L8') },
  CLNT: {
    public: true,
    arg: 'required',
    syntax: '<client name>',
    feat: 'CLNT',
    run(session, arg) {
      session.clientName = arg.trim().slice(0, 100);
      session.log.info({ clientName: session.clientName }, 'client identified');
      return reply(200, 'Noted.');
    },
  },
  OPTS: {
    public: true,
    arg: 'required',
    syntax: '<command> [<options>]',
    run(session, arg) {
      const text = arg.trim();
      const space = text.indexOf(' ');
      const command = (space === -1 ? text : text.slice(0, space)).toUpperCase();
      const options = space === -1 ? '' : text.slice(space + 1).trim();
      switch (command) {
        case 'UTF8':
        case 'UTF-8':
          // RFC 2640: paths are UTF-8 always; OFF is accepted and ignored.
          if (options === '' || /^(ON|OFF)$/i.test(options)) return reply(200, 'Always in UTF8 mode.');
          throw new InvalidArgumentError('Syntax: OPTS UTF8 {ON|OFF}');
        case 'MLST': {
          session.mlstFacts = parseMlstOpts(options);
          return reply(200, `MLST OPTS ${session.mlstFacts.map((f) => `${f};`).join('')}`);
        }
        case 'HASH': {
          if (options === '') return reply(200, session.hashAlgorithm);
          const algo = HASH_ALGORITHMS.find((a) => a === options.toUpperCase());
          if (!algo) throw new InvalidArgumentError(`Unknown algorithm; use one of ${HASH_ALGORITHMS.join(', ')}.`);
          session.hashAlgorithm = algo;
          return reply(200, algo);
        }
        default:
          throw new InvalidArgumentError(`OPTS for ${command} not understood.`);
      }
    },
  },
};

export { HASH_ALGORITHMS };
