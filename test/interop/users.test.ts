/**
 * `ftpfleet user add|passwd|del|list` against the users file of a running
 * ftpfleet process (which picks changes up without a restart), and the first
 * start of `serve` creating the users file. Passwords are printed once and
 * stored only as argon2 hashes; bad input exits 2, says what is wrong, and
 * leaves the file as it was.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { eventually, run } from '../helpers/clients.js';
import { spawnLogged } from '../helpers/loggedProcess.js';
import { RawClient } from '../helpers/rawClient.js';
import { CLI, startServer, type TestServer } from '../helpers/server.js';

function cli(args: string[], input?: string) {
  return run(process.execPath, [CLI, ...args], { input });
}

/** The reply to PASS for this name and password (230 or 530). */
async function loginCode(port: number, name: string, password: string): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    await c.read();
    await c.cmd(`USER ${name}`);
    return (await c.cmd(`PASS ${password}`)).code;
  } finally {
    c.close();
  }
}

/** Waits for the server to pick up the users file (it checks for changes once a second). */
async function eventuallyLogin(port: number, name: string, password: string, want: number): Promise<number> {
  let code = 0;
  await eventually(async () => (code = await loginCode(port, name, password)) === want, 10_000);
  return code;
}

function generatedPassword(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.startsWith('password: '));
  assert.equal(lines.length, 1, `expected the password printed once:\n${stdout}`);
  return lines[0]!.slice('password: '.length).trim();
}

describe('ftpfleet user', () => {
  let srv: TestServer;
  let usersFile: string;

  before(async () => {
    // Polling for the reload fails logins on purpose: no bans here.
    srv = await startServer({ config: { limits: { failedLoginDelay: 0, defender: { enabled: false } } } });
    usersFile = join(srv.dir, 'users.yaml');
  });
  after(async () => srv?.stop());

  test('add, list, passwd and del take effect in the running server; only hashes are stored', async () => {
    const add = await cli(
      ['user', 'add', 'carol', '--users-file', usersFile, '--password-stdin', '--home', '/carol', '--permissions', 'list,read', '--allow', '127.0.0.0/8', '--max-sessions', '3'],
      'carol-first-pass\n',
    );
    assert.equal(add.code, 0, add.stderr);
    assert.doesNotMatch(add.stdout, /carol-first-pass/);
    let text = readFileSync(usersFile, 'utf8');
    assert.doesNotMatch(text, /carol-first-pass/);
    assert.match(text, /carol:\n\s+password: \$argon2id\$/);

    const list = await cli(['user', 'list', '--users-file', usersFile]);
    assert.equal(list.code, 0, list.stderr);
    const carol = list.stdout.split('\n').find((l) => l.startsWith('carol\t'));
    assert.equal(carol, 'carol\thome=/carol\tpermissions=list,read\tallow=127.0.0.0/8\tmax-sessions=3');
    assert.doesNotMatch(list.stdout, /\$argon2/);

    mkdirSync(join(srv.dataDir, 'carol'), { recursive: true });
    assert.equal(await eventuallyLogin(srv.port, 'carol', 'carol-first-pass', 230), 230);

    const passwd = await cli(['user', 'passwd', 'carol', '--users-file', usersFile]);
    assert.equal(passwd.code, 0, passwd.stderr);
    const second = generatedPassword(passwd.stdout);
    text = readFileSync(usersFile, 'utf8');
    assert.ok(!text.includes(second), 'the generated password is stored in the clear');
    assert.equal(await eventuallyLogin(srv.port, 'carol', second, 230), 230);
    assert.equal(await loginCode(srv.port, 'carol', 'carol-first-pass'), 530);

    const del = await cli(['user', 'del', 'carol', '--users-file', usersFile]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await eventuallyLogin(srv.port, 'carol', second, 530), 530);
    assert.doesNotMatch((await cli(['user', 'list', '--users-file', usersFile])).stdout, /^carol\t/m);
  });

  test('add with a generated password prints it once and stores only its hash', async () => {
    const add = await cli(['user', 'add', 'dave', '--users-file', usersFile]);
    assert.equal(add.code, 0, add.stderr);
    const password = generatedPassword(add.stdout);
    assert.ok(!readFileSync(usersFile, 'utf8').includes(password));
    assert.equal(await eventuallyLogin(srv.port, 'dave', password, 230), 230);
    assert.equal((await cli(['user', 'del', 'dave', '--users-file', usersFile])).code, 0);
  });

  test('bad names and values exit 2 naming the key, the value and what is allowed; the file is unchanged', async () => {
    const cases: Array<{ args: string[]; says: RegExp[] }> = [
      { args: ['bad/name'], says: [/user name "bad\/name"/, /letters, digits and \._@-/] },
      { args: ['eve', '--allow', '10.0.0.0/33'], says: [/users\.eve\.allowedNetworks\.0/, /"10\.0\.0\.0\/33"/, /CIDR form/] },
      { args: ['eve', '--home', 'relative/dir'], says: [/users\.eve\.home/, /"relative\/dir"/, /start with "\/"/] },
      { args: ['eve', '--max-sessions', 'many'], says: [/users\.eve\.maxSessions/, /"many"/, /expected number/] },
      { args: ['eve', '--max-sessions', '0'], says: [/users\.eve\.maxSessions/, /got 0/, />=1/] },
      { args: ['eve', '--permissions', 'read,fly'], says: [/users\.eve\.permissions\.1/, /"fly"/, /"list"\|"read"/] },
    ];
    const before = readFileSync(usersFile);
    for (const { args, says } of cases) {
      const r = await cli(['user', 'add', ...args, '--users-file', usersFile, '--password-stdin'], 'eve-pass\n');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      for (const re of says) assert.match(r.stderr, re, args.join(' '));
      assert.doesNotMatch(r.stdout + r.stderr, /eve-pass|\$argon2/);
      assert.deepEqual(readFileSync(usersFile), before, `${args.join(' ')} changed the users file`);
    }
    // Every later command still works.
    const list = await cli(['user', 'list', '--users-file', usersFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^alice\t/m);
    assert.equal(await loginCode(srv.port, 'alice', 'alice-secret'), 230);
  });

  test('passwd and del of a user that does not exist fail and change nothing', async () => {
    const before = readFileSync(usersFile);
    for (const verb of ['passwd', 'del']) {
      const r = await cli(['user', verb, 'nobody', '--users-file', usersFile]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no user "nobody"/);
      assert.deepEqual(readFileSync(usersFile), before);
    }
  });
});

describe('first start of serve', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ftpfleet-firststart-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function serve() {
    const min = 20000 + Math.floor(Math.random() * 400) * 100;
    const config = {
      listen: { addresses: ['127.0.0.1'], port: 0 },
      storage: { local: { root: join(dir, 'data') } },
      users: { file: join(dir, 'users.yaml') },
      passive: { portRange: `${min}-${min + 9}` },
      ops: { enabled: false },
    };
    writeFileSync(join(dir, 'config.yaml'), stringify(config));
    const p = await spawnLogged([CLI, 'serve', '--config', join(dir, 'config.yaml')], 'ftpfleet started');
    const port = p.logs.find((l) => l.msg === 'listening')!.port as number;
    const stop = async () => {
      p.proc.kill('SIGTERM');
      return p.exited;
    };
    return { ...p, port, stop };
  }

  test('creates the users file with one user, prints its password once, stores only an argon2 hash', async () => {
    const first = await serve();
    let password: string;
    try {
      const m = /password: (\S+)/.exec(first.stderr());
      assert.ok(m, `no password printed:\n${first.stderr()}`);
      password = m[1]!;
      assert.equal(first.stderr().split(password).length - 1, 1, 'the password is printed more than once');
      assert.ok(!first.logs.some((l) => JSON.stringify(l).includes(password)), 'the password is in a log line');
      const text = readFileSync(join(dir, 'users.yaml'), 'utf8');
      assert.ok(!text.includes(password), 'the users file holds the password');
      assert.match(text, /ftpfleet:\n\s+password: \$argon2id\$/);
      assert.equal(await loginCode(first.port, 'ftpfleet', password), 230);
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const again = await serve();
    try {
      assert.doesNotMatch(again.stderr(), /password/);
      assert.equal(await loginCode(again.port, 'ftpfleet', password), 230);
    } finally {
      await again.stop();
    }
    assert.ok(existsSync(join(dir, 'users.yaml')));
  });
});
