/** `ftpfleet user add|passwd|del|list`: edits the users file. */
import { Command } from 'commander';
import type { z } from 'zod';
import { generatePassword, hashPassword } from '../auth/passwords.js';
import { readUsersFile, UsersFileError, writeUsersFile } from '../auth/fileUserStore.js';
import { formatIssues, loadConfig } from '../config/load.js';
import { PERMISSIONS, usersFileSchema, type UsersFile } from '../config/schema.js';

interface FileOptions {
  config?: string;
  usersFile?: string;
}

function usersPath(opts: FileOptions): string {
  if (opts.usersFile) return opts.usersFile;
  return loadConfig({ file: opts.config, env: process.env }).users.file;
}

async function readPasswordFromStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const pw = text.replace(/\r?\n$/, '');
  if (pw.length === 0) throw new Error('no password on standard input');
  return pw;
}

async function choosePassword(opts: { passwordStdin?: boolean }): Promise<{ password: string; generated: boolean }> {
  if (opts.passwordStdin) return { password: await readPasswordFromStdin(), generated: false };
  return { password: generatePassword(), generated: true };
}

const parseList = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);
/** Digits become a number; anything else stays text for the schema to refuse by name. */
const parseCount = (value: string) => (/^\d+$/.test(value) ? Number(value) : value);

/**
 * The users file with `name` set to `record`, validated as a whole against the
 * schema the server loads it with; a UsersFileError (exit 2) names what is wrong.
 */
function withUser(file: UsersFile, name: string, record: Record<string, unknown>, path: string): UsersFile {
  const raw = { users: { ...file.users, [name]: record } };
  const result = usersFileSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new UsersFileError(describeIssues(result.error.issues, raw, `not written to ${path}`));
}

function describeIssues(issues: z.core.$ZodIssue[], raw: unknown, source: string): string {
  // A bad name fails as the record's key, before its value is looked at.
  const badName = issues.find((i): i is z.core.$ZodIssueInvalidKey => i.code === 'invalid_key');
  if (badName) {
    const why = badName.issues[0]?.message ?? badName.message;
    return `invalid user (${source}):\n  user name ${JSON.stringify(badName.path.at(-1))}: ${why}`;
  }
  return formatIssues(issues, raw, source).replace('invalid configuration', 'invalid user');
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function withFileOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (its users.file is edited)')
    .option('--users-file <file>', 'users file to edit (overrides the config)');
}

export function userCommand(): Command {
  const user = new Command('user').description('manage the users file');

  withFileOptions(user.command('add <name>'))
    .description('add a user; prints a generated password unless --password-stdin is given')
    .option('--password-stdin', 'read the password from standard input')
    .option('--home <path>', 'home directory inside the storage root', '/')
    .option('--permissions <list>', `comma-separated: ${PERMISSIONS.join(',')}`, parseList)
    .option('--allow <cidr>', 'client network allowed to log in (repeatable; default anywhere)', collect)
    .option('--max-sessions <n>', 'concurrent sessions allowed for this user', parseCount)
    .action(async (name: string, opts) => {
      const path = usersPath(opts);
      const file = await readUsersFile(path);
      if (Object.hasOwn(file.users, name)) throw new Error(`user "${name}" already exists in ${path}`);
      const { password, generated } = await choosePassword(opts);
      const updated = withUser(
        file,
        name,
        {
          password: await hashPassword(password),
          home: opts.home,
          permissions: opts.permissions,
          allowedNetworks: opts.allow,
          maxSessions: opts.maxSessions,
        },
        path,
      );
      await writeUsersFile(path, updated);
      console.log(`added user ${name} (home ${updated.users[name]!.home}) to ${path}`);
      if (generated) console.log(`password: ${password}`);
    });

  withFileOptions(user.command('passwd <name>'))
    .description("set a user's password; prints a generated one unless --password-stdin is given")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts) => {
      const path = usersPath(opts);
      const file = await readUsersFile(path);
      const record = Object.hasOwn(file.users, name) ? file.users[name] : undefined;
      if (!record) throw new Error(`no user "${name}" in ${path}`);
      const { password, generated } = await choosePassword(opts);
      await writeUsersFile(path, withUser(file, name, { ...record, password: await hashPassword(password) }, path));
      console.log(`password of ${name} changed`);
      if (generated) console.log(`password: ${password}`);
    });

  withFileOptions(user.command('del <name>'))
    .description('delete a user (their files stay)')
    .action(async (name: string, opts) => {
      const path = usersPath(opts);
      const file = await readUsersFile(path);
      if (!Object.hasOwn(file.users, name)) throw new Error(`no user "${name}" in ${path}`);
      delete file.users[name];
      await writeUsersFile(path, file);
      console.log(`deleted user ${name}`);
    });

  withFileOptions(user.command('list'))
    .description('list users')
    .action(async (opts) => {
      const file = await readUsersFile(usersPath(opts));
      for (const [name, r] of Object.entries(file.users)) {
        const extra = [
          r.allowedNetworks.length ? `allow=${r.allowedNetworks.join(',')}` : '',
          r.maxSessions ? `max-sessions=${r.maxSessions}` : '',
        ].filter(Boolean);
        console.log([name, `home=${r.home}`, `permissions=${r.permissions.join(',')}`, ...extra].join('\t'));
      }
    });

  return user;
}
