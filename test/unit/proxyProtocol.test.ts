import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeProxyV2, parseProxyHeader, V2_SIGNATURE } from '../../src/net/proxyProtocol.js';

describe('PROXY protocol v1', () => {
  it('parses TCP4 and TCP6 headers and reports their length', () => {
    const text = 'PROXY TCP4 198.18.1.10 198.18.1.100 59578 21\r\nUSER x\r\n';
    const r = parseProxyHeader(Buffer.from(text));
    assert.equal(r.status, 'ok');
    if (r.status !== 'ok') return;
    assert.equal(r.length, text.indexOf('USER'));
    assert.deepEqual(r.header.source, { address: '198.18.1.10', port: 59578 });
    assert.deepEqual(r.header.destination, { address: '198.18.1.100', port: 21 });
    const r6 = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1024 2121\r\n'));
    assert.equal(r6.status === 'ok' && r6.header.source?.address, '2001:db8::1');
  });

  it('treats UNKNOWN as a local connection', () => {
    const r = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
    assert.equal(r.status === 'ok' && r.header.command, 'local');
  });

  it('waits for more bytes, and refuses broken or overlong headers', () => {
    assert.equal(parseProxyHeader(Buffer.from('PRO')).status, 'incomplete');
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')).status, 'incomplete');
    for (const bad of [
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n',
      'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
      'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
      'PROXY ' + 'x'.repeat(120),
      'USER alice\r\n',
    ]) {
      assert.equal(parseProxyHeader(Buffer.from(bad)).status, 'invalid', bad);
    }
  });
});

describe('PROXY protocol v2', () => {
  it('round-trips IPv4 and IPv6 headers with a unique id', () => {
    const id = Buffer.from('0123456789abcdef', 'hex');
    const h = encodeProxyV2({ address: '198.18.1.10', port: 40000 }, { address: '198.18.1.100', port: 21 }, id);
    const r = parseProxyHeader(Buffer.concat([h, Buffer.from('USER x\r\n')]));
    assert.equal(r.status, 'ok');
    if (r.status !== 'ok') return;
    assert.equal(r.length, h.length);
    assert.equal(r.header.command, 'proxy');
    assert.deepEqual(r.header.source, { address: '198.18.1.10', port: 40000 });
    assert.equal(r.header.uniqueId, '0123456789abcdef');
    const h6 = encodeProxyV2({ address: '2001:db8::7', port: 1 }, { address: '::1', port: 2 });
    const r6 = parseProxyHeader(h6);
    assert.equal(r6.status === 'ok' && r6.header.source?.address, '2001:db8::7');
    assert.equal(r6.status === 'ok' && r6.header.destination?.address, '::1');
  });

  it('reads LOCAL (health check) headers', () => {
    const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    const r = parseProxyHeader(local);
    assert.equal(r.status === 'ok' && r.header.command, 'local');
    assert.equal(r.status === 'ok' && r.header.source, null);
    // A LOCAL header may carry addresses; they must be ignored.
    const withAddresses = encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    withAddresses[12] = 0x20;
    const r2 = parseProxyHeader(withAddresses);
    assert.equal(r2.status === 'ok' && r2.header.command, 'local');
    assert.equal(r2.status === 'ok' && r2.header.source, null);
    assert.equal(r2.status === 'ok' && r2.header.destination, null);
  });

  it('is incomplete until the whole header is there', () => {
    const h = encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    for (let n = 1; n < h.length; n++) assert.equal(parseProxyHeader(h.subarray(0, n)).status, 'incomplete', `at ${n}`);
  });

  it('refuses bad versions, commands, families and truncated TLVs', () => {
    const h = encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    const mutate = (at: number, value: number) => {
      const copy = Buffer.from(h);
      copy[at] = value;
      return copy;
    };
    assert.equal(parseProxyHeader(mutate(12, 0x11)).status, 'invalid'); // version 1
    assert.equal(parseProxyHeader(mutate(12, 0x22)).status, 'invalid'); // command 2
    assert.equal(parseProxyHeader(mutate(13, 0x51)).status, 'invalid'); // family 5
    assert.equal(parseProxyHeader(mutate(13, 0x12)).status, 'invalid'); // UDP
    const tlv = Buffer.concat([h.subarray(0, 16), h.subarray(16), Buffer.from([0x05, 0x00, 0x09, 0x01])]);
    tlv.writeUInt16BE(12 + 4, 14);
    assert.equal(parseProxyHeader(tlv).status, 'invalid');
    const huge = Buffer.from(h);
    huge.writeUInt16BE(60000, 14);
    assert.equal(parseProxyHeader(huge).status, 'invalid');
  });
});
