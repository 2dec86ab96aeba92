import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, parseCommandLine, stripTelnet } from '../../src/protocol/commandLine.js';

const IAC = 0xff;
const IP = 0xf4;
const DM = 0xf2;
const WILL = 0xfb;
const WONT = 0xfc;
const DO = 0xfd;
const DONT = 0xfe;

const b = (...parts: Array<string | number>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from([p]))));

/** The lines a splitter produced, as strings (oversize markers kept). */
const text = (out: Array<Buffer | 'oversize'>) => out.map((l) => (l === 'oversize' ? l : l.toString('latin1')));

describe('stripTelnet', () => {
  it('returns the same buffer when there is no IAC', () => {
    const line = Buffer.from('RETR file.txt');
    assert.equal(stripTelnet(line), line);
  });

  it('drops IAC IP IAC DM before ABOR', () => {
    assert.equal(stripTelnet(b(IAC, IP, IAC, DM, 'ABOR')).toString(), 'ABOR');
  });

  it('drops IAC IP when the DM arrived out of band', () => {
    assert.equal(stripTelnet(b(IAC, IP, 'ABOR')).toString(), 'ABOR');
  });

  it('turns IAC IAC into one literal 0xFF', () => {
    assert.deepEqual(stripTelnet(b('a', IAC, IAC, 'b')), b('a', 0xff, 'b'));
  });

  it('turns IAC IAC IAC IAC into two literal 0xFF bytes', () => {
    assert.deepEqual(stripTelnet(b(IAC, IAC, IAC, IAC)), b(0xff, 0xff));
  });

  for (const [name, verb] of [
    ['WILL', WILL],
    ['WONT', WONT],
    ['DO', DO],
    ['DONT', DONT],
  ] as const) {
    it(`drops IAC ${name} together with its option byte`, () => {
      // Option byte 'X' would otherwise survive as a printable character.
      assert.equal(stripTelnet(b('NO', IAC, verb, 'X', 'OP')).toString(), 'NOOP');
    });
  }

  it('does not eat a byte after IAC + a command without an option (e.g. AYT)', () => {
    assert.equal(stripTelnet(b(IAC, 0xf6, 'NOOP')).toString(), 'NOOP');
  });

  it('drops a lone IAC but keeps the following ordinary byte', () => {
    assert.equal(stripTelnet(b('NO', IAC, 'OP')).toString(), 'NOOP');
  });

  it('drops a trailing lone IAC', () => {
    assert.equal(stripTelnet(b('NOOP', IAC)).toString(), 'NOOP');
  });

  it('copes with IAC WILL at the very end (option byte missing)', () => {
    assert.equal(stripTelnet(b('NOOP', IAC, WILL)).toString(), 'NOOP');
  });
});

describe('parseCommandLine', () => {
  const ok = (raw: Buffer | string) => {
    const r = parseCommandLine(typeof raw === 'string' ? Buffer.from(raw) : raw);
    assert.equal(r.ok, true, `expected ${JSON.stringify(raw.toString())} to parse`);
    return (r as Extract<typeof r, { ok: true }>).command;
  };
  const fail = (raw: Buffer | string) => {
    const r = parseCommandLine(typeof raw === 'string' ? Buffer.from(raw) : raw);
    assert.equal(r.ok, false, `expected ${JSON.stringify(raw.toString())} to be rejected`);
    return (r as Extract<typeof r, { ok: false }>).reason;
  };

  it('upper-cases the verb and keeps the argument', () => {
    assert.deepEqual(ok('retr File.TXT'), { verb: 'RETR', arg: 'File.TXT' });
  });

  it('accepts a verb without an argument', () => {
    assert.deepEqual(ok('PWD'), { verb: 'PWD', arg: '' });
  });

  it('accepts 3- and 4-letter verbs', () => {
    assert.equal(ok('CWD /').verb, 'CWD');
    assert.equal(ok('MLSD').verb, 'MLSD');
  });

  it('keeps the argument unmodified: inner and trailing spaces', () => {
    assert.equal(ok('STOR  my file.txt ').arg, ' my file.txt ');
  });

  it('keeps an empty argument after a single trailing space', () => {
    assert.deepEqual(ok('LIST '), { verb: 'LIST', arg: '' });
  });

  it('ignores leading whitespace', () => {
    assert.deepEqual(ok('  \tNOOP'), { verb: 'NOOP', arg: '' });
  });

  it('decodes UTF-8 arguments (RFC 2640)', () => {
    assert.equal(ok(Buffer.from('STOR ünïcødé-文件.txt', 'utf8')).arg, 'ünïcødé-文件.txt');
  });

  it('strips Telnet sequences before parsing (ABOR after IAC IP IAC DM)', () => {
    assert.deepEqual(ok(b(IAC, IP, IAC, DM, 'ABOR')), { verb: 'ABOR', arg: '' });
  });

  it('turns IAC IAC inside an argument into a literal 0xFF byte', () => {
    // 0xFF alone is not valid UTF-8, so it decodes as U+FFFD.
    assert.equal(ok(b('STOR a', IAC, IAC, 'b')).arg, 'a\ufffdb');
  });

  it('reports an empty line', () => {
    assert.equal(fail(''), 'empty');
  });

  it('reports a whitespace-only line as empty', () => {
    assert.equal(fail('   '), 'empty');
  });

  it('reports a line made only of Telnet commands as empty', () => {
    assert.equal(fail(b(IAC, IP, IAC, DM)), 'empty');
  });

  it('rejects a NUL byte anywhere in the line', () => {
    assert.equal(fail(b('RETR a', 0, 'b')), 'nul');
    assert.equal(fail(b(0)), 'nul');
  });

  it('rejects verbs that are too short, too long or not letters', () => {
    assert.equal(fail('AB'), 'bad-verb');
    assert.equal(fail('ABCDE x'), 'bad-verb');
    assert.equal(fail('RE7R x'), 'bad-verb');
    assert.equal(fail('STOR\tfile'), 'bad-verb');
    assert.equal(fail('ÄBC'), 'bad-verb');
  });
});

describe('LineSplitter', () => {
  it('splits CRLF-terminated lines and strips the CRLF', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('USER a\r\nPASS b\r\n'))), ['USER a', 'PASS b']);
    assert.equal(s.pending, 0);
  });

  it('accepts bare LF endings', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('USER a\nPASS b\n'))), ['USER a', 'PASS b']);
  });

  it('accepts mixed CRLF and LF endings in one chunk', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('A\nB\r\nC\n'))), ['A', 'B', 'C']);
  });

  it('ends a line at a bare CR (ABOR whose LF was lost to urgent-data handling)', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('ABOR\rSTAT\r\n'))), ['ABOR', 'STAT']);
    assert.deepEqual(text(s.push(Buffer.from('A\rB\r'))), ['A', 'B']);
    assert.equal(s.pending, 0);
  });

  it('treats CR CR LF as a line and an empty line, and CR NUL as one line end', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('A\r\r\nB\r\0C\n'))), ['A', '', 'B', 'C']);
  });

  it('treats LF CR as two line ends (only LF or NUL right after a CR is skipped)', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('A\n\rB\n'))), ['A', '', 'B']);
  });

  it('keeps a NUL that does not follow a CR', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(s.push(Buffer.from('A\0B\n')), [Buffer.from('A\0B')]);
  });

  it('reports empty lines as empty buffers', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('\r\n\nX\n'))), ['', '', 'X']);
  });

  it('holds an unfinished line until its LF arrives', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(s.push(Buffer.from('RETR fi')), []);
    assert.equal(s.pending, 7);
    assert.deepEqual(text(s.push(Buffer.from('le.txt\r\nNO'))), ['RETR file.txt']);
    assert.equal(s.pending, 2);
    assert.deepEqual(text(s.push(Buffer.from('OP\n'))), ['NOOP']);
    assert.equal(s.pending, 0);
  });

  it('handles a CR at the end of one chunk and the LF at the start of the next as one CRLF', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(text(s.push(Buffer.from('QUIT\r'))), ['QUIT']);
    assert.deepEqual(text(s.push(Buffer.from('\nNOOP\r\n'))), ['NOOP']);
    // Also across an empty chunk, and with the Telnet CR NUL form.
    assert.deepEqual(text(s.push(Buffer.from('PWD\r'))), ['PWD']);
    assert.deepEqual(s.push(Buffer.alloc(0)), []);
    assert.deepEqual(text(s.push(Buffer.from('\0SYST\r'))), ['SYST']);
    assert.deepEqual(text(s.push(Buffer.from('X\n'))), ['X']);
  });

  it('gives the same lines whichever way the stream is cut into chunks', () => {
    const stream = Buffer.from('USER anonymous\r\nPASS x@y\r\nCWD /a b\nLIST -la\r\n\r\nQUIT\r\n');
    const whole = text(new LineSplitter(64).push(stream));
    assert.deepEqual(whole, ['USER anonymous', 'PASS x@y', 'CWD /a b', 'LIST -la', '', 'QUIT']);
    for (let cut = 0; cut <= stream.length; cut++) {
      const s = new LineSplitter(64);
      const got = [...s.push(stream.subarray(0, cut)), ...s.push(stream.subarray(cut))];
      assert.deepEqual(text(got), whole, `cut at ${cut}`);
    }
    // And one byte at a time.
    const s = new LineSplitter(64);
    const got: Array<Buffer | 'oversize'> = [];
    for (const byte of stream) got.push(...s.push(Buffer.from([byte])));
    assert.deepEqual(text(got), whole);
  });

  it('returns copies, not views of the pushed chunk', () => {
    const s = new LineSplitter(100);
    const chunk = Buffer.from('NOOP\n');
    const [line] = s.push(chunk);
    chunk.fill(0x41);
    assert.equal((line as Buffer).toString(), 'NOOP');
  });

  it('accepts a line of exactly maxLength bytes', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(text(s.push(Buffer.from('x'.repeat(10) + '\n'))), ['x'.repeat(10)]);
  });

  it('does not count the CRLF against maxLength', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(text(s.push(Buffer.from('y'.repeat(10) + '\r\n'))), ['y'.repeat(10)]);
    assert.deepEqual(text(s.push(Buffer.from('z'.repeat(10) + '\r'))), ['z'.repeat(10)]);
    assert.deepEqual(text(s.push(Buffer.from('\n'))), []);
  });

  it('discards an oversize line ended by CR, with its LF in the next chunk, without an extra empty line', () => {
    const s = new LineSplitter(4);
    assert.deepEqual(text(s.push(Buffer.from('toolong\r'))), ['oversize']);
    assert.deepEqual(text(s.push(Buffer.from('\nPWD\r\n'))), ['PWD']);
  });

  it('reports a line one byte over maxLength as oversize', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(text(s.push(Buffer.from('x'.repeat(11) + '\nNOOP\n'))), ['oversize', 'NOOP']);
  });

  it('reports an oversize line once, discards the rest of it, and parses the next line', () => {
    const s = new LineSplitter(8);
    const out: Array<Buffer | 'oversize'> = [];
    out.push(...s.push(Buffer.from('STOR aaaa')));
    out.push(...s.push(Buffer.from('bbbbbbbbbbbbb')));
    out.push(...s.push(Buffer.from('cccccccccccc')));
    out.push(...s.push(Buffer.from('dddd\r\nNOOP\r')));
    out.push(...s.push(Buffer.from('\n')));
    assert.deepEqual(text(out), ['oversize', 'NOOP']);
  });

  it('reports each of several oversize lines once', () => {
    const s = new LineSplitter(4);
    assert.deepEqual(text(s.push(Buffer.from('123456\nok\n7890123\nfine\n'))), ['oversize', 'ok', 'oversize', 'fine']);
  });

  it('never lets the buffer grow past maxLength, even with no LF ever', () => {
    const max = 32;
    const s = new LineSplitter(max);
    const markers: Array<Buffer | 'oversize'> = [];
    for (let i = 0; i < 1000; i++) {
      markers.push(...s.push(Buffer.alloc(7, 0x61)));
      assert.ok(s.pending <= max, `pending ${s.pending} > ${max} after chunk ${i}`);
    }
    assert.deepEqual(markers, ['oversize']);
    // A single huge chunk is refused without being buffered.
    const t = new LineSplitter(max);
    assert.deepEqual(t.push(Buffer.alloc(1 << 20, 0x61)), ['oversize']);
    assert.equal(t.pending, 0);
    // The stream recovers at the next LF.
    assert.deepEqual(text(t.push(Buffer.from('aaa\nPWD\n'))), ['PWD']);
  });

  it('does not report oversize for a discarded tail that is an empty piece', () => {
    const s = new LineSplitter(4);
    assert.deepEqual(s.push(Buffer.from('abcdef')), ['oversize']);
    assert.deepEqual(text(s.push(Buffer.from('\n'))), []);
    assert.deepEqual(text(s.push(Buffer.from('ab\n'))), ['ab']);
  });
});
