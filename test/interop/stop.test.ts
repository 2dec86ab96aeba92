/**
 * Stopping a real ftpfleet process with SIGTERM: it refuses new connections,
 * closes idle sessions with 421, lets a running download finish, and exits 0;
 * an upload still running when the grace period runs out is discarded,
 * temp file included, before the process exits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, makeRandomFile, sha256File } from '../helpers/clients.js';
import { passivePort, RawClient } from '../helpers/rawClient.js';
import { ALICE, startServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

function openData(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

function exitCode(proc: import('node:child_process').ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

/** A connection attempt: 'refused' when nothing accepts it, else the first reply's code. */
async function tryConnect(port: number): Promise<'refused' | number> {
  let c: RawClient;
  try {
    c = await RawClient.connect(port);
  } catch {
    return 'refused';
  }
  try {
    return (await c.read()).code;
  } finally {
    c.close();
  }
}

describe('SIGTERM', () => {
  let tmp: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'ftpfleet-stop-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('graceful stop: new connections refused, idle session 421, a running download finishes intact, exit 0', async () => {
    const srv = await startServer({ config: { shutdown: { grace: 60 } } });
    try {
      // Larger than what the kernel buffers on loopback: the server is still sending when SIGTERM comes.
      const size = 64 * MiB;
      makeRandomFile(join(srv.dataDir, 'big.bin'), size);
      const local = join(tmp, 'big.bin');
      const idle = await RawClient.connect(srv.port);
      await idle.login(ALICE.name, ALICE.password);
      // About four seconds of download at this rate.
      const curl = spawn('curl', ['-sS', '--limit-rate', '16M', '-o', local, `${srv.url()}/big.bin`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let curlErr = '';
      curl.stderr.on('data', (d) => (curlErr += d));
      const curlDone = new Promise<number | null>((r) => curl.once('close', (code) => r(code)));
      const started = await eventually(() => existsSync(local) && statSync(local).size > 0, 20_000);
      assert.ok(started, 'the download did not start');
      assert.ok(!srv.logs.some((l) => l.msg === 'transfer'), 'the download ended before the stop began: nothing was tested');

      srv.proc.kill('SIGTERM');
      await srv.waitForLog((l) => l.msg === 'stopping');
      const bye = await idle.read();
      assert.equal(bye.code, 421, bye.text);
      assert.equal(await tryConnect(srv.port), 'refused');

      assert.equal(await curlDone, 0, curlErr);
      assert.equal(await sha256File(local), await sha256File(join(srv.dataDir, 'big.bin')));
      assert.equal(await exitCode(srv.proc), 0);
      const log = srv.logs.find((l) => l.msg === 'transfer' && l.path === '/big.bin');
      assert.equal(log?.result, 'ok');
      assert.equal(log?.bytes, size);
    } finally {
      await srv.stop();
    }
  });

  test('grace over during an upload: the upload is discarded, temp file included, and the process exits 0', async () => {
    const srv = await startServer({ config: { shutdown: { grace: 1 } } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.login(ALICE.name, ALICE.password);
      assert.equal((await c.cmd('TYPE I')).code, 200);
      const data = await openData(passivePort(await c.cmd('PASV')), c.socket.localAddress!);
      data.on('error', () => {});
      assert.equal((await c.cmd('STOR unfinished.bin')).code, 150);
      data.write(randomBytes(512 * 1024));
      await eventually(async () => /[1-9]\d* bytes/.test((await c.cmd('STAT')).text));
      assert.equal(readdirSync(srv.dataDir).filter((n) => n.startsWith('.ftpfleet-upload-')).length, 1);

      // The upload never ends by itself: the grace period runs out.
      srv.proc.kill('SIGTERM');
      assert.equal(await exitCode(srv.proc), 0);
      assert.deepEqual(readdirSync(srv.dataDir), [], 'left behind after the stop');
      data.destroy();
      c.close();
    } finally {
      await srv.stop();
    }
  });
});
