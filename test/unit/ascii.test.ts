import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsciiUploadDecoder, toNetworkAscii } from '../../src/protocol/ascii.js';

const s = (buf: Buffer) => buf.toString('latin1');
const B = (text: string) => Buffer.from(text, 'latin1');

/** Feeds the chunks through one decoder, then end(). */
function decode(chunks: string[]): string {
  const d = new AsciiUploadDecoder();
  let out = '';
  for (const c of chunks) out += s(d.push(B(c)));
  return out + s(d.end());
}

describe('toNetworkAscii', () => {
  it('turns every LF into CRLF', () => {
    assert.equal(s(toNetworkAscii(B('a\nb\n\nc'))), 'a\r\nb\r\n\r\nc');
  });

  it('handles LF at the start and at the end', () => {
    assert.equal(s(toNetworkAscii(B('\nx\n'))), '\r\nx\r\n');
  });

  it('returns the chunk unchanged when it has no LF', () => {
    const chunk = B('no newline\rhere');
    assert.equal(toNetworkAscii(chunk), chunk);
  });

  it('handles an empty chunk', () => {
    assert.equal(toNetworkAscii(Buffer.alloc(0)).length, 0);
  });

  it('handles a chunk that is only LFs', () => {
    assert.equal(s(toNetworkAscii(B('\n\n\n'))), '\r\n\r\n\r\n');
  });

  it('keeps all other bytes, including 0x00-0xFF', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const out = toNetworkAscii(all);
    assert.equal(out.length, 257);
    assert.deepEqual(out.subarray(0, 10), all.subarray(0, 10));
    assert.deepEqual([...out.subarray(10, 12)], [0x0d, 0x0a]);
    assert.deepEqual(out.subarray(12), all.subarray(11));
  });
});

describe('AsciiUploadDecoder', () => {
  it('turns CRLF into LF', () => {
    assert.equal(decode(['a\r\nb\r\n']), 'a\nb\n');
  });

  it('keeps bare LF', () => {
    assert.equal(decode(['a\nb\n']), 'a\nb\n');
  });

  it('keeps a lone CR in the middle', () => {
    assert.equal(decode(['a\rb']), 'a\rb');
  });

  it('keeps CR CR LF as CR LF (only the CR right before LF goes)', () => {
    assert.equal(decode(['a\r\r\nb']), 'a\r\nb');
  });

  it('joins a CR at the end of one chunk with an LF at the start of the next', () => {
    const d = new AsciiUploadDecoder();
    assert.equal(s(d.push(B('line1\r'))), 'line1');
    assert.equal(s(d.push(B('\nline2\r'))), '\nline2');
    assert.equal(s(d.push(B('\n'))), '\n');
    assert.equal(d.end().length, 0);
  });

  it('emits a held CR when the next chunk does not start with LF', () => {
    const d = new AsciiUploadDecoder();
    assert.equal(s(d.push(B('a\r'))), 'a');
    assert.equal(s(d.push(B('b'))), '\rb');
    assert.equal(d.end().length, 0);
  });

  it('keeps holding a CR across empty chunks', () => {
    assert.equal(decode(['a\r', '', '', '\nb']), 'a\nb');
    assert.equal(decode(['a\r', '', 'b']), 'a\rb');
  });

  it('handles CR-only chunks in a row', () => {
    assert.equal(decode(['\r', '\r', '\n']), '\r\n');
    assert.equal(decode(['\r', '\r', '\r']), '\r\r\r');
  });

  it('flushes a trailing CR on end()', () => {
    const d = new AsciiUploadDecoder();
    assert.equal(s(d.push(B('tail\r'))), 'tail');
    assert.equal(s(d.end()), '\r');
    // end() clears it.
    assert.equal(d.end().length, 0);
  });

  it('returns nothing on end() when no CR is held', () => {
    const d = new AsciiUploadDecoder();
    d.push(B('abc\r\n'));
    assert.equal(d.end().length, 0);
  });

  it('gives the same result for every way of cutting the stream in two or into single bytes', () => {
    const input = '\r\nline one\r\nbare\nlone\rCR\r\r\nend\r';
    const whole = decode([input]);
    assert.equal(whole, '\nline one\nbare\nlone\rCR\r\nend\r');
    for (let cut = 0; cut <= input.length; cut++) {
      assert.equal(decode([input.slice(0, cut), input.slice(cut)]), whole, `cut at ${cut}`);
    }
    assert.equal(decode([...input]), whole);
  });

  it('undoes toNetworkAscii for LF-only text, whatever the chunking', () => {
    const stored = 'first\nsecond\n\nthird\r-with-CR\nlast';
    const wire = s(toNetworkAscii(B(stored)));
    for (let size = 1; size <= wire.length; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < wire.length; i += size) chunks.push(wire.slice(i, i + size));
      assert.equal(decode(chunks), stored, `chunk size ${size}`);
    }
  });
});
