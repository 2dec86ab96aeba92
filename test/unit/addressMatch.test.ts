import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkList, normalizeAddress } from '../../src/net/addressMatch.js';

describe('normalizeAddress', () => {
  it('unmaps IPv4-mapped IPv6 addresses, in any case', () => {
    assert.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(normalizeAddress('::FFFF:192.0.2.1'), '192.0.2.1');
  });

  it('leaves plain IPv4 and other IPv6 addresses alone', () => {
    for (const a of ['192.0.2.1', '::1', '2001:db8::1', '::ffff:c000:201', '64:ff9b::192.0.2.1']) {
      assert.equal(normalizeAddress(a), a);
    }
  });
});

describe('NetworkList', () => {
  it('is empty without networks and then matches nothing', () => {
    const l = new NetworkList([]);
    assert.equal(l.empty, true);
    assert.equal(l.has('127.0.0.1'), false);
    assert.equal(l.has('::1'), false);
    assert.equal(new NetworkList(['10.0.0.0/8']).empty, false);
  });

  it('matches IPv4 CIDR networks at their edges', () => {
    const l = new NetworkList(['10.0.0.0/8', '192.168.1.0/24']);
    assert.equal(l.has('10.0.0.0'), true);
    assert.equal(l.has('10.255.255.255'), true);
    assert.equal(l.has('11.0.0.0'), false);
    assert.equal(l.has('9.255.255.255'), false);
    assert.equal(l.has('192.168.1.1'), true);
    assert.equal(l.has('192.168.1.255'), true);
    assert.equal(l.has('192.168.2.1'), false);
  });

  it('matches odd prefix lengths', () => {
    const l = new NetworkList(['172.16.0.0/12', '198.51.100.128/25']);
    assert.equal(l.has('172.31.255.255'), true);
    assert.equal(l.has('172.32.0.0'), false);
    assert.equal(l.has('172.15.255.255'), false);
    assert.equal(l.has('198.51.100.128'), true);
    assert.equal(l.has('198.51.100.127'), false);
  });

  it('treats /32 and a bare address as a single host', () => {
    const l = new NetworkList(['203.0.113.5/32', '203.0.113.9']);
    assert.equal(l.has('203.0.113.5'), true);
    assert.equal(l.has('203.0.113.9'), true);
    assert.equal(l.has('203.0.113.6'), false);
  });

  it('matches everything with /0', () => {
    const l = new NetworkList(['0.0.0.0/0']);
    assert.equal(l.has('1.2.3.4'), true);
    assert.equal(l.has('255.255.255.255'), true);
  });

  it('matches IPv6 CIDR networks', () => {
    const l = new NetworkList(['2001:db8::/32', 'fe80::/10', '::1']);
    assert.equal(l.has('2001:db8::1'), true);
    assert.equal(l.has('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'), true);
    assert.equal(l.has('2001:db9::1'), false);
    assert.equal(l.has('fe80::abcd'), true);
    assert.equal(l.has('febf::1'), true);
    assert.equal(l.has('fec0::1'), false);
    assert.equal(l.has('::1'), true);
    assert.equal(l.has('::2'), false);
  });

  it('matches IPv4-mapped client addresses against IPv4 networks', () => {
    const l = new NetworkList(['10.0.0.0/8']);
    assert.equal(l.has('::ffff:10.1.2.3'), true);
    assert.equal(l.has('::FFFF:10.1.2.3'), true);
    assert.equal(l.has('::ffff:11.1.2.3'), false);
  });

  it('matches IPv4 clients against networks written in IPv4-mapped IPv6 form', () => {
    const l = new NetworkList(['::ffff:10.0.0.0/104', '::ffff:192.0.2.7']);
    assert.equal(l.has('10.9.9.9'), true);
    assert.equal(l.has('::ffff:10.9.9.9'), true);
    assert.equal(l.has('11.0.0.1'), false);
    assert.equal(l.has('192.0.2.7'), true);
    assert.equal(l.has('192.0.2.8'), false);
  });

  it('does not confuse IPv4 and IPv6 networks', () => {
    const v4 = new NetworkList(['0.0.0.0/0']);
    assert.equal(v4.has('2001:db8::1'), false);
    const v6 = new NetworkList(['2001:db8::/32']);
    assert.equal(v6.has('32.1.13.184'), false); // 2001:0db8 as dotted quad
  });

  it('returns false for things that are not addresses', () => {
    const l = new NetworkList(['0.0.0.0/0', '::/0']);
    for (const a of ['', 'localhost', '10.0.0', '10.0.0.256', '::ffff:10.0.0.256', 'garbage']) {
      assert.equal(l.has(a), false, a);
    }
  });
});
