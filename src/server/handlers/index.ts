/**
 * The command table. Adding a command means adding a handler to one of the
 * group modules (and its FEAT line there, if it has one).
 */
import { reply } from '../../protocol/replies.js';
import { authCommands } from './auth.js';
import { dataConnectionCommands } from './dataConnection.js';
import { fileCommands } from './files.js';
import { listingCommands } from './listing.js';
import { securityCommands } from './security.js';
import { settingsCommands } from './settings.js';
import { transferCommands } from './transfers.js';
import type { CommandTable } from './types.js';

const helpCommands: CommandTable = {
  FEAT: {
    public: true,
    arg: 'none',
    run(session) {
      const lines = new Set<string>(['UTF8', 'TVFS']);
      for (const spec of Object.values(COMMANDS)) {
        const feat = typeof spec.feat === 'function' ? spec.feat(session) : spec.feat;
        for (const line of [feat ?? []].flat()) if (line) lines.add(line);
      }
      // RFC 2389 §3.2: each feature line starts with a space.
      return reply(211, 'Features:', ...[...lines].sort().map((l) => ` ${l}`), 'End');
    },
  },
  HELP: {
    public: true,
    arg: 'optional',
    syntax: '[<command>]',
    run(_session, arg) {
      const verb = arg.trim().toUpperCase();
      if (verb === '') {
        const verbs = Object.keys(COMMANDS).sort();
        const rows: string[] = [];
        for (let i = 0; i < verbs.length; i += 8) rows.push(' ' + verbs.slice(i, i + 8).map((v) => v.padEnd(5)).join(' '));
        return reply(214, 'The following commands are recognized:', ...rows, 'Help OK.');
      }
      const spec = COMMANDS[verb];
      if (!spec) return reply(502, `Unknown command ${verb}.`);
      return reply(214, `Syntax: ${verb}${spec.syntax ? ` ${spec.syntax}` : ''}`);
    },
  },
};

export const COMMANDS: CommandTable = Object.assign(
  Object.create(null) as CommandTable,
  authCommands,
  settingsCommands,
  fileCommands,
  listingCommands,
  transferCommands,
  dataConnectionCommands,
  securityCommands,
  helpCommands,
);
