import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyParser, ReplyParseError, isPreliminary } from '../../src/protocol/replyParser.js';
import { formatReply, reply } from '../../src/protocol/replies.js';

describe('ReplyParser', () => {
  test('single-line replies, split anywhere across chunks', () => {
    const p = new ReplyParser();
    assert.deepEqual(p.push(Buffer.from('220 ready\r\n331 Pass')), [{ code: 220, lines: ['ready'] }]);
    assert.deepEqual(p.push(Buffer.from('word required\r\n')), [{ code: 331, lines: ['Password required'] }]);
  });

  test('multi-line replies end at "ddd " of the same code; middle lines are kept as sent', () => {
    const p = new ReplyParser();
    const text = '211-Features:\r\n EPSV\r\n211-not the end\r\n230 not the end either\r\n211 End\r\n200 next\r\n';
    assert.deepEqual(p.push(Buffer.from(text)), [
      { code: 211, lines: ['Features:', ' EPSV', '211-not the end', '230 not the end either', 'End'] },
      { code: 200, lines: ['next'] },
    ]);
  });

  test('a bare code ends a multi-line reply; bare LF line ends are accepted', () => {
    const p = new ReplyParser();
    assert.deepEqual(p.push(Buffer.from('150-a\nb\n150\n226 ok\n')), [
      { code: 150, lines: ['a', 'b', ''] },
      { code: 226, lines: ['ok'] },
    ]);
  });

  test('round trip with formatReply', () => {
    const r = reply(214, 'first', '226 looks like an end', 'last');
    const [parsed] = new ReplyParser().push(Buffer.from(formatReply(r)));
    assert.equal(parsed!.code, 214);
    assert.equal(parsed!.lines.at(-1), 'last');
  });

  test('garbage and oversize lines are errors, not replies', () => {
    assert.throws(() => new ReplyParser().push(Buffer.from('HTTP/1.1 200 OK\r\n')), ReplyParseError);
    assert.throws(() => new ReplyParser(64).push(Buffer.from('220 ' + 'x'.repeat(100) + '\r\n')), ReplyParseError);
    assert.throws(() => new ReplyParser(64, 3).push(Buffer.from('211-a\r\nb\r\nc\r\nd\r\n')), ReplyParseError);
  });

  test('isPreliminary', () => {
    assert.equal(isPreliminary(reply(150, 'x')), true);
    assert.equal(isPreliminary(reply(226, 'x')), false);
  });
});
