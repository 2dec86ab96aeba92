/**
 * ABOR (RFC 959 §4.1.3, §5.4) against a real ftpfleet process: it stops the
 * transfer at once even with other commands queued behind it, and while the
 * server still waits for the data connection (passive accept, active
 * connect); its own 226 follows the queued commands' replies in order. An
 * aborted upload leaves neither the file nor a temporary file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, runPythonJson } from '../helpers/clients.js';
import { passivePort, RawClient, type RawReply } from '../helpers/rawClient.js';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';

/** Longer than any reply wait below: a reply that only comes after a timeout fails the test. */
const SLOW_TIMEOUT = 60;

function openData(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
}

/** RETR over a passive data connection; the bytes received (the reply must be 226). */
async function download(c: RawClient, path: string): Promise<string> {
  const data = await openData(passivePort(await c.cmd('PASV')), c.socket.localAddress!);
  const got: Buffer[] = [];
  data.on('data', (d: Buffer) => got.push(d));
  const first = await c.cmd(`RETR ${path}`);
  assert.equal(first.code, 150, first.text);
  assert.equal((await c.read()).code, 226);
  await closed(data);
  return Buffer.concat(got).toString();
}

/** The names in a storage directory that are in-flight uploads. */
function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.ftpfleet-upload-'));
}

function codes(replies: RawReply[]): number[] {
  return replies.map((r) => r.code);
}

/**
 * A loopback port whose accept queue is full: a connection to it neither
 * completes nor fails (its SYNs are dropped), like a client behind a slow network.
 */
async function unresponsivePort(): Promise<{ port: number; proc: ChildProcess }> {
  const script = String.raw`
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.3)
print(port, flush=True)
time.sleep(600)
`;
  const proc = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`python3 exited ${code}`)));
  });
  return { port: Number(line), proc };
}

describe('ABOR', () => {
  let srv: TestServer;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-abort-'));
    srv = await startServer({
      config: { passive: { acceptTimeout: SLOW_TIMEOUT }, active: { connectTimeout: SLOW_TIMEOUT }, limits: { dataTimeout: SLOW_TIMEOUT } },
    });
  });
  after(async () => {
    await srv?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('ABOR behind a queued TYPE I during a STOR: the upload stops at once (426), then 200, then 226; nothing is kept', async () => {
    const c = await RawClient.connect(srv.port);
    try {
      await c.login(ALICE.name, ALICE.password);
      assert.equal((await c.cmd('TYPE I')).code, 200);
      const data = await openData(passivePort(await c.cmd('PASV')), c.socket.localAddress!);
      data.on('error', () => {});
      const first = await c.cmd('STOR queued-abort.bin');
      assert.equal(first.code, 150, first.text);
      data.write(randomBytes(256 * 1024));
      await eventually(async () => /[1-9]\d* bytes/.test((await c.cmd('STAT')).text));
      // The data connection stays open: only ABOR can end this upload.
      c.write('TYPE I\r\nABOR\r\n');
      const replies = [await c.read(), await c.read(), await c.read()];
      assert.deepEqual(codes(replies), [426, 200, 226], replies.map((r) => r.text).join(' | '));
      await closed(data);
      const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/queued-abort.bin');
      assert.equal(log.result, 'aborted');
      assert.equal(existsSync(join(srv.dataDir, 'queued-abort.bin')), false, 'the aborted upload was committed');
      assert.deepEqual(tempFiles(srv.dataDir), []);
      assert.equal((await c.cmd('NOOP')).code, 200);
    } finally {
      c.close();
    }
  });

  test('ABOR before the client connects to the passive port: 426 then 226 at once, and the port is released', async () => {
    writeFileSync(join(srv.dataDir, 'waiting.txt'), 'never sent\n');
    const c = await RawClient.connect(srv.port);
    try {
      await c.login(ALICE.name, ALICE.password);
      const port = passivePort(await c.cmd('PASV'));
      c.write('RETR waiting.txt\r\nABOR\r\n');
      // Read well within the accept timeout: without the abort, 425 comes only after it.
      const replies = [await c.read(10_000), await c.read(10_000)];
      assert.deepEqual(codes(replies), [426, 226], replies.map((r) => r.text).join(' | '));
      // The listener is gone: nothing accepts on the port any more.
      await assert.rejects(openData(port, c.socket.localAddress!));
      const again = await c.cmd('PASV');
      assert.equal(again.code, 227, again.text);
      assert.equal((await c.cmd('NOOP')).code, 200);
    } finally {
      c.close();
    }
  });

  test('RETR and ABOR pipelined behind TYPE I: the RETR stops as soon as it starts (200, 426, 226)', async () => {
    writeFileSync(join(srv.dataDir, 'pipelined.txt'), 'never sent\n');
    const c = await RawClient.connect(srv.port);
    try {
      await c.login(ALICE.name, ALICE.password);
      passivePort(await c.cmd('PASV'));
      // All three lines arrive at once: ABOR is read before the RETR has started.
      c.write('TYPE I\r\nRETR pipelined.txt\r\nABOR\r\n');
      const replies = [await c.read(10_000), await c.read(10_000), await c.read(10_000)];
      assert.deepEqual(codes(replies), [200, 426, 226], replies.map((r) => r.text).join(' | '));
      // ABOR applies to the commands before it only.
      assert.equal((await c.cmd('ABOR')).code, 225);
      assert.equal(await download(c, 'pipelined.txt'), 'never sent\n');
    } finally {
      c.close();
    }
  });

  test('an ABOR refused before login stops no later transfer', async () => {
    writeFileSync(join(srv.dataDir, 'later.txt'), 'sent\n');
    const c = await RawClient.connect(srv.port);
    try {
      assert.equal((await c.read()).code, 220);
      assert.equal((await c.cmd('ABOR')).code, 530);
      assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
      assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
      assert.equal((await c.cmd('TYPE I')).code, 200);
      assert.equal(await download(c, 'later.txt'), 'sent\n');
    } finally {
      c.close();
    }
  });

  test('ABOR while the active connection is still being made: 426 then 226 at once', async () => {
    writeFileSync(join(srv.dataDir, 'connecting.txt'), 'never sent\n');
    const target = await unresponsivePort();
    const c = await RawClient.connect(srv.port);
    try {
      await c.login(ALICE.name, ALICE.password);
      const eprt = await c.cmd(`EPRT |1|127.0.0.1|${target.port}|`);
      assert.equal(eprt.code, 200, eprt.text);
      c.write('RETR connecting.txt\r\nABOR\r\n');
      const replies = [await c.read(10_000), await c.read(10_000)];
      assert.deepEqual(codes(replies), [426, 226], replies.map((r) => r.text).join(' | '));
      const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/connecting.txt');
      assert.equal(log.result, 'aborted');
      assert.equal((await c.cmd('NOOP')).code, 200);
    } finally {
      c.close();
      target.proc.kill();
    }
  });

  test('ftplib abort() during a STOR leaves neither the file nor a temp file', async () => {
    const res = await runPythonJson(
      join(tmp, 'abort_stor.py'),
      String.raw`
import ftplib, json, os, sys
host, port, user, password, pasv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == 'pasv'
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login(user, password)
ftp.set_pasv(pasv)
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('STOR ftplib-abort.bin')
block = os.urandom(64 * 1024)
for _ in range(32):
    conn.sendall(block)
out = {'abort': ftp.abort()}
# ftplib reads one reply in abort(); the second one follows.
out['second'] = ftp.getmultiline()
conn.close()
out['noop'] = ftp.sendcmd('NOOP')
ftp.quit()
print(json.dumps(out))
`,
      ['127.0.0.1', String(srv.port), ALICE.name, ALICE.password, 'pasv'],
    );
    assert.match(res.abort, /^426/);
    assert.match(res.second, /^226/);
    assert.match(res.noop, /^200/);
    const log = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/ftplib-abort.bin');
    assert.equal(log.result, 'aborted');
    assert.equal(existsSync(join(srv.dataDir, 'ftplib-abort.bin')), false);
    assert.deepEqual(tempFiles(srv.dataDir), []);
  });
});
