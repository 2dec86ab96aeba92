import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatEprtArg,
  formatEpsvArg,
  formatPasvArg,
  parseEprtArg,
  parseEpsvArg,
  parseEpsvReply,
  parsePasvReply,
  parsePortArg,
} from '../../src/protocol/hostPort.js';

describe('parsePortArg', () => {
  it('parses h1,h2,h3,h4,p1,p2', () => {
    assert.deepEqual(parsePortArg('192,168,1,20,4,1'), { host: '192.168.1.20', port: 4 * 256 + 1 });
  });

  it('accepts the extremes 0 and 255 in every byte', () => {
    assert.deepEqual(parsePortArg('0,0,0,0,0,1'), { host: '0.0.0.0', port: 1 });
    assert.deepEqual(parsePortArg('255,255,255,255,255,255'), { host: '255.255.255.255', port: 65535 });
  });

  it('tolerates spaces around the argument and the numbers', () => {
    assert.deepEqual(parsePortArg('  10, 0 ,0,1 ,  78,32  '), { host: '10.0.0.1', port: 78 * 256 + 32 });
  });

  it('normalizes leading zeros', () => {
    assert.deepEqual(parsePortArg('010,000,000,001,004,001'), { host: '10.0.0.1', port: 1025 });
  });

  it('rejects port 0', () => {
    assert.equal(parsePortArg('127,0,0,1,0,0'), null);
  });

  it('rejects bytes above 255', () => {
    assert.equal(parsePortArg('256,0,0,1,4,1'), null);
    assert.equal(parsePortArg('127,0,0,1,256,1'), null);
    assert.equal(parsePortArg('127,0,0,1,4,999'), null);
  });

  it('rejects numbers with more than 3 digits, signs, fractions and hex', () => {
    for (const bad of ['0127,0,0,1,4,1', '-1,0,0,1,4,1', '+1,0,0,1,4,1', '1.0,0,0,1,4,1', '0x7f,0,0,1,4,1', '1e2,0,0,1,4,1']) {
      assert.equal(parsePortArg(bad), null, bad);
    }
  });

  it('rejects the wrong number of fields and empty fields', () => {
    for (const bad of ['', '127,0,0,1,4', '127,0,0,1,4,1,1', '127,0,0,,4,1', '127,0,0,1,4,', ',,,,,', '127.0.0.1,4,1']) {
      assert.equal(parsePortArg(bad), null, JSON.stringify(bad));
    }
  });
});

describe('formatPasvArg / parsePasvReply', () => {
  it('formats an IPv4 host and port as h1,h2,h3,h4,p1,p2', () => {
    assert.equal(formatPasvArg({ host: '10.1.2.3', port: 50000 }), '10,1,2,3,195,80');
    assert.equal(formatPasvArg({ host: '127.0.0.1', port: 255 }), '127,0,0,1,0,255');
    assert.equal(formatPasvArg({ host: '127.0.0.1', port: 256 }), '127,0,0,1,1,0');
  });

  it('refuses a non-IPv4 host', () => {
    assert.throws(() => formatPasvArg({ host: '::1', port: 2000 }), /IPv4/);
    assert.throws(() => formatPasvArg({ host: 'example.com', port: 2000 }), /IPv4/);
  });

  it('round-trips through a 227 reply text', () => {
    for (const port of [1, 255, 256, 1025, 10000, 65535]) {
      const hp = { host: '192.168.100.7', port };
      const text = `227 Entering Passive Mode (${formatPasvArg(hp)}).`;
      assert.deepEqual(parsePasvReply(text), hp);
    }
  });

  it('parses replies without parentheses and with spaces', () => {
    assert.deepEqual(parsePasvReply('227 Entering Passive Mode 10,0,0,1,4,1'), { host: '10.0.0.1', port: 1025 });
    assert.deepEqual(parsePasvReply('227 =10, 0, 0, 1, 4, 1'), { host: '10.0.0.1', port: 1025 });
  });

  it('returns null for replies without a valid address', () => {
    assert.equal(parsePasvReply('227 Entering Passive Mode'), null);
    assert.equal(parsePasvReply('227 (10,0,0,1,4)'), null);
    assert.equal(parsePasvReply('227 (300,0,0,1,4,1)'), null);
    assert.equal(parsePasvReply('227 (10,0,0,1,0,0)'), null);
  });
});

describe('parseEprtArg', () => {
  it('parses an IPv4 EPRT argument', () => {
    assert.deepEqual(parseEprtArg('|1|132.235.1.2|6275|'), { family: 4, host: '132.235.1.2', port: 6275 });
  });

  it('parses an IPv6 EPRT argument', () => {
    assert.deepEqual(parseEprtArg('|2|1080::8:800:200C:417A|5282|'), {
      family: 6,
      host: '1080::8:800:200C:417A',
      port: 5282,
    });
    assert.deepEqual(parseEprtArg('|2|::1|65535|'), { family: 6, host: '::1', port: 65535 });
  });

  it('accepts other printable delimiters', () => {
    assert.deepEqual(parseEprtArg('!1!10.0.0.1!21!'), { family: 4, host: '10.0.0.1', port: 21 });
    assert.deepEqual(parseEprtArg('#2#::1#2121#'), { family: 6, host: '::1', port: 2121 });
    assert.deepEqual(parseEprtArg('~1~10.0.0.1~1~'), { family: 4, host: '10.0.0.1', port: 1 });
  });

  it('tolerates surrounding whitespace', () => {
    assert.deepEqual(parseEprtArg('  |1|10.0.0.1|21|  '), { family: 4, host: '10.0.0.1', port: 21 });
  });

  it('rejects delimiters that could be part of an address or are not printable', () => {
    for (const d of ['1', '9', 'a', 'F', '.', ':', ' ', '\t', '\x7f', 'é']) {
      assert.equal(parseEprtArg(`${d}1${d}10.0.0.1${d}21${d}`), null, JSON.stringify(d));
    }
  });

  it('rejects mixed delimiters and wrong field counts', () => {
    for (const bad of [
      '|1|10.0.0.1!21!',
      '|1|10.0.0.1|21',
      '1|10.0.0.1|21|',
      '|1|10.0.0.1|21||',
      '|1||10.0.0.1|21|',
      '|1|10.0.0.1|21|x',
      '||||',
      '',
      '|1|',
    ]) {
      assert.equal(parseEprtArg(bad), null, bad);
    }
  });

  it('rejects port 0, ports above 65535 and non-numeric ports', () => {
    for (const port of ['0', '00000', '65536', '99999', '123456', '', '-1', '21a', ' 21', '0x15']) {
      assert.equal(parseEprtArg(`|1|10.0.0.1|${port}|`), null, JSON.stringify(port));
    }
  });

  it('rejects a family that does not match the address', () => {
    assert.equal(parseEprtArg('|1|::1|21|'), null);
    assert.equal(parseEprtArg('|2|10.0.0.1|21|'), null);
  });

  it('rejects invalid addresses', () => {
    for (const host of ['10.0.0.256', '10.0.0', 'example.com', '', '1.2.3.4.5']) {
      assert.equal(parseEprtArg(`|1|${host}|21|`), null, host);
    }
    for (const host of ['1:2:3:4:5:6:7:8:9', ':::', 'fffff::1', 'g::1']) {
      assert.equal(parseEprtArg(`|2|${host}|21|`), null, host);
    }
  });

  it("reports a well-formed argument for another protocol as 'unsupported'", () => {
    assert.equal(parseEprtArg('|3|10.0.0.1|21|'), 'unsupported');
    assert.equal(parseEprtArg('|99|whatever|21|'), 'unsupported');
  });

  it('rejects a missing or non-numeric protocol rather than calling it unsupported', () => {
    assert.equal(parseEprtArg('||10.0.0.1|21|'), null);
    assert.equal(parseEprtArg('|x|10.0.0.1|21|'), null);
  });

  it('round-trips with formatEprtArg', () => {
    for (const a of [
      { family: 4 as const, host: '10.20.30.40', port: 1 },
      { family: 6 as const, host: '2001:db8::1', port: 65535 },
    ]) {
      assert.deepEqual(parseEprtArg(formatEprtArg(a)), a);
    }
    assert.equal(formatEprtArg({ family: 4, host: '1.2.3.4', port: 5 }), '|1|1.2.3.4|5|');
    assert.equal(formatEprtArg({ family: 6, host: '::1', port: 5 }), '|2|::1|5|');
  });
});

describe('EPSV', () => {
  it('formats the 229 argument', () => {
    assert.equal(formatEpsvArg(6446), '(|||6446|)');
  });

  it('parses a 229 reply with any repeated delimiter', () => {
    assert.equal(parseEpsvReply(`229 Entering Extended Passive Mode ${formatEpsvArg(6446)}`), 6446);
    assert.equal(parseEpsvReply('229 ok (!!!21!)'), 21);
  });

  it('rejects 229 replies with mixed delimiters, port 0 or a port over 65535', () => {
    assert.equal(parseEpsvReply('229 (||!21|)'), null);
    assert.equal(parseEpsvReply('229 (|||0|)'), null);
    assert.equal(parseEpsvReply('229 (|||65536|)'), null);
    assert.equal(parseEpsvReply('229 (|||21)'), null);
    assert.equal(parseEpsvReply('229 Entering Extended Passive Mode'), null);
  });

  it('parses the EPSV argument', () => {
    assert.deepEqual(parseEpsvArg(''), { kind: 'any' });
    assert.deepEqual(parseEpsvArg('  '), { kind: 'any' });
    assert.deepEqual(parseEpsvArg('ALL'), { kind: 'all' });
    assert.deepEqual(parseEpsvArg('all'), { kind: 'all' });
    assert.deepEqual(parseEpsvArg('1'), { kind: 'family', family: 4 });
    assert.deepEqual(parseEpsvArg('2'), { kind: 'family', family: 6 });
    assert.deepEqual(parseEpsvArg(' 2 '), { kind: 'family', family: 6 });
  });

  it('rejects other EPSV arguments', () => {
    for (const bad of ['3', '0', '12', 'ALLX', '|1|', '1 2']) assert.equal(parseEpsvArg(bad), null, bad);
  });
});

