import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasGlob, matchGlob } from '../../src/protocol/glob.js';

describe('hasGlob', () => {
  it('spots * and ?', () => {
    assert.equal(hasGlob('*.txt'), true);
    assert.equal(hasGlob('file?.log'), true);
    assert.equal(hasGlob('plain.txt'), false);
    assert.equal(hasGlob('[abc]'), false);
    assert.equal(hasGlob(''), false);
  });
});

describe('matchGlob', () => {
  it('* matches any run of characters, including none', () => {
    assert.equal(matchGlob('*.txt', 'a.txt'), true);
    assert.equal(matchGlob('*.txt', '.txt'), true);
    assert.equal(matchGlob('*.txt', 'a.txt.bak'), false);
    assert.equal(matchGlob('*', ''), true);
    assert.equal(matchGlob('a*b*c', 'aXXbYYc'), true);
    assert.equal(matchGlob('a*b*c', 'aXXbYY'), false);
  });

  it('? matches exactly one character', () => {
    assert.equal(matchGlob('file?.log', 'file1.log'), true);
    assert.equal(matchGlob('file?.log', 'file.log'), false);
    assert.equal(matchGlob('file?.log', 'file12.log'), false);
  });

  it('? matches one non-BMP character (a surrogate pair)', () => {
    assert.equal(matchGlob('?.txt', '😀.txt'), true);
    assert.equal(matchGlob('??.txt', '😀.txt'), false);
  });

  it('matches the whole name, not a part of it', () => {
    assert.equal(matchGlob('a', 'ba'), false);
    assert.equal(matchGlob('a', 'ab'), false);
    assert.equal(matchGlob('a?', 'ab'), true);
  });

  it('is case-sensitive', () => {
    assert.equal(matchGlob('*.TXT', 'a.txt'), false);
  });

  it('treats regular-expression characters literally', () => {
    for (const name of ['a.b', 'a+b', 'a(b)', 'a[b]', 'a{1}', 'a^b$', 'a|b', 'a\\b']) {
      assert.equal(matchGlob(name, name), true, `${name} should match itself`);
    }
    assert.equal(matchGlob('a.b', 'aXb'), false);
    assert.equal(matchGlob('a+', 'aa'), false);
    assert.equal(matchGlob('[ab]', 'a'), false);
    assert.equal(matchGlob('a|b', 'a'), false);
    assert.equal(matchGlob('a{2}', 'aa'), false);
  });

  it('* and ? also match newlines and other odd characters in names', () => {
    assert.equal(matchGlob('a*b', 'a\nb'), true);
    assert.equal(matchGlob('a?b', 'a\nb'), true);
  });

  it('treats every other printable ASCII character literally', () => {
    for (let c = 32; c < 127; c++) {
      const ch = String.fromCharCode(c);
      if (ch === '*' || ch === '?') continue;
      assert.equal(matchGlob(`x${ch}y`, `x${ch}y`), true, `literal ${ch}`);
      assert.equal(matchGlob(`x${ch}y`, 'xzy'), ch === 'z', `literal ${ch} is not a wildcard`);
    }
  });
});
