import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BanList, type BanPolicy } from '../../src/net/bans.js';

const SEC = 1000;

function setup(over: Partial<BanPolicy> = {}) {
  let now = 1_000_000;
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const policy: BanPolicy = {
    enabled: true,
    failures: 3,
    windowMs: 60 * SEC,
    durationMs: 300 * SEC,
    neverBan: [],
    ...over,
  };
  return { bans: new BanList(policy, clock.now), clock };
}

describe('BanList', () => {
  it('bans an address on the failure that reaches the threshold, not before', () => {
    const { bans } = setup();
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.isBanned('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.isBanned('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), true);
    assert.equal(bans.isBanned('10.0.0.1'), true);
  });

  it('bans after one failure when the threshold is 1', () => {
    const { bans } = setup({ failures: 1 });
    assert.equal(bans.recordFailure('10.0.0.1'), true);
    assert.equal(bans.isBanned('10.0.0.1'), true);
  });

  it('keeps addresses apart', () => {
    const { bans } = setup();
    bans.recordFailure('10.0.0.1');
    bans.recordFailure('10.0.0.1');
    assert.equal(bans.recordFailure('10.0.0.2'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), true);
    assert.equal(bans.isBanned('10.0.0.2'), false);
  });

  it('only counts failures inside the sliding window', () => {
    const { bans, clock } = setup();
    bans.recordFailure('10.0.0.1'); // t=0
    clock.advance(30 * SEC);
    bans.recordFailure('10.0.0.1'); // t=30s
    clock.advance(30 * SEC); // t=60s: the first failure is now exactly windowMs old and drops out
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.isBanned('10.0.0.1'), false);
    clock.advance(29 * SEC); // t=89s: failures at 30s and 60s are still in the window
    assert.equal(bans.recordFailure('10.0.0.1'), true);
  });

  it('does not ban failures spread out wider than the window', () => {
    const { bans, clock } = setup();
    for (let i = 0; i < 20; i++) {
      assert.equal(bans.recordFailure('10.0.0.1'), false, `failure ${i}`);
      clock.advance(31 * SEC);
    }
    assert.equal(bans.isBanned('10.0.0.1'), false);
  });

  it('lifts the ban after the duration', () => {
    const { bans, clock } = setup();
    for (let i = 0; i < 3; i++) bans.recordFailure('10.0.0.1');
    clock.advance(300 * SEC - 1);
    assert.equal(bans.isBanned('10.0.0.1'), true);
    clock.advance(1);
    assert.equal(bans.isBanned('10.0.0.1'), false);
    clock.advance(10 * SEC);
    assert.equal(bans.isBanned('10.0.0.1'), false);
  });

  it('starts counting afresh after a ban', () => {
    const { bans, clock } = setup();
    for (let i = 0; i < 3; i++) bans.recordFailure('10.0.0.1');
    clock.advance(301 * SEC);
    assert.equal(bans.isBanned('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), true);
  });

  it('clears the failure count on a successful login', () => {
    const { bans } = setup();
    bans.recordFailure('10.0.0.1');
    bans.recordFailure('10.0.0.1');
    bans.recordSuccess('10.0.0.1');
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.recordFailure('10.0.0.1'), true);
  });

  it('never bans when disabled', () => {
    const { bans } = setup({ enabled: false });
    for (let i = 0; i < 50; i++) assert.equal(bans.recordFailure('10.0.0.1'), false);
    assert.equal(bans.isBanned('10.0.0.1'), false);
  });

  it('never bans addresses in the neverBan networks', () => {
    const { bans } = setup({ neverBan: ['192.168.0.0/16', '2001:db8::/32', '203.0.113.7'] });
    for (let i = 0; i < 10; i++) {
      assert.equal(bans.recordFailure('192.168.44.5'), false);
      assert.equal(bans.recordFailure('::ffff:192.168.1.1'), false);
      assert.equal(bans.recordFailure('2001:db8:1::5'), false);
      assert.equal(bans.recordFailure('203.0.113.7'), false);
    }
    for (const a of ['192.168.44.5', '192.168.1.1', '2001:db8:1::5', '203.0.113.7']) assert.equal(bans.isBanned(a), false, a);
    // Neighbours outside the lists are still banned.
    for (const a of ['192.169.0.1', '2001:db9::1', '203.0.113.8']) {
      for (let i = 0; i < 3; i++) bans.recordFailure(a);
      assert.equal(bans.isBanned(a), true, a);
    }
  });

  it('treats an IPv4-mapped IPv6 address as the same client as its IPv4 form', () => {
    const { bans } = setup();
    bans.recordFailure('::ffff:10.0.0.9');
    bans.recordFailure('10.0.0.9');
    assert.equal(bans.recordFailure('::FFFF:10.0.0.9'), true);
    assert.equal(bans.isBanned('10.0.0.9'), true);
    assert.equal(bans.isBanned('::ffff:10.0.0.9'), true);
  });

  it('bans IPv6 addresses', () => {
    const { bans } = setup();
    for (let i = 0; i < 3; i++) bans.recordFailure('2001:db8::42');
    assert.equal(bans.isBanned('2001:db8::42'), true);
    assert.equal(bans.isBanned('2001:db8::43'), false);
  });

  it('success on one address does not clear another', () => {
    const { bans } = setup();
    bans.recordFailure('10.0.0.1');
    bans.recordFailure('10.0.0.1');
    bans.recordSuccess('10.0.0.2');
    assert.equal(bans.recordFailure('10.0.0.1'), true);
  });

  it('uses Date.now when no clock is given', () => {
    const bans = new BanList({ enabled: true, failures: 1, windowMs: 60_000, durationMs: 60_000, neverBan: [] });
    assert.equal(bans.recordFailure('10.0.0.1'), true);
    assert.equal(bans.isBanned('10.0.0.1'), true);
  });
});
