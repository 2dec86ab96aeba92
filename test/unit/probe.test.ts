/** The pure parts of `ftpfleet probe`: reply reading, the URL, and the causes it names. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply, reply } from '../../src/protocol/replies.js';
import {
  activeSourceNote,
  activeTimeoutCause,
  addressKind,
  commandRefusedCause,
  parseProbeUrl,
  passiveConnectCause,
  ProbeUsageError,
  transferReplyCause,
} from '../../src/lb/probeDiagnosis.js';
import { nodeFromStat, ReplyReader, replyText } from '../../src/lb/probeReply.js';

describe('ReplyReader', () => {
  it('reads single-line replies, several per chunk', () => {
    const r = new ReplyReader();
    assert.deepEqual(r.push('220 ready\r\n331 Password required\r\n'), [
      { code: 220, lines: ['ready'] },
      { code: 331, lines: ['Password required'] },
    ]);
  });

  it('joins a reply split across chunks, and accepts bare LF', () => {
    const r = new ReplyReader();
    assert.deepEqual(r.push('227 Entering Pass'), []);
    assert.equal(r.pending, '227 Entering Pass');
    assert.deepEqual(r.push('ive Mode (127,0,0,1,78,40).\n'), [{ code: 227, lines: ['Entering Passive Mode (127,0,0,1,78,40).'] }]);
  });

  it('reads what formatReply writes, multi-line with digit-led middle lines included', () => {
    const sent = reply(211, 'ftpfleet status:', 'Node s2', '211 looks like an end but is indented', 'End of status.');
    const r = new ReplyReader();
    const got = r.push(formatReply(sent));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.code, 211);
    assert.equal(got[0]!.lines.length, 4);
    assert.equal(got[0]!.lines[0], 'ftpfleet status:');
    assert.equal(got[0]!.lines[3], 'End of status.');
    assert.equal(got[0]!.lines[2]!.trim(), '211 looks like an end but is indented');
  });

  it('does not end a multi-line reply on another code', () => {
    const r = new ReplyReader();
    assert.deepEqual(r.push('211-start\r\n226 not the end\r\n'), []);
    assert.deepEqual(r.push('211 End\r\n'), [{ code: 211, lines: ['start', '226 not the end', 'End'] }]);
  });

  it('nodeFromStat finds "Node <id>", or null', () => {
    assert.equal(nodeFromStat(reply(211, 'ftpfleet status:', 'Node fleet-b.2', 'End of status.')), 'fleet-b.2');
    assert.equal(nodeFromStat(reply(211, 'vsFTPd 3.0.3 status', 'End of status')), null);
  });

  it('replyText puts a reply on one line', () => {
    assert.equal(replyText(reply(504, 'Active mode is disabled; use PASV or EPSV.')), '504 Active mode is disabled; use PASV or EPSV.');
    assert.equal(replyText(reply(211, 'a', ' b ', 'c')), '211 a / b / c');
  });
});

describe('parseProbeUrl', () => {
  it('decodes user and password, defaults the port to 21, keeps the directory', () => {
    const t = parseProbeUrl('ftp://dev%40site:p%3Ass%2Fw@ftp.example.com/incoming/today/');
    assert.deepEqual({ host: t.host, port: t.port, user: t.user, password: t.password, dir: t.dir }, {
      host: 'ftp.example.com',
      port: 21,
      user: 'dev@site',
      password: 'p:ss/w',
      dir: 'incoming/today',
    });
    assert.ok(!t.display.includes('p:ss') && !t.display.includes('p%3Ass'), 'no password in reports');
  });

  it('reads IPv6 hosts and explicit ports; anonymous without a user', () => {
    const t = parseProbeUrl('ftp://[::1]:2121');
    assert.equal(t.host, '::1');
    assert.equal(t.port, 2121);
    assert.equal(t.user, 'anonymous');
    assert.equal(t.dir, '');
    assert.equal(t.display, 'ftp://anonymous@[::1]:2121/');
  });

  it('refuses other schemes and non-URLs', () => {
    assert.throws(() => parseProbeUrl('http://example.com/'), ProbeUsageError);
    assert.throws(() => parseProbeUrl('example.com:21'), ProbeUsageError);
    assert.throws(() => parseProbeUrl('nonsense'), /expected ftp:\/\/user:password@host/);
  });
});

describe('probe causes', () => {
  it('classifies addresses', () => {
    assert.equal(addressKind('10.1.2.3'), 'private');
    assert.equal(addressKind('172.31.0.5'), 'private');
    assert.equal(addressKind('192.168.1.1'), 'private');
    assert.equal(addressKind('100.64.0.1'), 'shared (CGNAT)');
    assert.equal(addressKind('127.0.0.9'), 'loopback');
    assert.equal(addressKind('198.18.2.12'), 'benchmarking');
    assert.equal(addressKind('0.0.0.0'), 'unspecified');
    assert.equal(addressKind('203.0.113.10'), 'public');
    assert.equal(addressKind('fd00::5'), 'private');
    assert.equal(addressKind('::ffff:10.0.0.1'), 'private');
  });

  it('PASV with a private address: names it and says to set passive.address', () => {
    const cause = passiveConnectCause({ mode: 'PASV', host: '10.0.2.12', port: 10005, controlPeer: '203.0.113.10', code: 'ETIMEDOUT' });
    assert.match(cause, /^PASV advertised 10\.0\.2\.12, a private address this client cannot reach/);
    assert.match(cause, /timed out/);
    assert.match(cause, /set passive\.address to the address clients connect to \(203\.0\.113\.10\)/);
  });

  it('PASV with another address of the same kind: says it is not the address the client connects to', () => {
    const cause = passiveConnectCause({ mode: 'PASV', host: '198.18.2.12', port: 11003, controlPeer: '198.18.1.100', code: 'ECONNREFUSED' });
    assert.match(cause, /PASV advertised 198\.18\.2\.12, not the address this client connects to \(198\.18\.1\.100\)/);
    assert.match(cause, /was refused/);
  });

  it('a timed-out data port on the right address: the balancer does not forward it', () => {
    for (const mode of ['PASV', 'EPSV'] as const) {
      const cause = passiveConnectCause({ mode, host: '198.18.1.100', port: 10500, controlPeer: '198.18.1.100', code: 'ETIMEDOUT' });
      assert.equal(cause, "data connection to the advertised port 10500 timed out: the balancer does not forward this port — check that the node's passive range matches the balancer's");
    }
  });

  it('a refused data port on the right address: nothing listens there', () => {
    const cause = passiveConnectCause({ mode: 'EPSV', host: '198.18.1.100', port: 10500, controlPeer: '198.18.1.100', code: 'ECONNREFUSED' });
    assert.match(cause, /port 10500 was refused: nothing listens there/);
  });

  it('active mode: disabled, refused address, never connected, 425', () => {
    assert.match(commandRefusedCause('PORT', reply(504, 'Active mode is disabled; use PASV or EPSV.')), /^active mode is disabled on the server \(active\.enabled\): "504 Active mode is disabled; use PASV or EPSV\."$/);
    assert.match(commandRefusedCause('EPRT', reply(500, 'Illegal PORT command.'), '192.168.1.5'), /refused the address 192\.168\.1\.5 as not this client's: "500 Illegal PORT command\.".*behind NAT/);
    assert.match(activeTimeoutCause('PORT'), /^the server never connected back for PORT: active connections are blocked or not NATed \(port 20 rule\)/);
    assert.match(transferReplyCause('EPRT', reply(425, 'Cannot open data connection.'), false), /^425\/refused: "425 Cannot open data connection\." — the server could not connect to this client/);
  });

  it('passive 425 after connecting: the node saw the data connection from elsewhere', () => {
    assert.match(transferReplyCause('PASV', reply(425, 'No data connection within 30s.'), true), /passive\.requireSameAddress/);
  });

  it('notes an active data connection from an address other than the one the client reached', () => {
    assert.equal(activeSourceNote('198.18.1.100', '198.18.1.100'), null);
    assert.match(activeSourceNote('198.18.2.11', '198.18.1.100') ?? '', /the server connected from 198\.18\.2\.11, not from the address this client connects to \(198\.18\.1\.100\)/);
  });
});
