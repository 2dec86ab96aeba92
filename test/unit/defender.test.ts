import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Defender, type DefenderPolicy } from '../../src/net/defender.js';

const SEC = 1000;

interface Line {
  level: 'warn' | 'info';
  obj: Record<string, any>;
  msg: string;
}

function setup(over: Partial<DefenderPolicy> = {}) {
  let now = 1_000_000;
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const lines: Line[] = [];
  const log = {
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
  };
  const policy: DefenderPolicy = {
    enabled: true,
    threshold: 100,
    windowMs: 100 * SEC,
    scores: { failedLogin: 10, badCommand: 4, protocolAbuse: 10, foreignDataConnection: 25 },
    banMs: 60 * SEC,
    maxBanMs: 300 * SEC,
    repeatWindowMs: 3600 * SEC,
    allow: [],
    deny: [],
    ...over,
  };
  return { d: new Defender(policy, log, clock.now), clock, lines };
}

/** Records `n` offences; returns the 1-based index of the one that banned (0 if none). */
function offend(d: Defender, address: string, kind: Parameters<Defender['record']>[1], n: number): number {
  for (let i = 1; i <= n; i++) if (d.record(address, kind).banned) return i;
  return 0;
}

describe('Defender: scoring', () => {
  it('bans on the offence that reaches the threshold, not before', () => {
    const { d } = setup();
    for (let i = 1; i < 10; i++) {
      assert.equal(d.record('10.0.0.1', 'failedLogin').banned, false, `failure ${i}`);
      assert.equal(d.isBanned('10.0.0.1'), false);
    }
    assert.equal(d.score('10.0.0.1'), 90);
    assert.equal(d.record('10.0.0.1', 'failedLogin').banned, true);
    assert.equal(d.isBanned('10.0.0.1'), true);
    assert.equal(d.admit('10.0.0.1'), 'banned');
  });

  it('weighs each kind of offence by its score', () => {
    const { d } = setup();
    assert.equal(offend(d, '10.0.0.1', 'badCommand', 100), 25);
    assert.equal(offend(d, '10.0.0.2', 'protocolAbuse', 100), 10);
    assert.equal(offend(d, '10.0.0.3', 'foreignDataConnection', 100), 4);
    // Mixed: 5 failed logins (50) + 5 bad commands (20) + 2 abuses (20) = 90, then one more abuse.
    offend(d, '10.0.0.4', 'failedLogin', 5);
    offend(d, '10.0.0.4', 'badCommand', 5);
    offend(d, '10.0.0.4', 'protocolAbuse', 2);
    assert.equal(d.isBanned('10.0.0.4'), false);
    assert.equal(d.record('10.0.0.4', 'protocolAbuse').banned, true);
  });

  it('ignores offences whose score is 0', () => {
    const { d } = setup({ scores: { failedLogin: 10, badCommand: 0, protocolAbuse: 10, foreignDataConnection: 25 } });
    assert.equal(offend(d, '10.0.0.1', 'badCommand', 1000), 0);
    assert.equal(d.score('10.0.0.1'), 0);
    assert.equal(d.counters.offences.badCommand, 1000, 'still counted');
  });

  it('scores addresses separately', () => {
    const { d } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 9);
    assert.equal(d.record('10.0.0.2', 'failedLogin').banned, false);
    assert.equal(d.record('10.0.0.1', 'failedLogin').banned, true);
    assert.equal(d.isBanned('10.0.0.2'), false);
  });

  it('forgets each offence one window after it', () => {
    const { d, clock } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 5); // t=0: 50
    clock.advance(60 * SEC);
    offend(d, '10.0.0.1', 'failedLogin', 4); // t=60: 90
    clock.advance(40 * SEC - 1);
    assert.equal(d.score('10.0.0.1'), 90);
    clock.advance(1); // t=100: the first five expire
    assert.equal(d.score('10.0.0.1'), 40);
    assert.equal(offend(d, '10.0.0.1', 'failedLogin', 5), 0); // 90
    assert.equal(d.record('10.0.0.1', 'failedLogin').banned, true);
  });

  it('forgets a score entirely after one window', () => {
    const { d, clock } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 9);
    clock.advance(100 * SEC);
    assert.equal(d.score('10.0.0.1'), 0);
    assert.equal(offend(d, '10.0.0.1', 'failedLogin', 9), 0);
    assert.equal(d.isBanned('10.0.0.1'), false);
  });

  it('a slow attacker with fewer than threshold points in any window is never banned', () => {
    const { d, clock } = setup();
    // One failure every 12 s: at most 9 within any 100 s.
    for (let i = 0; i < 500; i++) {
      assert.equal(d.record('10.0.0.1', 'failedLogin').banned, false, `failure ${i}`);
      clock.advance(12 * SEC);
    }
    // Every 11 s: the tenth within 100 s bans.
    assert.equal(offend(d, '10.0.0.2', 'failedLogin', 1), 0);
    let n = 1;
    while (!d.isBanned('10.0.0.2') && n < 100) {
      clock.advance(11 * SEC);
      d.record('10.0.0.2', 'failedLogin');
      n++;
    }
    assert.equal(n, 10);
  });

  it("a successful login forgives that user's failed logins, not other offences", () => {
    const { d } = setup();
    for (let i = 0; i < 5; i++) d.record('10.0.0.1', 'failedLogin', 'alice'); // 50
    offend(d, '10.0.0.1', 'badCommand', 5); // 20
    d.forgive('10.0.0.1', 'alice');
    assert.equal(d.score('10.0.0.1'), 20);
    assert.equal(offend(d, '10.0.0.1', 'failedLogin', 20), 8);
    d.forgive('10.0.0.9', 'alice'); // nothing recorded: no effect
    assert.equal(d.score('10.0.0.9'), 0);
  });

  it("logging in as one user forgives nothing of guessing another's password", () => {
    const { d } = setup();
    // Guesses at bob, each followed by a good login as alice: every guess still counts.
    let banned = 0;
    for (let i = 1; i <= 20 && !banned; i++) {
      if (d.record('10.0.0.1', 'failedLogin', 'bob').banned) banned = i;
      d.forgive('10.0.0.1', 'alice');
    }
    assert.equal(banned, 10);
    // Failures with no name recorded are not forgiven by any login either.
    offend(d, '10.0.0.2', 'failedLogin', 9);
    d.forgive('10.0.0.2', 'alice');
    assert.equal(d.score('10.0.0.2'), 90);
  });

  it('forgives only the failed logins of the exact name that logged in', () => {
    const { d } = setup();
    for (let i = 0; i < 4; i++) d.record('10.0.0.1', 'failedLogin', 'alice');
    for (let i = 0; i < 3; i++) d.record('10.0.0.1', 'failedLogin', 'Alice');
    d.record('10.0.0.1', 'failedLogin', 'bob');
    d.forgive('10.0.0.1', 'alice');
    assert.equal(d.score('10.0.0.1'), 40, "Alice's and bob's failures stand");
    d.forgive('10.0.0.1', 'bob');
    assert.equal(d.score('10.0.0.1'), 30);
  });

  it('never bans when disabled, but still counts', () => {
    const { d } = setup({ enabled: false });
    assert.equal(offend(d, '10.0.0.1', 'failedLogin', 100), 0);
    assert.equal(d.isBanned('10.0.0.1'), false);
    assert.equal(d.counters.offences.failedLogin, 100);
    assert.equal(d.counters.bans, 0);
  });

  it('treats an IPv4-mapped IPv6 address as its IPv4 form, and bans IPv6 addresses', () => {
    const { d } = setup();
    offend(d, '::ffff:10.0.0.9', 'failedLogin', 5);
    offend(d, '10.0.0.9', 'failedLogin', 4);
    assert.equal(d.record('::FFFF:10.0.0.9', 'failedLogin').banned, true);
    assert.equal(d.isBanned('10.0.0.9'), true);
    assert.equal(d.isBanned('::ffff:10.0.0.9'), true);
    assert.equal(offend(d, '2001:db8::42', 'protocolAbuse', 10), 10);
    assert.equal(d.isBanned('2001:db8::42'), true);
    assert.equal(d.isBanned('2001:db8::43'), false);
  });
});

describe('Defender: bans', () => {
  it('a ban ends after its duration and is logged when lifted', () => {
    const { d, clock, lines } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    const banned = lines.find((l) => l.msg === 'address banned')!;
    assert.equal(banned.level, 'warn');
    assert.deepEqual(banned.obj, { client: '10.0.0.1', score: 100, reasons: { failedLogin: 10 }, durationSec: 60, repeat: 1 });
    clock.advance(60 * SEC - 1);
    assert.equal(d.isBanned('10.0.0.1'), true);
    assert.equal(d.activeBans, 1);
    clock.advance(1);
    assert.equal(d.isBanned('10.0.0.1'), false);
    assert.equal(d.activeBans, 0);
    const lifted = lines.filter((l) => l.msg === 'address unbanned');
    assert.equal(lifted.length, 1);
    assert.deepEqual(lifted[0]!.obj, { client: '10.0.0.1', durationSec: 60, repeat: 1 });
    assert.equal(d.isBanned('10.0.0.1'), false);
    assert.equal(lines.filter((l) => l.msg === 'address unbanned').length, 1, 'lifted once');
  });

  it('sweep lifts expired bans without anyone asking', () => {
    const { d, clock, lines } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    offend(d, '10.0.0.2', 'failedLogin', 10);
    clock.advance(61 * SEC);
    d.sweep();
    assert.deepEqual(
      lines.filter((l) => l.msg === 'address unbanned').map((l) => l.obj.client),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.equal(d.counters.unbans, 2);
    assert.equal(d.activeBans, 0);
  });

  it('offences during a ban add nothing; the score starts from zero after it', () => {
    const { d, clock } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    for (let i = 0; i < 50; i++) assert.equal(d.record('10.0.0.1', 'failedLogin').banned, true);
    assert.equal(d.counters.bans, 1);
    clock.advance(60 * SEC);
    assert.equal(d.score('10.0.0.1'), 0);
    assert.equal(offend(d, '10.0.0.1', 'failedLogin', 10), 10);
  });

  it('doubles the ban on each repeat offence, up to the cap', () => {
    const { d, clock, lines } = setup();
    const durations: number[] = [];
    for (let round = 0; round < 5; round++) {
      assert.equal(offend(d, '10.0.0.1', 'failedLogin', 10), 10, `round ${round}`);
      const ban = lines.filter((l) => l.msg === 'address banned').at(-1)!;
      durations.push(ban.obj.durationSec);
      assert.equal(ban.obj.repeat, round + 1);
      clock.advance(ban.obj.durationSec * SEC);
      assert.equal(d.isBanned('10.0.0.1'), false);
    }
    assert.deepEqual(durations, [60, 120, 240, 300, 300]);
    assert.equal(d.counters.bans, 5);
    assert.equal(d.counters.unbans, 5);
  });

  it('a ban after the repeat window is a first offence again', () => {
    const { d, clock, lines } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    clock.advance(60 * SEC);
    offend(d, '10.0.0.1', 'failedLogin', 10);
    clock.advance(120 * SEC + 3600 * SEC);
    d.sweep();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    assert.deepEqual(
      lines.filter((l) => l.msg === 'address banned').map((l) => l.obj.durationSec),
      [60, 120, 60],
    );
  });

  it('repeat offences of different addresses are counted separately', () => {
    const { d, clock, lines } = setup();
    offend(d, '10.0.0.1', 'failedLogin', 10);
    clock.advance(60 * SEC);
    offend(d, '10.0.0.1', 'failedLogin', 10);
    offend(d, '10.0.0.2', 'failedLogin', 10);
    assert.deepEqual(
      lines.filter((l) => l.msg === 'address banned').map((l) => [l.obj.client, l.obj.durationSec]),
      [['10.0.0.1', 60], ['10.0.0.1', 120], ['10.0.0.2', 60]],
    );
  });

  it('a cap below the first ban leaves the first ban as it is', () => {
    const { d, lines } = setup({ maxBanMs: 10 * SEC });
    offend(d, '10.0.0.1', 'failedLogin', 10);
    assert.equal(lines.find((l) => l.msg === 'address banned')!.obj.durationSec, 60);
  });

  it('logs the reasons that added up to the ban', () => {
    const { d, lines } = setup();
    offend(d, '10.0.0.1', 'foreignDataConnection', 2);
    offend(d, '10.0.0.1', 'badCommand', 5);
    offend(d, '10.0.0.1', 'protocolAbuse', 3);
    const ban = lines.find((l) => l.msg === 'address banned')!;
    assert.deepEqual(ban.obj.reasons, { foreignDataConnection: 2, badCommand: 5, protocolAbuse: 3 });
    assert.equal(ban.obj.score, 100);
  });
});

describe('Defender: allow and deny lists', () => {
  it('never bans allow-listed networks; logs and counts them once per crossing', () => {
    const { d, lines } = setup({ allow: ['192.168.0.0/16', '2001:db8::/32', '203.0.113.7'] });
    for (const a of ['192.168.44.5', '::ffff:192.168.1.1', '2001:db8:1::5', '203.0.113.7']) {
      assert.equal(offend(d, a, 'failedLogin', 50), 0, a);
      assert.equal(d.isBanned(a), false, a);
      assert.equal(d.admit(a), 'ok', a);
    }
    assert.equal(d.counters.spared, 4);
    assert.equal(lines.filter((l) => l.msg === 'allow-listed address over the ban threshold; not banned').length, 4);
    assert.equal(d.counters.bans, 0);
    // Neighbours outside the lists are still banned.
    for (const a of ['192.169.0.1', '2001:db9::1', '203.0.113.8']) assert.equal(offend(d, a, 'failedLogin', 10), 10, a);
  });

  it('refuses deny-listed networks at once, and counts refusals', () => {
    const { d } = setup({ deny: ['198.51.100.0/24', '2001:db8:bad::/48'] });
    assert.equal(d.admit('198.51.100.77'), 'denied');
    assert.equal(d.admit('::ffff:198.51.100.1'), 'denied');
    assert.equal(d.admit('2001:db8:bad::1'), 'denied');
    assert.equal(d.admit('198.51.101.1'), 'ok');
    assert.equal(d.counters.refusedDenied, 3);
    offend(d, '10.0.0.1', 'failedLogin', 10);
    assert.equal(d.admit('10.0.0.1'), 'banned');
    assert.equal(d.admit('10.0.0.1'), 'banned');
    assert.equal(d.counters.refusedBanned, 2);
  });

  it('the deny list applies even with banning disabled, and wins over the allow list', () => {
    const { d } = setup({ enabled: false, deny: ['10.0.0.0/8'], allow: ['10.1.0.0/16'] });
    assert.equal(d.admit('10.1.2.3'), 'denied');
    assert.equal(d.admit('11.0.0.1'), 'ok');
  });
});

describe('Defender: memory', () => {
  it('keeps at most 1000 offences per address', () => {
    const { d } = setup({ allow: ['10.0.0.0/8'] });
    offend(d, '10.0.0.1', 'badCommand', 5000);
    assert.equal(d.score('10.0.0.1'), 4000);
  });

  it('sweep forgets expired offences and old repeat records', () => {
    const { d, clock } = setup();
    for (let i = 0; i < 1000; i++) d.record(`10.0.${i >> 8}.${i & 255}`, 'badCommand');
    offend(d, '10.9.9.9', 'failedLogin', 10);
    clock.advance(3600 * SEC + 61 * SEC);
    d.sweep();
    const internals = d as unknown as { scores: Map<string, unknown>; offenders: Map<string, unknown> };
    assert.equal(internals.scores.size, 0);
    assert.equal(internals.offenders.size, 0);
  });

  it('keeps at most 100,000 scores under a distributed attack', () => {
    const { d } = setup();
    for (let i = 0; i < 120_000; i++) d.record(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'badCommand');
    const internals = d as unknown as { scores: Map<string, unknown> };
    assert.equal(internals.scores.size, 100_000);
    assert.equal(d.score('10.0.0.0'), 0, 'the oldest were forgotten');
    assert.equal(d.score(`10.1.212.191`), 4, 'the newest kept');
  });

  it('uses Date.now and no log when none are given', () => {
    const d = new Defender({
      enabled: true,
      threshold: 1,
      windowMs: 60_000,
      scores: { failedLogin: 1, badCommand: 1, protocolAbuse: 1, foreignDataConnection: 1 },
      banMs: 60_000,
      maxBanMs: 60_000,
      repeatWindowMs: 60_000,
      allow: [],
      deny: [],
    });
    assert.equal(d.record('10.0.0.1', 'failedLogin').banned, true);
    assert.equal(d.isBanned('10.0.0.1'), true);
  });
});
