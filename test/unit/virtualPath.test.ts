import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseName, joinVirtual, parentOf, quotePath, resolveVirtual } from '../../src/protocol/virtualPath.js';

describe('resolveVirtual', () => {
  const cases: Array<[cwd: string, arg: string, expected: string]> = [
    // relative
    ['/', 'a', '/a'],
    ['/home', 'file.txt', '/home/file.txt'],
    ['/a/b', 'c/d', '/a/b/c/d'],
    ['/a/b', '', '/a/b'],
    ['/a/b', '.', '/a/b'],
    ['/a/b', './c', '/a/b/c'],
    ['/a/b', '..', '/a'],
    ['/a/b', '../c', '/a/c'],
    ['/a/b', '../..', '/'],
    // absolute args ignore the cwd
    ['/a/b', '/', '/'],
    ['/a/b', '/x/y', '/x/y'],
    ['/a/b', '/x/../y', '/y'],
    // "..": never above the root
    ['/', '..', '/'],
    ['/', '../../..', '/'],
    ['/a', '../../../etc/passwd', '/etc/passwd'],
    ['/a', '/../../etc', '/etc'],
    ['/', '../a/../../b', '/b'],
    // repeated and trailing slashes
    ['/', '//a//b//', '/a/b'],
    ['/a', 'b/', '/a/b'],
    ['//', 'x', '/x'],
    ['/a//b/', './/c', '/a/b/c'],
    // dots that are names, not navigation
    ['/', '...', '/...'],
    ['/', '..a', '/..a'],
    ['/', 'a..', '/a..'],
    ['/', '.hidden', '/.hidden'],
    // spaces and odd characters are kept verbatim
    ['/', ' a b ', '/ a b '],
    ['/', 'a\\..\\b', '/a\\..\\b'],
  ];
  for (const [cwd, arg, expected] of cases) {
    it(`${JSON.stringify(cwd)} + ${JSON.stringify(arg)} -> ${expected}`, () => {
      assert.equal(resolveVirtual(cwd, arg), expected);
    });
  }

  it('treats a non-absolute cwd as rooted', () => {
    assert.equal(resolveVirtual('', 'a'), '/a');
    assert.equal(resolveVirtual('x/y', '../../..'), '/');
  });

  it('is idempotent', () => {
    for (const [cwd, arg] of cases) {
      const once = resolveVirtual(cwd, arg);
      assert.equal(resolveVirtual('/', once), once);
      assert.equal(resolveVirtual(once, '.'), once);
    }
  });
});

describe('parentOf / baseName / joinVirtual', () => {
  it('parentOf', () => {
    assert.equal(parentOf('/'), '/');
    assert.equal(parentOf('/a'), '/');
    assert.equal(parentOf('/a/b'), '/a');
    assert.equal(parentOf('/a/b/c.txt'), '/a/b');
  });

  it('baseName', () => {
    assert.equal(baseName('/'), '');
    assert.equal(baseName('/a'), 'a');
    assert.equal(baseName('/a/b/c.txt'), 'c.txt');
  });

  it('joinVirtual', () => {
    assert.equal(joinVirtual('/', 'a'), '/a');
    assert.equal(joinVirtual('/a', 'b'), '/a/b');
  });

  it('joinVirtual(parentOf(p), baseName(p)) gives p back', () => {
    for (const p of ['/a', '/a/b', '/x/y/z.txt']) assert.equal(joinVirtual(parentOf(p), baseName(p)), p);
  });
});

describe('quotePath', () => {
  it('wraps a path in double quotes', () => {
    assert.equal(quotePath('/home/user'), '"/home/user"');
  });

  it('doubles embedded quotes (RFC 959 Appendix II)', () => {
    assert.equal(quotePath('/a"b'), '"/a""b"');
    assert.equal(quotePath('/"q"'), '"/""q"""');
    assert.equal(quotePath('""'), '""""""');
  });

  it('can be unquoted again by a client', () => {
    for (const p of ['/', '/a"b', '/"', '/x ""y"" z']) {
      const q = quotePath(p);
      assert.ok(q.startsWith('"') && q.endsWith('"'));
      assert.equal(q.slice(1, -1).replace(/""/g, '"'), p);
    }
  });
});
