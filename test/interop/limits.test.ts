/**
 * Limits against a real ftpfleet process: the global session cap, the
 * passive accept timeout, the data-connection stall timeout and the TLS
 * handshake timeout. Replies and outcomes are asserted, never durations
 * (the limits are set to a second; the waits allow far more).
 *
 * Only loopback is ever contacted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { eventually, makeRandomFile } from '../helpers/clients.js';
import { passivePort, RawClient } from '../helpers/rawClient.js';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

function openData(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A session, logged in unless `logIn` is false (waits for a free slot: sessions of the test before may still be closing). */
async function session(srv: TestServer, logIn = true): Promise<RawClient> {
  const c = await eventually(async () => {
    const c = await RawClient.connect(srv.port);
    if ((await c.read()).code === 220) return c;
    c.close();
    return undefined;
  });
  assert.ok(c, 'admitted');
  if (!logIn) return c;
  assert.equal((await c.cmd(`USER ${ALICE.name}`)).code, 331);
  assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
  assert.equal((await c.cmd('TYPE I')).code, 200);
  return c;
}


describe('limits', { timeout: 120_000 }, () => {
  let srv: TestServer;

  before(async () => {
    srv = await startServer({
      config: {
        limits: { maxSessions: 3, dataTimeout: 1, loginTimeout: 600, idleTimeout: 600 },
        passive: { acceptTimeout: 1 },
        tls: { handshakeTimeout: 1 },
      },
    });
    writeFileSync(join(srv.dataDir, 'small.txt'), 'small file');
    // More than loopback socket buffers hold, so a client that does not read stalls the sender.
    makeRandomFile(join(srv.dataDir, 'big.bin'), 48 * MiB);
  });
  after(() => srv?.stop());

  test('limits.maxSessions: the connection past the cap gets 421 and is closed; a freed slot admits again', async () => {
    const sessions = await eventually(async () => {
      // Sessions of earlier tests may still be closing.
      const cs = await Promise.all([1, 2, 3].map(() => RawClient.connect(srv.port)));
      const greetings = await Promise.all(cs.map((c) => c.read()));
      if (greetings.every((g) => g.code === 220)) return cs;
      for (const c of cs) c.close();
      return undefined;
    });
    assert.ok(sessions, 'three sessions admitted');
    await sessions[0]!.cmd(`USER ${ALICE.name}`);
    assert.equal((await sessions[0]!.cmd(`PASS ${ALICE.password}`)).code, 230, 'logged-in sessions count too');
    const over = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.2');
    const refused = await over.read();
    assert.equal(refused.code, 421, refused.text);
    assert.match(refused.text, /too many users/i);
    assert.deepEqual(await over.untilClosed(), []);
    await srv.waitForLog((l) => l.msg === 'connection refused' && l.why === 'max sessions' && l.client === '127.0.0.2');
    sessions[0]!.close();
    const admitted = await eventually(async () => {
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.2');
      const code = (await c.read()).code;
      c.close();
      return code === 220;
    });
    assert.ok(admitted, 'admitted once a session closed');
    for (const c of sessions) c.close();
  });

  test('passive.acceptTimeout: no data connection to the passive port gets 425; the session goes on', async () => {
    const c = await session(srv);
    try {
      const port = passivePort(await c.cmd('PASV'));
      const r = await c.cmd('RETR small.txt');
      assert.equal(r.code, 425, r.text);
      assert.match(r.text, /no data connection within 1s/i);
      // The port was given up: nobody connects to it any more.
      await assert.rejects(openData(port), /ECONNREFUSED/);
      const line = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/small.txt');
      assert.equal(line.result, 'failed');
      // A data connection made in time works.
      const again = passivePort(await c.cmd('PASV'));
      const data = await openData(again);
      const chunks: Buffer[] = [];
      data.on('data', (d: Buffer) => chunks.push(d));
      const closed = new Promise((res) => data.once('close', res));
      assert.equal((await c.cmd('RETR small.txt')).code, 150);
      await closed;
      assert.equal((await c.read()).code, 226);
      assert.equal(Buffer.concat(chunks).toString(), 'small file');
    } finally {
      c.close();
    }
  });

  test('limits.dataTimeout: a stalled upload gets 426 and leaves no file; a download nobody reads gets 426', async () => {
    const c = await session(srv);
    try {
      const up = await openData(passivePort(await c.cmd('PASV')));
      up.on('error', () => {});
      const upClosed = new Promise((res) => up.once('close', res));
      assert.equal((await c.cmd('STOR stalled.bin')).code, 150);
      up.write(Buffer.alloc(64 * 1024, 1)); // some bytes, then nothing
      const aborted = await c.read(30_000);
      assert.equal(aborted.code, 426, aborted.text);
      assert.match(aborted.text, /stalled/);
      await upClosed; // the server cut the data connection
      assert.ok(!existsSync(join(srv.dataDir, 'stalled.bin')), 'nothing under the real name');
      assert.deepEqual(readdirSync(srv.dataDir).sort(), ['big.bin', 'small.txt'], 'no temporary file left');

      const down = await openData(passivePort(await c.cmd('PASV')));
      down.on('error', () => {});
      down.pause(); // never reads
      assert.equal((await c.cmd('RETR big.bin')).code, 150);
      const cut = await c.read(30_000);
      assert.equal(cut.code, 426, cut.text);
      down.destroy();
      const logged = await srv.waitForLog((l) => l.msg === 'transfer' && l.path === '/big.bin');
      assert.equal(logged.result, 'aborted');
      assert.ok(logged.bytes < 48 * MiB, `stopped part-way (${logged.bytes} bytes)`);
      assert.equal((await c.cmd('NOOP')).code, 200, 'the control connection goes on');
    } finally {
      c.close();
    }
  });

  test('tls.handshakeTimeout: AUTH TLS and then silence closes the connection', async () => {
    const before = srv.logs.length;
    const c = await session(srv, false);
    assert.equal((await c.cmd('AUTH TLS')).code, 234); // and no ClientHello follows
    const closed = await eventually(() => c.closed, 30_000);
    assert.ok(closed, 'the server closed the connection');
    const failed = await srv.waitForLog((l) => l.msg === 'control TLS handshake failed' && srv.logs.indexOf(l) >= before);
    assert.match(failed.err, /timed out/);
    // Someone who does the handshake gets in.
    const ok = await session(srv, false);
    assert.equal((await ok.cmd('AUTH TLS')).code, 234);
    await ok.startTls();
    assert.equal((await ok.cmd(`USER ${ALICE.name}`)).code, 331);
    assert.equal((await ok.cmd(`PASS ${ALICE.password}`)).code, 230);
    ok.close();
  });
});
