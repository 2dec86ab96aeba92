import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply, reply } from '../../src/protocol/replies.js';

describe('reply', () => {
  it('keeps the code and lines', () => {
    assert.deepEqual(reply(250, 'a', 'b'), { code: 250, lines: ['a', 'b'] });
  });

  it('gives a reply without text one empty line', () => {
    assert.deepEqual(reply(200), { code: 200, lines: [''] });
  });
});

describe('formatReply', () => {
  it('formats a single-line reply as "ddd text" + CRLF', () => {
    assert.equal(formatReply(reply(200, 'Command okay.')), '200 Command okay.\r\n');
  });

  it('formats a reply without text as "ddd " + CRLF', () => {
    assert.equal(formatReply(reply(200)), '200 \r\n');
  });

  it('formats a two-line reply as "ddd-first" and "ddd last"', () => {
    assert.equal(formatReply(reply(230, 'Welcome', 'Logged in.')), '230-Welcome\r\n230 Logged in.\r\n');
  });

  it('passes middle lines through when they do not start with a digit', () => {
    assert.equal(
      formatReply(reply(211, 'Features:', ' MDTM', ' SIZE', 'End')),
      '211-Features:\r\n MDTM\r\n SIZE\r\n211 End\r\n',
    );
  });

  it('indents middle lines that start with a digit so none looks like the last line', () => {
    const out = formatReply(reply(214, 'Help follows', '214 looks like an end', '1 more', 'x', 'Done'));
    assert.equal(out, '214-Help follows\r\n 214 looks like an end\r\n 1 more\r\nx\r\n214 Done\r\n');
    // Per RFC 959 §4.2 a client stops at the first line "ddd<SP>"; only the last one must match.
    const lines = out.split('\r\n').slice(0, -1);
    const enders = lines.filter((l) => /^\d{3} /.test(l));
    assert.deepEqual(enders, ['214 Done']);
  });

  it('indents empty middle lines', () => {
    assert.equal(formatReply(reply(211, 'a', '', 'b')), '211-a\r\n \r\n211 b\r\n');
  });

  it('does not indent the first or last line even when they start with a digit', () => {
    assert.equal(formatReply(reply(211, '1 first', '2 last')), '211-1 first\r\n211 2 last\r\n');
  });

  it('removes CR and LF inside a single-line text', () => {
    const out = formatReply(reply(550, 'bad\r\n200 injected'));
    assert.equal(out, '550 bad 200 injected\r\n');
    assert.equal(out.indexOf('\r'), out.length - 2);
    assert.equal(out.indexOf('\n'), out.length - 1);
  });

  it('removes lone CRs and LFs inside multi-line texts', () => {
    const out = formatReply(reply(211, 'a\nb', 'c\rd', 'e\n\nf'));
    assert.equal(out, '211-a b\r\nc d\r\n211 e f\r\n');
  });

  it('a line break smuggled into a middle line cannot start a fake final line', () => {
    assert.equal(formatReply(reply(211, 'x', 'a\r\n226 fake', 'y')), '211-x\r\na 226 fake\r\n211 y\r\n');
    assert.equal(formatReply(reply(211, 'x', '\n226 fake', 'y')), '211-x\r\n 226 fake\r\n211 y\r\n');
  });

  it('ends every reply with exactly one CRLF and uses CRLF between lines', () => {
    for (const r of [reply(220), reply(220, 'x'), reply(220, 'a', 'b', 'c')]) {
      const out = formatReply(r);
      assert.ok(out.endsWith('\r\n'));
      assert.ok(!out.endsWith('\r\n\r\n'));
      assert.equal(out.replace(/\r\n/g, '').includes('\n'), false);
      assert.equal(out.split('\r\n').length - 1, r.lines.length);
    }
  });
});
