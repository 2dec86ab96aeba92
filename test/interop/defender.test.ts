/**
 * Hostile clients against a real ftpfleet process: password guessing, bad
 * command spam, deny and allow lists, half-sent command lines, the cap on
 * sessions that have not logged in, and a connection flood during a transfer.
 * Replies, counts and outcomes are asserted, never durations.
 *
 * Only loopback is ever contacted: 127.0.0.0/8 and ::1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';
import { RawClient, type RawReply } from '../helpers/rawClient.js';
import { makeRandomFile, sha256File } from '../helpers/clients.js';

const MiB = 1024 * 1024;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Waits (up to `ms`) until `fn` returns a value; log lines arrive a little after the replies. */
async function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v || undefined;
    await sleep(25);
  }
}

function pasvPort(r: RawReply): number {
  assert.equal(r.code, 227, r.text);
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r.text)!;
  return Number(m[5]) * 256 + Number(m[6]);
}

function openData(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function login(srv: TestServer, localAddress: string): Promise<RawClient> {
  const c = await RawClient.connect(srv.port, '127.0.0.1', localAddress);
  await c.login(ALICE.name, ALICE.password);
  assert.equal((await c.cmd('TYPE I')).code, 200);
  return c;
}

/** RETR over PASV from the control connection's own address: the bytes received. */
async function download(c: RawClient, path: string): Promise<Buffer> {
  const data = await openData(pasvPort(await c.cmd('PASV')), c.socket.localAddress!);
  const chunks: Buffer[] = [];
  data.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise((r) => data.on('close', r));
  const first = await c.cmd(`RETR ${path}`);
  assert.equal(first.code, 150, first.text);
  await closed;
  const last = await c.read(60_000);
  assert.equal(last.code, 226, last.text);
  return Buffer.concat(chunks);
}

/** STOR over PASV of a local file. */
async function upload(c: RawClient, file: string, path: string): Promise<void> {
  const data = await openData(pasvPort(await c.cmd('PASV')), c.socket.localAddress!);
  const first = await c.cmd(`STOR ${path}`);
  assert.equal(first.code, 150, first.text);
  await pipeline(createReadStream(file), data);
  const last = await c.read(60_000);
  assert.equal(last.code, 226, last.text);
}


describe('defender and hostile clients', { timeout: 120_000 }, () => {
  describe('password guessing', () => {
    let srv: TestServer;
    let bigSha: string;

    before(async () => {
      // Short bans, so one test sees a ban run out and a repeat offence banned for longer.
      srv = await startServer({
        config: { limits: { failedLoginDelay: 0.05, defender: { threshold: 100, window: 300, banDuration: 1, maxBanDuration: 4 } } },
      });
      makeRandomFile(join(srv.dataDir, 'big.bin'), 4 * MiB);
      bigSha = await sha256File(join(srv.dataDir, 'big.bin'));
    });
    after(() => srv?.stop());

    test('100 bad passwords from 127.0.0.1: banned after the 10th, longer on repeats; 127.0.0.3 logs in and downloads meanwhile', async (t) => {
      type Outcome = 'pass-530' | 'pass-421' | 'connect-421';
      const outcomes: Outcome[] = [];
      let attackerDone = false;

      const attacker = async () => {
        let c: RawClient | null = null;
        try {
          for (let attempt = 0; attempt < 100; attempt++) {
            if (!c || c.closed) {
              c?.close();
              c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.1');
              const greeting = await c.read();
              if (greeting.code === 421) {
                assert.match(greeting.text, /banned/i);
                outcomes.push('connect-421');
                c.close();
                c = null;
                await sleep(100); // an attacker that keeps knocking, not a busy loop
                continue;
              }
              assert.equal(greeting.code, 220, greeting.text);
            }
            assert.equal((await c.cmd('USER alice')).code, 331);
            const p = await c.cmd(`PASS wrong-${attempt}`);
            assert.ok(p.code === 530 || p.code === 421, p.text);
            outcomes.push(p.code === 530 ? 'pass-530' : 'pass-421');
            if (p.code === 421) {
              assert.match(p.text, /too many failed logins/i);
              assert.equal((await c.read()).code, -1, 'closed after the 421');
            }
          }
        } finally {
          c?.close();
          attackerDone = true;
        }
      };

      // Meanwhile: fresh logins and downloads from another address, until the attack ends.
      const downloads: string[] = [];
      const bystander = async () => {
        do {
          const c = await login(srv, '127.0.0.3');
          downloads.push(sha256(await download(c, 'big.bin')));
          assert.equal((await c.cmd('QUIT')).code, 221);
          c.close();
          await sleep(200); // a device's next upload round, not a busy loop
        } while (!attackerDone);
      };

      await Promise.all([attacker(), bystander()]);

      assert.equal(outcomes.length, 100);
      const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
      // The first nine passwords get 530, the tenth bans (421 and close).
      assert.deepEqual(outcomes.slice(0, 10), [...Array(9).fill('pass-530'), 'pass-421']);
      // After each ban: refused at connect until it runs out, then nine more 530s and a ban again.
      const runs = outcomes.join(' ').split('pass-421').map((s) => s.trim().split(/\s+/).filter(Boolean));
      for (const [i, run] of runs.slice(1, -1).entries()) {
        const fails = run.filter((o) => o === 'pass-530').length;
        assert.equal(fails, 9, `run ${i + 1} between bans: ${run.join(' ')}`);
        assert.ok(run.indexOf('pass-530') > run.lastIndexOf('connect-421'), 'refused only while banned');
      }
      const bans = await eventually(() => {
        const b = srv.logs.filter((l) => l.msg === 'address banned' && l.client === '127.0.0.1');
        return b.length === count('pass-421') && b;
      });
      assert.ok(bans, 'each ban logged');
      assert.ok(bans.length >= 2, `a repeat offence was banned (bans: ${bans.length})`);
      assert.deepEqual(
        bans.map((b) => b.durationSec),
        bans.map((_, i) => Math.min(2 ** i, 4)),
        'each repeat doubles the ban, up to maxBanDuration',
      );
      for (const b of bans) assert.deepEqual([b.reasons, b.score, b.level], [{ failedLogin: 10 }, 100, 40]);
      const unbans = srv.logs.filter((l) => l.msg === 'address unbanned' && l.client === '127.0.0.1');
      assert.ok(unbans.length >= bans.length - 1, 'bans that ran out were logged as lifted');
      const refusedAtConnect = srv.logs.filter((l) => l.msg === 'connection refused' && l.why === 'banned' && l.client === '127.0.0.1');
      assert.equal(refusedAtConnect.length, count('connect-421'));

      // The other address was never refused, and every download arrived intact.
      assert.ok(downloads.length >= 1);
      assert.deepEqual(downloads, downloads.map(() => bigSha));
      assert.equal(srv.logs.filter((l) => l.client === '127.0.0.3' && (l.msg === 'connection refused' || l.msg === 'address banned')).length, 0);

      const firstBanAt = outcomes.indexOf('pass-421') + 1;
      t.diagnostic(
        `100 bad passwords from 127.0.0.1: ${count('pass-530')} x 530, ${count('pass-421')} x 421 at PASS (banning), ` +
          `${count('connect-421')} x 421 at connect; first ban at attempt ${firstBanAt}; ` +
          `bans logged: ${bans.map((b) => `${b.durationSec}s`).join(', ')}; unbans logged: ${unbans.length}; ` +
          `sequence: ${runLengths(outcomes)}`,
      );
      t.diagnostic(`127.0.0.3 meanwhile: ${downloads.length} logins + downloads of 4 MiB, all sha256 ${bigSha.slice(0, 16)}…, none refused`);
    });
  });

  describe('bad commands, deny and allow lists', () => {
    let srv: TestServer;

    before(async () => {
      srv = await startServer({
        config: { limits: { failedLoginDelay: 0.01, defender: { deny: ['127.0.0.5'], allow: ['127.0.0.6'] } } },
      });
    });
    after(() => srv?.stop());

    test('unknown commands after login: 24 x 500, the 25th bans (421, close); the address is refused at connect', async () => {
      const c = await login(srv, '127.0.0.7');
      const codes: number[] = [];
      for (let i = 0; i < 30 && !c.closed; i++) {
        const r = await c.cmd('XYZZ');
        if (r.code === -1) break;
        codes.push(r.code);
      }
      assert.deepEqual(codes, [...Array(24).fill(500), 421]);
      const again = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.7');
      assert.equal((await again.read()).code, 421);
      assert.deepEqual(await again.untilClosed(), []);
      const ban = await srv.waitForLog((l) => l.msg === 'address banned' && l.client === '127.0.0.7');
      assert.deepEqual([ban.reasons, ban.durationSec], [{ badCommand: 25 }, 900]);
      // Another address is not affected.
      const other = await login(srv, '127.0.0.1');
      assert.equal((await other.cmd('NOOP')).code, 200);
      other.close();
    });

    test('bad arguments (501), NUL bytes and commands before login count too', async () => {
      // 501s, as bad commands (4 points each).
      const a = await login(srv, '127.0.0.8');
      const codes: number[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await a.cmd(i % 2 ? 'TYPE X' : 'PORT');
        if (r.code === -1) break;
        codes.push(r.code);
      }
      assert.deepEqual(codes, [...Array(24).fill(501), 421]);
      // NUL bytes, as protocol abuse (10 points each): the tenth bans.
      const b = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.9');
      await b.login(ALICE.name, ALICE.password);
      const nul: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await b.cmd('NO\0OP');
        if (r.code === -1) break;
        nul.push(r.code);
      }
      assert.deepEqual(nul, [...Array(9).fill(500), 421]);
      // Before login: ten commands are free, each further one is abuse; the tenth of those bans.
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.10');
      assert.equal((await c.read()).code, 220);
      const feat: number[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await c.cmd('FEAT');
        if (r.code === -1) break;
        feat.push(r.code);
      }
      assert.deepEqual(feat, [...Array(19).fill(211), 421]);
      const reasons = await eventually(() => {
        const found = ['127.0.0.8', '127.0.0.9', '127.0.0.10'].map((client) => srv.logs.find((l) => l.msg === 'address banned' && l.client === client)?.reasons);
        return found.every(Boolean) && found;
      });
      assert.deepEqual(reasons, [{ badCommand: 25 }, { protocolAbuse: 10 }, { protocolAbuse: 10 }]);
    });

    test('a deny-listed address is refused at connect', async () => {
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.5');
      const r = await c.read();
      assert.equal(r.code, 421);
      assert.match(r.text, /denied/i);
      assert.deepEqual(await c.untilClosed(), []);
      await srv.waitForLog((l) => l.msg === 'connection refused' && l.why === 'denied' && l.client === '127.0.0.5');
      const ok = await login(srv, '127.0.0.1');
      ok.close();
    });

    test('an allow-listed address is never banned, however many failures', async () => {
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.6');
      assert.equal((await c.read()).code, 220);
      const codes = new Map<number, number>();
      for (let i = 0; i < 30; i++) {
        assert.equal((await c.cmd('USER alice')).code, 331);
        const r = await c.cmd(`PASS wrong-${i}`);
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      }
      for (let i = 0; i < 30; i++) {
        const r = await c.cmd('XYZZ');
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      }
      assert.deepEqual([...codes], [[530, 30], [500, 30]]);
      assert.equal((await c.cmd('USER alice')).code, 331);
      assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 230);
      c.close();
      const spared = await srv.waitForLog((l) => l.msg === 'allow-listed address over the ban threshold; not banned' && l.client === '127.0.0.6');
      assert.equal(spared.score, 100);
      assert.ok(!srv.logs.some((l) => l.msg === 'address banned' && l.client === '127.0.0.6'));
      const again = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.6');
      assert.equal((await again.read()).code, 220);
      again.close();
    });
  });

  describe('forgiveness, FTP bounce, foreign data connections and metrics', () => {
    const BOB = { name: 'bob', password: 'bob-secret' };
    let srv: TestServer;

    before(async () => {
      // A foreign data connection scores half the threshold: the second one bans.
      srv = await startServer({
        users: [ALICE, BOB],
        config: {
          anonymous: { enabled: true },
          limits: { failedLoginDelay: 0.01, defender: { scores: { foreignDataConnection: 50 } } },
        },
      });
    });
    after(() => srv?.stop());

    /** USER + PASS on an open session: the PASS reply. */
    async function tryLogin(c: RawClient, user: string, password: string): Promise<RawReply> {
      const u = await c.cmd(`USER ${user}`);
      if (u.code !== 331) return u;
      return c.cmd(`PASS ${password}`);
    }

    async function banOf(client: string): Promise<Record<string, any>> {
      return srv.waitForLog((l) => l.msg === 'address banned' && l.client === client);
    }

    test('anonymous logins between bad passwords for alice forgive nothing: the 10th bad password bans', async () => {
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.12');
      assert.equal((await c.read()).code, 220);
      const codes: number[] = [];
      for (let i = 0; i < 30 && !c.closed; i++) {
        const anon = await tryLogin(c, 'anonymous', 'guest@example.com');
        assert.equal(anon.code, 230, anon.text);
        assert.equal((await c.cmd('REIN')).code, 220);
        const p = await tryLogin(c, ALICE.name, `guess-${i}`);
        codes.push(p.code);
        if (p.code === 421) break;
      }
      assert.deepEqual(codes, [...Array(9).fill(530), 421]);
      assert.deepEqual((await banOf('127.0.0.12')).reasons, { failedLogin: 10 });
      const again = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.12');
      assert.equal((await again.read()).code, 421);
      again.close();
      c.close();
    });

    test("a login as alice forgives her own mistyped passwords, never guesses at bob's", async () => {
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.13');
      assert.equal((await c.read()).code, 220);
      // 9 typos, the right password, 9 typos again: never banned (18 failures in the window).
      for (const round of [1, 2]) {
        for (let i = 0; i < 9; i++) assert.equal((await tryLogin(c, ALICE.name, `typo-${round}-${i}`)).code, 530);
        assert.equal((await tryLogin(c, ALICE.name, ALICE.password)).code, 230, `round ${round}`);
        assert.equal((await c.cmd('REIN')).code, 220);
      }
      // Guesses at bob, each followed by a good login as alice: the 10th bans.
      const codes: number[] = [];
      for (let i = 0; i < 30; i++) {
        const p = await tryLogin(c, BOB.name, `guess-${i}`);
        codes.push(p.code);
        if (p.code === 421) break;
        assert.equal((await tryLogin(c, ALICE.name, ALICE.password)).code, 230);
        assert.equal((await c.cmd('REIN')).code, 220);
      }
      assert.deepEqual(codes, [...Array(9).fill(530), 421]);
      assert.deepEqual((await banOf('127.0.0.13')).reasons, { failedLogin: 10 });
      c.close();
    });

    test('PORT/EPRT to another address or a privileged port is scored as protocol abuse: the 10th bans', async () => {
      const c = await login(srv, '127.0.0.14');
      const bounces = ['PORT 127,0,0,2,78,32', 'EPRT |1|127.0.0.2|20000|', 'PORT 127,0,0,14,0,21', 'EPRT |1|127.0.0.14|80|'];
      const codes: number[] = [];
      for (let i = 0; i < 30 && !c.closed; i++) {
        const r = await c.cmd(bounces[i % bounces.length]!);
        if (r.code === -1) break;
        codes.push(r.code);
      }
      assert.deepEqual(codes, [...Array(9).fill(504), 421]);
      assert.deepEqual((await banOf('127.0.0.14')).reasons, { protocolAbuse: 10 });
      const again = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.14');
      assert.equal((await again.read()).code, 421);
      again.close();
      // The client's own address on an unprivileged port is no offence.
      const ok = await login(srv, '127.0.0.15');
      for (let i = 0; i < 15; i++) assert.equal((await ok.cmd('PORT 127,0,0,15,78,32')).code, 200);
      assert.equal((await ok.cmd('NOOP')).code, 200);
      ok.close();
    });

    test('connections to a passive port from a foreign address are scored and ban that address', async () => {
      writeFileSync(join(srv.dataDir, 'mine.txt'), 'for 127.0.0.1 only');
      const c = await login(srv, '127.0.0.1');
      const port = pasvPort(await c.cmd('PASV'));
      for (let i = 1; i <= 2; i++) {
        const thief = await openData(port, '127.0.0.2');
        thief.on('error', () => {});
        await new Promise((r) => thief.once('close', r));
        await eventually(() => srv.logs.filter((l) => l.msg === 'refused data connection from another address' && l.from === '127.0.0.2').length === i);
      }
      assert.deepEqual((await banOf('127.0.0.2')).reasons, { foreignDataConnection: 2 });
      const banned = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.2');
      assert.equal((await banned.read()).code, 421);
      banned.close();
      // The session whose port it was still gets its file.
      const data = await openData(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      data.on('data', (d: Buffer) => chunks.push(d));
      const closed = new Promise((r) => data.once('close', r));
      assert.equal((await c.cmd('RETR mine.txt')).code, 150);
      await closed;
      assert.equal((await c.read()).code, 226);
      assert.equal(Buffer.concat(chunks).toString(), 'for 127.0.0.1 only');
      c.close();
    });

    test('a ban shows on /metrics: ftpfleet_banned_addresses and ftpfleet_bans_total go up', async () => {
      const ops = await srv.waitForLog((l) => l.msg === 'ops listening');
      const scrape = async () => {
        const res = await fetch(`http://127.0.0.1:${ops.port}/metrics`);
        assert.equal(res.status, 200);
        return parseMetrics(await res.text());
      };
      const before = await scrape();
      const c = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.16');
      assert.equal((await c.read()).code, 220);
      for (let i = 0; i < 10; i++) await tryLogin(c, BOB.name, `guess-${i}`);
      c.close();
      await banOf('127.0.0.16');
      const after = await scrape();
      assert.equal(after.get('ftpfleet_banned_addresses'), before.get('ftpfleet_banned_addresses')! + 1);
      assert.equal(after.get('ftpfleet_bans_total'), before.get('ftpfleet_bans_total')! + 1);
      assert.equal(after.get('ftpfleet_offences_total{kind="failedLogin"}'), before.get('ftpfleet_offences_total{kind="failedLogin"}')! + 10);
    });
  });

  describe('slow clients and unauthenticated sessions', () => {
    let srv: TestServer;

    before(async () => {
      srv = await startServer({
        config: { limits: { commandLineTimeout: 1, loginTimeout: 60, idleTimeout: 60, maxUnauthenticated: 3 } },
      });
    });
    after(() => srv?.stop());

    test('a command line left half-sent gets 421 and the connection closes', async () => {
      // A line sent in pieces is fine.
      const ok = await RawClient.connect(srv.port);
      assert.equal((await ok.read()).code, 220);
      ok.write('USER al');
      await sleep(50);
      ok.write('ice\r\n');
      assert.equal((await ok.read()).code, 331);
      ok.close();
      // Half a line, then nothing.
      const c = await RawClient.connect(srv.port);
      assert.equal((await c.read()).code, 220);
      c.write('USER ali');
      const r = await c.read(30_000);
      assert.equal(r.code, 421);
      assert.match(r.text, /not completed/i);
      assert.deepEqual(await c.untilClosed(), []);
      // A logged-in client trickling one byte at a time, never ending the line.
      const slow = await login(srv, '127.0.0.1');
      let cut: RawReply | null = null;
      const reading = slow.read(30_000).then((x) => (cut = x));
      for (let i = 0; i < 200 && !cut && !slow.closed; i++) {
        slow.write('N');
        await sleep(100);
      }
      assert.equal((await reading).code, 421, 'the trickling client was cut off');
      assert.deepEqual(await slow.untilClosed(), []);
      assert.equal(srv.logs.filter((l) => l.msg === 'closing session' && l.why === 'command line timeout').length, 2);
    });

    test('past maxUnauthenticated, new connections get 421; a login makes room', async () => {
      const waiting = await eventually(async () => {
        // Earlier sessions may still be closing.
        const cs = await Promise.all([1, 2, 3].map(() => RawClient.connect(srv.port)));
        const codes = await Promise.all(cs.map((c) => c.read()));
        if (codes.every((r) => r.code === 220)) return cs;
        for (const c of cs) c.close();
        return undefined;
      });
      assert.ok(waiting, 'three sessions admitted');
      const extra = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.2');
      const refused = await extra.read();
      assert.equal(refused.code, 421);
      assert.match(refused.text, /waiting to log in/i);
      assert.deepEqual(await extra.untilClosed(), []);
      // One of the three logs in: a new connection is admitted again.
      assert.equal((await waiting[0]!.cmd('USER alice')).code, 331);
      assert.equal((await waiting[0]!.cmd(`PASS ${ALICE.password}`)).code, 230);
      const next = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.2');
      assert.equal((await next.read()).code, 220);
      assert.equal((await next.cmd('QUIT')).code, 221);
      // REIN makes a session unauthenticated again: the cap is reached again.
      assert.equal((await waiting[0]!.cmd('REIN')).code, 220);
      const over = await RawClient.connect(srv.port);
      assert.equal((await over.read()).code, 421);
      for (const c of [...waiting, next, over]) c.close();
      await srv.waitForLog((l) => l.msg === 'connection refused' && l.why === 'max unauthenticated');
    });
  });

  describe('connection flood', () => {
    let srv: TestServer;
    let dir: string;

    before(async () => {
      srv = await startServer({ config: { limits: { maxUnauthenticated: 100, maxSessionsPerAddress: 50 } }, pasvSize: 20 });
      dir = srv.dir;
    });
    after(() => srv?.stop());

    test('300 connections while a logged-in client uploads and downloads 20 MiB: the excess get 421, the transfer succeeds', async (t) => {
      const file = join(dir, 'upload-20m.bin');
      makeRandomFile(file, 20 * MiB);
      const want = await sha256File(file);
      const c = await login(srv, '127.0.0.3');

      let transferDone = false;
      const transfer = (async () => {
        try {
          await upload(c, file, 'flood.bin');
          const stored = await sha256File(join(srv.dataDir, 'flood.bin'));
          const back = sha256(await download(c, 'flood.bin'));
          return { stored, back };
        } finally {
          transferDone = true;
        }
      })();

      // 50 connections from each of 127.0.0.20-25, all at once; each holds its
      // session until the transfer is over and every greeting is in (or the
      // server closes it), then leaves.
      let greeted = 0;
      const flood = Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const fc = await RawClient.connect(srv.port, '127.0.0.1', `127.0.0.${20 + (i % 6)}`);
          const greeting = await fc.read(30_000);
          greeted++;
          while (greeting.code === 220 && (!transferDone || greeted < 300) && !fc.closed) await sleep(50);
          fc.close();
          return greeting.code;
        }),
      );

      const [result, codes] = await Promise.all([transfer, flood]);
      assert.equal(result.stored, want, 'upload stored intact');
      assert.equal(result.back, want, 'download intact');
      const admitted = codes.filter((x) => x === 220).length;
      const refused = codes.filter((x) => x === 421).length;
      assert.equal(admitted + refused, 300);
      assert.equal(admitted, 100, 'exactly maxUnauthenticated admitted');
      assert.equal((await c.cmd('NOOP')).code, 200, 'the logged-in session is still there');
      assert.equal((await c.cmd('QUIT')).code, 221);
      c.close();
      // Once the flood has gone, its addresses get in again.
      const back = await eventually(async () => {
        const x = await RawClient.connect(srv.port, '127.0.0.1', '127.0.0.20');
        const code = (await x.read()).code;
        x.close();
        return code === 220;
      });
      assert.ok(back, 'a flooding address is admitted again once the flood is over');
      t.diagnostic(`flood: ${admitted} admitted, ${refused} refused with 421; 20 MiB up and down intact (sha256 ${want.slice(0, 16)}…)`);
    });
  });
});

/** Prometheus text: sample name with its labels other than `node` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').split(',').filter((l) => l && !l.startsWith('node='));
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1]!, Number(m[3]));
  }
  return out;
}

/** "9 x pass-530, 1 x pass-421, ..." */
function runLengths(items: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < items.length; ) {
    let j = i;
    while (j < items.length && items[j] === items[i]) j++;
    out.push(`${j - i} x ${items[i]}`);
    i = j;
  }
  return out.join(', ');
}
