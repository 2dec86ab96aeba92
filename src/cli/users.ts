/** `ftpfleet user add|passwd|del|list`: edits the users file. */
import { Command, InvalidArgumentError as CliArgError } from 'commander';
import { generatePassword, hashPassword } from '../auth/passwords.js';
import { readUsersFile, writeUsersFile } from '../auth/fileUserStore.js';
import { loadConfig } from '../config/load.js';
import { PERMISSIONS, userSchema, type UserRecord } from '../config/schema.js';

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

function parsePermissions(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of list) {
    if (!(PERMISSIONS as readonly string[]).includes(p)) {
      throw new CliArgError(`unknown permission "${p}"; allowed: ${PERMISSIONS.join(', ')}`);
    }
  }
  return list;
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
    .option('--permissions <list>', `comma-separated: ${PERMISSIONS.join(',')}`, parsePermissions)
    .option('--allow <cidr>', 'client network allowed to log in (repeatable; default anywhere)', collect)
    .option('--max-sessions <n>', 'concurrent sessions allowed for this user', (v) => Number(v))
    .action(async (name: string, opts) => {
      const path = usersPath(opts);
      const file = await readUsersFile(path);
      if (Object.hasOwn(file.users, name)) throw new Error(`user "${name}" already exists in ${path}`);
      const { password, generated } = await choosePassword(opts);
      const record: UserRecord = userSchema.parse({
        password: await hashPassword(password),
        home: opts.home,
        permissions: opts.permissions,
        allowedNetworks: opts.allow,
        maxSessions: opts.maxSessions,
      });
      file.users[name] = record;
      await writeUsersFile(path, file);
      console.log(`added user ${name} (home ${record.home}) to ${path}`);
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
      record.password = await hashPassword(password);
      await writeUsersFile(path, file);
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
