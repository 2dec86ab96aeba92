/**
 * Security probes against a real ftpfleet process: path traversal and symlink
 * escapes, FTP bounce, data-port theft, oversize and NUL command lines,
 * out-of-order commands, password guessing, connection floods, timeouts.
 * Every case gets its error reply, and afterwards a fresh session still logs
 * in, lists and downloads.
 *
 * Only loopback is ever contacted: 127.0.0.0/8 and ::1. Addresses outside it
 * appear only in commands the server must refuse before connecting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALICE, READER, startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { RawClient, type RawReply } from '../helpers/rawClient.js';

const JAILED: TestUser = { name: 'jailed', password: 'jailed-secret', home: '/alice' };
const BOB: TestUser = { name: 'bob', password: 'bob-secret', home: '/bob' };
const PROBE = randomBytes(50_000);

/** Waits (up to `ms`) until `fn` returns a value; log lines arrive a little after the replies. */
async function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v || undefined;
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Collected {
  data: Buffer;
  socket: Socket;
  /** Resolves with every byte received once the connection closes. */
  done: Promise<Buffer>;
}

/** Opens a data connection and collects what arrives on it. */
function openData(port: number, host = '127.0.0.1', localAddress?: string): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, localAddress });
    const chunks: Buffer[] = [];
    const result: Collected = {
      data: Buffer.alloc(0),
      socket,
      done: new Promise((r) => socket.on('close', () => r((result.data = Buffer.concat(chunks))))),
    };
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('connect', () => resolve(result));
    socket.on('error', (err) => (socket.connecting ? reject(err) : undefined));
  });
}

function pasvPort(r: RawReply): number {
  assert.equal(r.code, 227, r.text);
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r.text)!;
  assert.equal(`${m[1]}.${m[2]}.${m[3]}.${m[4]}`, '127.0.0.1');
  return Number(m[5]) * 256 + Number(m[6]);
}

/** PASV + a data command: returns the replies and the bytes received. */
async function passiveTransfer(c: RawClient, command: string): Promise<{ first: RawReply; last?: RawReply; data: Buffer }> {
  const port = pasvPort(await c.cmd('PASV'));
  return passiveTransferOn(c, port, command);
}

/** Like passiveTransfer, for a PASV port already obtained; connects from the control connection's address. */
async function passiveTransferOn(c: RawClient, port: number, command: string): Promise<{ first: RawReply; last?: RawReply; data: Buffer }> {
  const data = await openData(port, '127.0.0.1', c.socket.localAddress);
  const first = await c.cmd(command);
  if (first.code !== 150 && first.code !== 125) {
    data.socket.destroy();
    return { first, data: await data.done };
  }
  const bytes = await data.done;
  return { first, last: await c.read(), data: bytes };
}

async function login(srv: TestServer, user: TestUser = ALICE, localAddress?: string, host = '127.0.0.1'): Promise<RawClient> {
  const port = srv.logs.find((l) => l.msg === 'listening' && l.address === host)?.port ?? srv.port;
  const c = await RawClient.connect(port, host, localAddress);
  await c.login(user.name, user.password);
  assert.equal((await c.cmd('TYPE I')).code, 200);
  return c;
}

/** A fresh normal session logs in, lists and downloads. */
async function assertServes(srv: TestServer, localAddress?: string): Promise<void> {
  const c = await login(srv, ALICE, localAddress);
  try {
    const list = await passiveTransfer(c, 'LIST /');
    assert.equal(list.first.code, 150, list.first.text);
    assert.equal(list.last?.code, 226);
    assert.match(list.data.toString(), /probe\.bin/);
    const retr = await passiveTransfer(c, 'RETR /probe.bin');
    assert.equal(retr.last?.code, 226);
    assert.ok(retr.data.equals(PROBE), 'probe file downloads intact');
    assert.equal((await c.cmd('QUIT')).code, 221);
  } finally {
    c.close();
  }
}

/** Counts connections reaching a trap listener (which must see none). */
async function trap(host: string): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((s) => {
    hits++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen({ host, port: 0 }, r));
  return { server, port: (server.address() as import('node:net').AddressInfo).port, hits: () => hits };
}

const portArg = (host: string, port: number) => `${host.split('.').join(',')},${port >> 8},${port & 0xff}`;

describe('hostile input', { timeout: 110_000 }, () => {
  let srv: TestServer;
  let outside: string;

  before(async () => {
    // The probes are scored, but an allow-listed loopback is never banned for them
    // (the defender itself is tested in defender.test.ts).
    srv = await startServer({ users: [ALICE, READER, JAILED, BOB], config: { limits: { defender: { allow: ['127.0.0.0/8', '::1'] } } } });
    writeFileSync(join(srv.dataDir, 'probe.bin'), PROBE);
    outside = mkdtempSync(join(tmpdir(), 'ftpfleet-outside-'));
    writeFileSync(join(outside, 'victim.txt'), 'VICTIM-CONTENT-7f3a');
  });

  after(async () => {
    await srv?.stop();
    if (outside) rmSync(outside, { recursive: true, force: true });
  });

  describe('path traversal', () => {
    test('.. and absolute paths stay inside the root', async () => {
      const c = await login(srv);
      const cwd = await c.cmd('CWD ../../..');
      assert.equal(cwd.code, 250);
      assert.equal((await c.cmd('PWD')).text, '257 "/" is the current directory.');
      const list = await passiveTransfer(c, 'LIST');
      assert.equal(list.last?.code, 226);
      assert.match(list.data.toString(), /probe\.bin/, 'the listing is of the data dir');
      assert.doesNotMatch(list.data.toString(), /\b(etc|proc|usr)\b/);
      for (const path of ['../../etc/passwd', '/../../etc/passwd', '../../../../../../etc/shadow', '..\\..\\etc\\passwd']) {
        const r = await passiveTransfer(c, `RETR ${path}`);
        assert.equal(r.first.code, 550, `RETR ${path}: ${r.first.text}`);
        assert.equal(r.data.length, 0, `no data for RETR ${path}`);
      }
      assert.equal((await c.cmd('SIZE ../../etc/passwd')).code, 550);
      assert.equal((await c.cmd('CWD /../../etc')).code, 550);
      // MKD ../x names /x: created inside the root, never beside it.
      const mkd = await c.cmd('MKD ../x');
      assert.equal(mkd.code, 257);
      assert.match(mkd.text, /"\/x"/);
      assert.ok(existsSync(join(srv.dataDir, 'x')));
      assert.ok(!existsSync(join(srv.dataDir, '..', 'x')), 'nothing created outside the data dir');
      assert.equal((await c.cmd('RMD /x')).code, 250);
      c.close();
      await assertServes(srv);
    });

    test('a symlink out of the data dir cannot be followed', async () => {
      symlinkSync('/etc', join(srv.dataDir, 'etc-link'));
      symlinkSync('/etc/passwd', join(srv.dataDir, 'passwd-link'));
      symlinkSync(outside, join(srv.dataDir, 'out-link'));
      try {
        const c = await login(srv);
        for (const cmd of ['RETR etc-link/passwd', 'RETR /etc-link/hostname', 'RETR passwd-link', 'LIST etc-link', 'NLST etc-link', 'MLSD etc-link', 'LIST out-link', 'LIST etc-link/*', 'NLST /etc-link/pass*', 'RETR etc-link/../etc-link/passwd']) {
          const r = await passiveTransfer(c, cmd);
          assert.equal(r.first.code, 550, `${cmd}: ${r.first.text}`);
          assert.equal(r.data.length, 0, `${cmd} sent data`);
        }
        for (const cmd of ['CWD etc-link', 'SIZE passwd-link', 'MDTM etc-link/passwd', 'MLST etc-link', 'STAT etc-link', 'HASH passwd-link', 'MKD out-link/new', 'DELE out-link/victim.txt', 'RMD out-link']) {
          const r = await c.cmd(cmd);
          assert.equal(r.code, 550, `${cmd}: ${r.text}`);
          assert.doesNotMatch(r.text, /root:x?:?0|VICTIM-CONTENT/, `${cmd} leaks outside content`);
        }
        // Writing through the link is refused, and nothing appears outside.
        const stor = await passiveTransfer(c, 'STOR out-link/evil.txt');
        assert.equal(stor.first.code, 550, stor.first.text);
        assert.equal((await c.cmd('RNFR probe.bin')).code, 350);
        assert.equal((await c.cmd('RNTO out-link/stolen.bin')).code, 550);
        assert.equal((await c.cmd('RNFR out-link/victim.txt')).code, 550);
        assert.deepEqual(readdirSync(outside), ['victim.txt']);
        // Appending to or resuming onto a link to an outside file must not copy that file in.
        symlinkSync(join(outside, 'victim.txt'), join(srv.dataDir, 'victim-link'));
        for (const [pre, cmd] of [[null, 'APPE victim-link'], ['REST 5', 'STOR victim-link'], [null, 'APPE passwd-link']] as const) {
          if (pre) assert.equal((await c.cmd(pre)).code, 350);
          const port = pasvPort(await c.cmd('PASV'));
          const data = await openData(port, '127.0.0.1', '127.0.0.1');
          const first = await c.cmd(cmd);
          if (first.code === 150) {
            data.socket.end('!');
            await data.done;
            await c.read();
          } else data.socket.destroy();
          const back = await passiveTransfer(c, `RETR ${cmd.split(' ')[1]}`);
          assert.doesNotMatch(back.data.toString(), /VICTIM-CONTENT|root:x?:?0/, `${pre ?? ''} ${cmd} copied an outside file into the root`);
          assert.equal(first.code, 550, `${cmd}: ${first.text}`);
        }
        assert.equal(readFileSync(join(outside, 'victim.txt'), 'utf8'), 'VICTIM-CONTENT-7f3a');
        // The listing of the root does not show links that lead out.
        const list = await passiveTransfer(c, 'LIST /');
        assert.equal(list.last?.code, 226);
        assert.doesNotMatch(list.data.toString(), /etc-link|passwd-link|out-link/);
        assert.doesNotMatch(list.data.toString(), /root:/);
        for (const cmd of ['NLST /', 'MLSD /', 'LIST *link*']) {
          const r = await passiveTransfer(c, cmd);
          assert.ok(r.first.code === 150 || r.first.code === 550, `${cmd}: ${r.first.text}`);
          assert.doesNotMatch(r.data.toString(), /etc-link|passwd-link|out-link|root:/, `${cmd} shows an escaping link`);
        }
        c.close();
      } finally {
        for (const l of ['etc-link', 'passwd-link', 'out-link', 'victim-link']) rmSync(join(srv.dataDir, l), { force: true });
      }
      assert.ok(existsSync(join(srv.dataDir, 'probe.bin')));
      await assertServes(srv);
    });

    test('a user with home /alice cannot reach /bob', async () => {
      mkdirSync(join(srv.dataDir, 'bob'), { recursive: true });
      writeFileSync(join(srv.dataDir, 'bob', 'secret.txt'), 'bob secret');
      const bob = await login(srv, BOB);
      const own = await passiveTransfer(bob, 'RETR secret.txt');
      assert.equal(own.data.toString(), 'bob secret', 'bob reads his own file');
      bob.close();

      const c = await login(srv, JAILED);
      assert.ok(existsSync(join(srv.dataDir, 'alice')), 'home created at login');
      for (const path of ['../bob/secret.txt', '/../bob/secret.txt', '/bob/secret.txt', '../../bob/secret.txt']) {
        const r = await passiveTransfer(c, `RETR ${path}`);
        assert.equal(r.first.code, 550, `RETR ${path}: ${r.first.text}`);
        assert.equal(r.data.length, 0);
      }
      assert.equal((await c.cmd('CWD ../bob')).code, 550);
      assert.equal((await c.cmd('CWD /bob')).code, 550);
      assert.equal((await c.cmd('CWD ..')).code, 250);
      assert.equal((await c.cmd('PWD')).text, '257 "/" is the current directory.');
      const list = await passiveTransfer(c, 'LIST -a ..');
      assert.equal(list.last?.code, 226);
      assert.doesNotMatch(list.data.toString(), /bob|secret|probe/, 'the jailed root lists only alice\'s home');
      const mkd = await c.cmd('MKD ../../x');
      assert.equal(mkd.code, 257);
      assert.ok(existsSync(join(srv.dataDir, 'alice', 'x')) && !existsSync(join(srv.dataDir, 'x')));
      assert.equal((await c.cmd('MKD /bob')).code, 257);
      assert.equal((await c.cmd('RNFR /x')).code, 350);
      assert.equal((await c.cmd('RNTO ../bob/x')).code, 250, 'renamed within the jail');
      assert.ok(existsSync(join(srv.dataDir, 'alice', 'bob', 'x')) && !existsSync(join(srv.dataDir, 'bob', 'x')));
      assert.equal((await c.cmd('DELE ../bob/secret.txt')).code, 550);
      assert.ok(existsSync(join(srv.dataDir, 'bob', 'secret.txt')));
      c.close();
      await assertServes(srv);
    });
  });

  describe('FTP bounce', () => {
    test('PORT/EPRT to another address or a privileged port: 504, no connection', async () => {
      const trap2 = await trap('127.0.0.2');
      const trap6 = await trap('::1');
      const own = await trap('127.0.0.1');
      try {
        const c = await login(srv);
        const refused = [
          `PORT ${portArg('127.0.0.2', trap2.port)}`,
          `EPRT |1|127.0.0.2|${trap2.port}|`,
          `EPRT |2|::1|${trap6.port}|`,
          `PORT ${portArg('127.0.0.1', 21)}`,
          `PORT ${portArg('127.0.0.1', 1023)}`,
          `EPRT |1|127.0.0.1|80|`,
          `EPRT |1|127.0.0.1|1|`,
        ];
        for (const cmd of refused) {
          const r = await c.cmd(cmd);
          assert.equal(r.code, 504, `${cmd}: ${r.text}`);
          // No data channel was set up, so nothing is connected to.
          const list = await c.cmd('LIST');
          assert.equal(list.code, 503, `LIST after ${cmd}: ${list.text}`);
        }
        // Foreign addresses outside loopback: refused before any connection
        // (no data command follows, so nothing could ever be sent there).
        for (const cmd of ['PORT 10,0,0,1,78,32', 'EPRT |1|10.0.0.1|20000|', 'PORT 192,168,1,1,0,80', 'EPRT |2|2001:db8::1|20000|']) {
          const r = await c.cmd(cmd);
          assert.equal(r.code, 504, `${cmd}: ${r.text}`);
        }
        assert.equal((await c.cmd('PORT 999,0,0,1,78,32')).code, 501);
        assert.equal((await c.cmd('EPRT |3|x|1|')).code, 522);
        assert.equal(trap2.hits() + trap6.hits(), 0, 'the server connected to a refused target');
        await srv.waitForLog((l) => l.msg === 'refused active connection to another address' && l.target === '10.0.0.1');
        await srv.waitForLog((l) => l.msg === 'refused active connection to a privileged port' && l.port === 21);

        // Control: PORT to the client's own address and an unprivileged port works,
        // so the trap would have seen a connection had the server made one.
        assert.equal((await c.cmd(`PORT ${portArg('127.0.0.1', own.port)}`)).code, 200);
        const list = await c.cmd('LIST');
        assert.equal(list.code, 150);
        assert.ok([226, 426].includes((await c.read()).code));
        assert.equal(own.hits(), 1);
        c.close();
      } finally {
        for (const t of [trap2, trap6, own]) t.server.close();
      }
      await assertServes(srv);
    });
  });

  describe('data port theft', () => {
    test('a passive connection from another address is refused; the client still gets its data', async () => {
      const c = await login(srv);
      const port = pasvPort(await c.cmd('PASV'));
      // The server waits for the data connection once RETR is sent.
      c.write('RETR /probe.bin\r\n');
      const thief = await openData(port, '127.0.0.1', '127.0.0.2');
      const stolen = await thief.done;
      assert.equal(stolen.length, 0, 'the thief got data');
      const warning = await srv.waitForLog((l) => l.msg === 'refused data connection from another address' && l.from === '127.0.0.2');
      assert.equal(warning.level, 40, 'logged as a warning');
      const legit = await openData(port, '127.0.0.1', '127.0.0.1');
      assert.equal((await c.read()).code, 150);
      const data = await legit.done;
      assert.equal((await c.read()).code, 226);
      assert.ok(data.equals(PROBE), 'the legitimate client got the file');
      // Same again with the thief first and the command after.
      const port2 = pasvPort(await c.cmd('PASV'));
      const thief2 = await openData(port2, '127.0.0.1', '127.0.0.2');
      assert.equal((await thief2.done).length, 0);
      const r = await passiveTransferOn(c, port2, 'RETR /probe.bin');
      assert.equal(r.last?.code, 226);
      assert.ok(r.data.equals(PROBE));
      c.close();
      await assertServes(srv);
    });
  });

  describe('malformed command lines', () => {
    test('a 10,000-byte line gets 500; the session goes on', async () => {
      const c = await login(srv);
      assert.equal((await c.cmd(`NOOP ${'x'.repeat(9995)}`)).code, 500);
      assert.equal((await c.cmd('NOOP')).code, 200);
      assert.equal((await c.cmd(`RETR ${'a'.repeat(9995)}`)).code, 500);
      // 200 KB in many pieces with no line end, then a line end.
      for (let i = 0; i < 20; i++) c.write('Z'.repeat(10_000));
      c.write('\r\n');
      assert.equal((await c.read()).code, 500);
      assert.equal((await c.cmd('NOOP')).code, 200);
      assert.equal((await c.cmd('PWD')).code, 257);
      c.close();
      await assertServes(srv);
    });

    test('NUL bytes get 500; the session goes on', async () => {
      const c = await login(srv);
      for (const line of ['RETR probe\0.bin', 'NO\0OP', '\0', 'CWD /\0/etc']) {
        assert.equal((await c.cmd(line)).code, 500, JSON.stringify(line));
        assert.equal((await c.cmd('NOOP')).code, 200);
      }
      assert.equal((await c.cmd('PWD')).text, '257 "/" is the current directory.');
      c.close();
      await assertServes(srv);
    });

    test('unknown commands, commands before login, out of sequence', async () => {
      const c = await RawClient.connect(srv.port);
      assert.equal((await c.read()).code, 220);
      for (const cmd of ['FOOBAR', 'XYZW', 'R3TR x', '!!!', 'LIST\x01']) assert.equal((await c.cmd(cmd)).code, 500, cmd);
      assert.equal((await c.cmd('SITE CHMOD 777 probe.bin')).code, 502);
      for (const cmd of ['LIST', 'RETR probe.bin', 'STOR x', 'PASV', 'EPSV', 'PORT 127,0,0,1,78,32', 'CWD /', 'MKD x', 'DELE probe.bin', 'RNFR probe.bin', 'SIZE probe.bin', 'PWD']) {
        assert.equal((await c.cmd(cmd)).code, 530, `${cmd} before login`);
      }
      assert.equal((await c.cmd('PASS alice-secret')).code, 503, 'PASS without USER');
      assert.equal((await c.cmd('USER alice')).code, 331);
      assert.equal((await c.cmd('PASS alice-secret')).code, 230);
      assert.equal((await c.cmd('RNTO y')).code, 503, 'RNTO without RNFR');
      assert.equal((await c.cmd('RNFR probe.bin')).code, 350);
      assert.equal((await c.cmd('NOOP')).code, 200);
      assert.equal((await c.cmd('RNTO y')).code, 503, 'RNTO not right after RNFR');
      assert.ok(existsSync(join(srv.dataDir, 'probe.bin')) && !existsSync(join(srv.dataDir, 'y')));
      assert.equal((await c.cmd('RETR probe.bin')).code, 503, 'RETR without PASV/PORT');
      assert.equal((await c.cmd('USER bob')).code, 503, 'USER while logged in');
      assert.equal((await c.cmd('PORT')).code, 501);
      assert.equal((await c.cmd('REST abc')).code, 501);
      assert.equal((await c.cmd('TYPE X')).code, 501);
      assert.equal((await c.cmd('NOOP')).code, 200);
      c.close();
      await assertServes(srv);
    });
  });

  describe('password guessing', () => {
    test('10 failures ban the address; other addresses still log in', async () => {
      const bansrv = await startServer({
        config: { limits: { failedLoginDelay: 0.01, defender: { enabled: true, threshold: 100, window: 300, banDuration: 900 } } },
      });
      writeFileSync(join(bansrv.dataDir, 'probe.bin'), PROBE);
      try {
        const codes: number[] = [];
        let c: RawClient | null = null;
        for (let attempt = 0; attempt < 50; attempt++) {
          if (!c || c.closed) {
            c?.close();
            c = await RawClient.connect(bansrv.port, '127.0.0.1');
            const greeting = await c.read();
            if (greeting.code !== 220) {
              codes.push(greeting.code);
              c.close();
              c = null;
              continue;
            }
          }
          const u = await c.cmd('USER alice');
          if (u.code !== 331) {
            codes.push(u.code);
            continue;
          }
          const p = await c.cmd(`PASS wrong-${attempt}`);
          codes.push(p.code);
          if (p.code === 421) {
            // One reply per command: the 421 that bans, then the connection closes.
            assert.match(p.text, /too many failed logins/i);
            const next: RawReply = await c.read();
            assert.equal(next.code, -1, `closed after the 421, got: ${next.text}`);
          }
        }
        c?.close();
        assert.deepEqual(codes, [...Array(9).fill(530), ...Array(41).fill(421)]);
        const ban = await bansrv.waitForLog((l) => l.msg === 'address banned' && l.client === '127.0.0.1');
        assert.deepEqual([ban.reasons, ban.durationSec], [{ failedLogin: 10 }, 900]);
        // Even the right password cannot be tried from the banned address.
        const again = await RawClient.connect(bansrv.port, '127.0.0.1');
        assert.equal((await again.read()).code, 421);
        again.close();
        // Another address is not affected.
        await assertServes(bansrv, '127.0.0.2');
      } finally {
        await bansrv.stop();
      }
    });
  });

  describe('connection flood', () => {
    test('500 connections from one address: the excess get 421; others still served', async () => {
      const flood = await startServer({ config: { limits: { maxSessionsPerAddress: 50 } } });
      writeFileSync(join(flood.dataDir, 'probe.bin'), PROBE);
      const clients: RawClient[] = [];
      try {
        const results = await Promise.all(
          Array.from({ length: 500 }, async () => {
            const c = await RawClient.connect(flood.port, '127.0.0.1');
            clients.push(c);
            return { c, code: (await c.read(30_000)).code };
          }),
        );
        const inside = results.filter((r) => r.code === 220).map((r) => r.c);
        assert.equal(inside.length, 50);
        assert.equal(results.filter((r) => r.code === 421).length, 450);
        // The refused ones are closed; the ones that got in still work.
        for (const r of results.filter((x) => x.code === 421)) assert.equal((await r.c.read()).code, -1);
        for (const c of inside.slice(0, 5)) assert.equal((await c.cmd('NOOP')).code, 200);
        assert.equal((await inside[1]!.cmd('USER alice')).code, 331);
        assert.equal((await inside[1]!.cmd('PASS alice-secret')).code, 230);
        // Another address is served.
        await assertServes(flood, '127.0.0.2');
        // Once they are gone, 127.0.0.1 gets in again.
        for (const c of clients) c.close();
        const ok = await eventually(async () => {
          const c = await RawClient.connect(flood.port, '127.0.0.1');
          const code = (await c.read()).code;
          c.close();
          return code === 220;
        });
        assert.ok(ok, '127.0.0.1 can connect again after closing its sessions');
        await assertServes(flood);
      } finally {
        for (const c of clients) c.close();
        await flood.stop();
      }
    });
  });

  describe('timeouts', () => {
    test('login timeout: 421 and close', async () => {
      const t = await startServer({ config: { limits: { loginTimeout: 1 } } });
      writeFileSync(join(t.dataDir, 'probe.bin'), PROBE);
      try {
        const c = await RawClient.connect(t.port);
        assert.equal((await c.read()).code, 220);
        assert.equal((await c.cmd('USER alice')).code, 331);
        const r = await c.read(20_000);
        assert.equal(r.code, 421);
        assert.match(r.text, /login timeout/i);
        assert.equal((await c.read()).code, -1, 'closed');
        c.close();
        await assertServes(t);
      } finally {
        await t.stop();
      }
    });

    test('idle timeout: 421 and close', async () => {
      const t = await startServer({ config: { limits: { idleTimeout: 1 } } });
      writeFileSync(join(t.dataDir, 'probe.bin'), PROBE);
      try {
        const c = await login(t);
        const r = await c.read(20_000);
        assert.equal(r.code, 421);
        assert.match(r.text, /idle timeout/i);
        assert.equal((await c.read()).code, -1, 'closed');
        c.close();
        await assertServes(t);
      } finally {
        await t.stop();
      }
    });
  });
});
