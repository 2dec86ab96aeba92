/**
 * Interop: lftp against a real ftpfleet process — mirror up and down in
 * passive and active mode, and the everyday commands (ls, cls, mkdir, rm, mv,
 * rmdir, get -c).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';
import { run, sha256File } from '../helpers/clients.js';

// lftp converts names between the local and the remote charset: make the local one UTF-8.
process.env.LC_ALL = 'C.UTF-8';

/** Waits (up to `ms`) until `fn` returns a value; log lines arrive a little after the replies. */
async function eventually<T>(fn: () => T | undefined | false, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v || Date.now() > deadline) return v || undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const DIRS = [
  'docs',
  'docs/sub dir',
  'docs/sub dir/deeper still',
  'ümlaut',
  'ümlaut/日本語',
  'a/b/c/d',
  'with space',
  'empty dir',
];

const NAMES = [(i: number) => `file-${i}.bin`, (i: number) => `file ${i} with spaces.dat`, (i: number) => `файл-${i}.txt`, (i: number) => `ĉu ${i}-ñ.bin`];
const SIZES = [0, 1, 100, 1023, 1024, 4096, 65535, 65536, 200 * 1024];

/** Builds a tree of 220 files in nested dirs; returns the relative file paths. */
function makeTree(root: string): { files: string[]; dirs: string[] } {
  const dirs = ['a', 'a/b', 'a/b/c', 'docs', 'ümlaut', ...DIRS].filter((d, i, all) => all.indexOf(d) === i);
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  const fileDirs = ['', ...DIRS.filter((d) => d !== 'empty dir')];
  const files: string[] = [];
  for (let i = 0; i < 220; i++) {
    const dir = fileDirs[i % fileDirs.length]!;
    const name = NAMES[i % NAMES.length]!(i);
    const size = i < SIZES.length ? SIZES[i]! : Math.floor(Math.random() * 200 * 1024);
    const rel = dir ? `${dir}/${name}` : name;
    writeFileSync(join(root, rel), randomBytes(size));
    files.push(rel);
  }
  return { files: files.sort(), dirs: dirs.sort() };
}

/** All files and directories under root, relative, sorted. */
function walk(root: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const visit = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        dirs.push(r);
        visit(r);
      } else files.push(r);
    }
  };
  visit('');
  return { files: files.sort(), dirs: dirs.sort() };
}

async function assertSameTree(expectedRoot: string, actualRoot: string, label: string) {
  const expected = walk(expectedRoot);
  const actual = walk(actualRoot);
  assert.deepEqual(actual.files, expected.files, `${label}: file paths differ`);
  assert.deepEqual(actual.dirs, expected.dirs, `${label}: directory paths differ`);
  for (const f of expected.files) {
    assert.equal(await sha256File(join(actualRoot, f)), await sha256File(join(expectedRoot, f)), `${label}: ${f} differs`);
  }
}

describe('lftp', { timeout: 110_000 }, () => {
  let srv: TestServer;
  let work: string;
  let local: string;
  let tree: { files: string[]; dirs: string[] };

  const lftp = async (commands: string, opts: { passive?: boolean } = {}) => {
    const script = [
      'set ftp:ssl-allow no',
      'set net:max-retries 1',
      'set net:timeout 10',
      'set net:reconnect-interval-base 1',
      'set file:charset UTF-8',
      `set ftp:passive-mode ${opts.passive === false ? 'off' : 'on'}`,
      `open -u ${ALICE.name},${ALICE.password} -p ${srv.port} 127.0.0.1`,
      commands,
    ].join('; ');
    const r = await run('lftp', ['-c', script], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `lftp failed (${r.code}): ${commands}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  before(async () => {
    srv = await startServer({ pasvSize: 100 });
    work = mkdtempSync(join(tmpdir(), 'ftpfleet-lftp-'));
    local = join(work, 'local');
    mkdirSync(local);
    tree = makeTree(local);
    assert.ok(tree.files.length >= 200);
  });

  after(async () => {
    await srv?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const assertNoTempFiles = () => {
    const all = walk(srv.dataDir);
    const temps = [...all.files, ...all.dirs].filter((p) => p.split('/').some((s) => s.startsWith('.ftpfleet-upload-')));
    assert.deepEqual(temps, [], 'temporary upload files left in the data dir');
  };

  for (const mode of ['passive', 'active'] as const) {
    test(`mirror -R then mirror, ${mode} mode`, async () => {
      const remote = `/up-${mode}`;
      const down = join(work, `down-${mode}`);
      const passive = mode === 'passive';
      const before = srv.logs.length;
      await lftp(`mirror -R --parallel=4 ${local} ${remote}`, { passive });
      // The server's disk holds exactly the uploaded tree, nothing half-written.
      await assertSameTree(local, join(srv.dataDir, remote), `server copy (${mode})`);
      assertNoTempFiles();
      await lftp(`mirror --parallel=4 ${remote} ${down}`, { passive });
      await assertSameTree(local, down, `downloaded copy (${mode})`);
      // The transfers really went over the mode under test.
      const uploads = () => srv.logs.slice(before).filter((l) => l.msg === 'transfer' && l.direction === 'upload');
      const transfers = (await eventually(() => uploads().length >= tree.files.length && uploads())) ?? uploads();
      assert.ok(transfers.length >= tree.files.length, `expected ≥${tree.files.length} uploads, got ${transfers.length}`);
      assert.ok(transfers.every((l) => l.mode === mode && l.result === 'ok'), `every upload in ${mode} mode and ok`);
    });
  }

  test('the data dir holds exactly the mirrored trees', () => {
    const top = readdirSync(srv.dataDir).sort();
    assert.deepEqual(top, ['up-active', 'up-passive']);
    assertNoTempFiles();
  });

  test('ls and cls', async () => {
    const ls = await lftp('ls /up-passive/docs');
    assert.match(ls.stdout, /^d.* sub dir$/m);
    for (const f of tree.files.filter((p) => /^docs\/[^/]+$/.test(p))) {
      const name = f.slice('docs/'.length);
      const size = statSync(join(local, f)).size;
      assert.match(ls.stdout, new RegExp(`^-.*\\s${size}\\s.*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `ls shows ${name} with size ${size}`);
    }
    const cls = await lftp('cls -1 /up-passive/ümlaut/日本語');
    const names = cls.stdout.split('\n').filter(Boolean).map((l) => l.replace(/^.*\//, '')).sort();
    const expected = tree.files.filter((p) => p.startsWith('ümlaut/日本語/')).map((p) => p.slice('ümlaut/日本語/'.length)).sort();
    assert.deepEqual(names, expected);
  });

  test('mkdir, mv, rm, rmdir', async () => {
    await lftp('mkdir -p "/work/new dir/ñ"; mkdir /work/gone');
    assert.ok(statSync(join(srv.dataDir, 'work/new dir/ñ')).isDirectory());
    assert.ok(statSync(join(srv.dataDir, 'work/gone')).isDirectory());
    await lftp(`put ${join(local, tree.files[0]!)} -o "/work/new dir/a file.bin"`);
    await lftp('mv "/work/new dir/a file.bin" "/work/new dir/ñ/renamed ü.bin"');
    assert.ok(!existsSync(join(srv.dataDir, 'work/new dir/a file.bin')));
    assert.equal(await sha256File(join(srv.dataDir, 'work/new dir/ñ/renamed ü.bin')), await sha256File(join(local, tree.files[0]!)));
    await lftp('mv "/work/new dir/ñ" "/work/moved"');
    assert.ok(existsSync(join(srv.dataDir, 'work/moved/renamed ü.bin')));
    await lftp('rm "/work/moved/renamed ü.bin"; rmdir /work/moved; rmdir /work/gone');
    assert.deepEqual(readdirSync(join(srv.dataDir, 'work')).sort(), ['new dir']);
    // rmdir of a non-empty directory fails and leaves it there.
    await lftp('put ' + join(local, tree.files[5]!) + ' -o "/work/new dir/keep.bin"');
    const script = `set ftp:ssl-allow no; set net:max-retries 1; open -u ${ALICE.name},${ALICE.password} -p ${srv.port} 127.0.0.1; rmdir "/work/new dir"`;
    const r = await run('lftp', ['-c', script], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0, 'rmdir of a non-empty directory must fail');
    assert.match(r.stderr, /550/);
    assert.ok(existsSync(join(srv.dataDir, 'work/new dir/keep.bin')));
  });

  test('get -c resumes a partial download', async () => {
    const big = tree.files.find((f) => statSync(join(local, f)).size === 200 * 1024)!;
    const full = readFileSync(join(local, big));
    const partial = join(work, 'partial.bin');
    writeFileSync(partial, full.subarray(0, 70_000));
    const before = srv.logs.length;
    await lftp(`get -c "/up-passive/${big}" -o ${partial}`);
    assert.equal(await sha256File(partial), await sha256File(join(local, big)));
    // Only the missing bytes went over the wire (REST was used).
    const t = await eventually(() =>
      srv.logs.slice(before).find((l) => l.msg === 'transfer' && l.direction === 'download' && l.path === `/up-passive/${big}`),
    );
    assert.ok(t, 'a download was logged');
    assert.equal(t.bytes, full.length - 70_000);
  });
});
