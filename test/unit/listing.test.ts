import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MLST_FACTS,
  formatListLine,
  formatMlsxFacts,
  formatMlsxLine,
  formatTimeVal,
  mlstFeatLine,
  parseMlstOpts,
  parseTimeVal,
  splitListArgs,
  type EntryPermissions,
  type ListEntry,
} from '../../src/protocol/listing.js';

const NOW = new Date('2024-06-15T12:00:00Z');
const DAY = 24 * 3600 * 1000;

const file = (over: Partial<ListEntry> = {}): ListEntry => ({
  name: 'report.txt',
  type: 'file',
  size: 1234,
  mtime: new Date('2024-06-01T08:05:09Z'),
  ...over,
});
const dir = (over: Partial<ListEntry> = {}): ListEntry => ({
  name: 'docs',
  type: 'dir',
  size: 4096,
  mtime: new Date('2024-06-10T23:59:00Z'),
  ...over,
});

const ALL: EntryPermissions = { read: true, write: true, delete: true, rename: true, mkdir: true, list: true };
const NONE: EntryPermissions = { read: false, write: false, delete: false, rename: false, mkdir: false, list: false };

describe('formatListLine', () => {
  it('formats a recent file with the time of day', () => {
    assert.equal(
      formatListLine(file(), NOW),
      '-rw-r--r--   1 ftp      ftp              1234 Jun  1 08:05 report.txt',
    );
  });

  it('formats a recent directory with d, 2 links and the time', () => {
    assert.equal(
      formatListLine(dir(), NOW),
      'drwxr-xr-x   2 ftp      ftp              4096 Jun 10 23:59 docs',
    );
  });

  it('formats a file older than six months with the year in the time column', () => {
    assert.equal(
      formatListLine(file({ mtime: new Date('2020-01-05T10:00:00Z'), size: 0 }), NOW),
      '-rw-r--r--   1 ftp      ftp                 0 Jan  5  2020 report.txt',
    );
  });

  it('formats a file in the future with the year', () => {
    assert.equal(
      formatListLine(file({ mtime: new Date('2024-06-15T12:00:01Z') }), NOW),
      '-rw-r--r--   1 ftp      ftp              1234 Jun 15  2024 report.txt',
    );
  });

  it('switches from time to year at about six months', () => {
    const line = (ageDays: number) => formatListLine(file({ mtime: new Date(NOW.getTime() - ageDays * DAY) }), NOW);
    assert.match(line(181), / \d\d:\d\d report\.txt$/);
    assert.match(line(183), /  \d{4} report\.txt$/);
    assert.match(line(0), / 12:00 report\.txt$/);
  });

  it('uses UTC for the date and time', () => {
    assert.match(formatListLine(file({ mtime: new Date('2024-06-14T23:30:00-05:00') }), NOW), / Jun 15 04:30 /);
  });

  it('keeps the columns aligned for large sizes and names with spaces', () => {
    const small = formatListLine(file({ size: 1 }), NOW);
    const big = formatListLine(file({ size: 999_999_999_999, name: 'a b  c' }), NOW);
    assert.equal(small.indexOf('Jun'), big.indexOf('Jun'));
    assert.ok(big.endsWith(' a b  c'));
    assert.match(big, / 999999999999 Jun/);
  });

  it('matches the shape common ls -l parsers expect', () => {
    const re = /^([d-])([rwx-]{9})\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\w{3})\s+(\d{1,2})\s+(\d{2}:\d{2}|\d{4}) (.+)$/;
    for (const e of [file(), dir(), file({ mtime: new Date('1999-12-31T00:00:00Z') })]) {
      const m = re.exec(formatListLine(e, NOW));
      assert.ok(m, formatListLine(e, NOW));
      assert.equal(m[1], e.type === 'dir' ? 'd' : '-');
      assert.equal(Number(m[6]), e.size);
      assert.equal(m[10], e.name);
    }
  });

  it('uses every month abbreviation correctly', () => {
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    months.forEach((mon, i) => {
      const e = file({ mtime: new Date(Date.UTC(2001, i, 9)) });
      assert.match(formatListLine(e, NOW), new RegExp(` ${mon}  9  2001 `));
    });
  });
});

describe('formatTimeVal / parseTimeVal', () => {
  it('formats YYYYMMDDHHMMSS in UTC', () => {
    assert.equal(formatTimeVal(new Date('2024-02-29T07:08:09.999Z')), '20240229070809');
    assert.equal(formatTimeVal(new Date('1970-01-01T00:00:00Z')), '19700101000000');
  });

  it('pads years below 1000', () => {
    const d = new Date(0);
    d.setUTCFullYear(999, 0, 2);
    assert.equal(formatTimeVal(d), '09990102000000');
  });

  it('parses YYYYMMDDHHMMSS', () => {
    assert.equal(parseTimeVal('20240229070809')?.toISOString(), '2024-02-29T07:08:09.000Z');
  });

  it('parses optional fractions of a second', () => {
    assert.equal(parseTimeVal('20240101000000.5')?.toISOString(), '2024-01-01T00:00:00.500Z');
    assert.equal(parseTimeVal('20240101000000.05')?.toISOString(), '2024-01-01T00:00:00.050Z');
    assert.equal(parseTimeVal('20240101000000.123')?.toISOString(), '2024-01-01T00:00:00.123Z');
  });

  it('round-trips formatTimeVal output', () => {
    for (const iso of ['2024-02-29T07:08:09Z', '1999-12-31T23:59:59Z', '2038-01-19T03:14:08Z', '1970-01-01T00:00:00Z']) {
      const text = formatTimeVal(new Date(iso));
      assert.equal(parseTimeVal(text)?.getTime(), new Date(iso).getTime());
    }
  });

  it('keeps years 0000-0099 as written (no 19xx mapping)', () => {
    assert.equal(parseTimeVal('00500101000000')?.getUTCFullYear(), 50);
    assert.equal(formatTimeVal(parseTimeVal('00010203040506')!), '00010203040506');
  });

  it('rejects dates that do not exist', () => {
    for (const bad of [
      '20230229000000', // Feb 29 in a common year
      '20240230000000', // Feb 30
      '20240431000000', // Apr 31
      '21000229000000', // 2100 is not a leap year
      '20241301000000', // month 13
      '20240001000000', // month 0
      '20240100000000', // day 0
      '20240132000000', // day 32
    ]) {
      assert.equal(parseTimeVal(bad), null, bad);
    }
  });

  it('accepts Feb 29 in leap years', () => {
    assert.ok(parseTimeVal('20240229000000'));
    assert.ok(parseTimeVal('20000229000000'));
  });

  it('rejects times out of range', () => {
    for (const bad of ['20240101240000', '20240101006000', '20240101000061']) {
      assert.equal(parseTimeVal(bad), null, bad);
    }
  });

  it('rejects malformed text', () => {
    for (const bad of [
      '',
      '2024010100000',
      '202401010000000',
      '2024-01-01 00:00:00',
      '20240101000000.',
      '20240101000000.1234',
      ' 20240101000000',
      '20240101000000Z',
      'abcdefghijklmn',
    ]) {
      assert.equal(parseTimeVal(bad), null, JSON.stringify(bad));
    }
  });
});

describe('MLSx facts', () => {
  const f = file({ unique: '801.4a2' });
  const d = dir({ unique: '801.4a3' });

  it('formats all facts of a file in the requested order', () => {
    assert.equal(
      formatMlsxFacts(f, ALL, MLST_FACTS),
      'type=file;size=1234;modify=20240601080509;perm=adfrw;unique=801.4a2;',
    );
  });

  it('omits size for directories', () => {
    assert.equal(formatMlsxFacts(d, ALL, MLST_FACTS), 'type=dir;modify=20240610235900;perm=cdeflmp;unique=801.4a3;');
  });

  it('omits unique when the entry has none', () => {
    assert.equal(formatMlsxFacts(file(), ALL, ['type', 'unique']), 'type=file;');
  });

  it('gives only the selected facts', () => {
    assert.equal(formatMlsxFacts(f, ALL, ['size']), 'size=1234;');
    assert.equal(formatMlsxFacts(f, ALL, []), '');
  });

  it('uses the cdir/pdir type override', () => {
    assert.equal(formatMlsxFacts(d, ALL, ['type'], 'cdir'), 'type=cdir;');
    assert.equal(formatMlsxFacts(d, ALL, ['type'], 'pdir'), 'type=pdir;');
  });

  it('maps file permissions to a, d, f, r, w', () => {
    const perm = (p: Partial<EntryPermissions>) => formatMlsxFacts(f, { ...NONE, ...p }, ['perm']);
    assert.equal(perm({}), 'perm=;');
    assert.equal(perm({ read: true }), 'perm=r;');
    assert.equal(perm({ write: true }), 'perm=aw;');
    assert.equal(perm({ delete: true }), 'perm=d;');
    assert.equal(perm({ rename: true }), 'perm=f;');
    // Directory-only rights give a file no letters.
    assert.equal(perm({ list: true, mkdir: true }), 'perm=;');
  });

  it('maps directory permissions to c, d, e, f, l, m, p', () => {
    const perm = (p: Partial<EntryPermissions>) => formatMlsxFacts(d, { ...NONE, ...p }, ['perm']);
    assert.equal(perm({}), 'perm=;');
    assert.equal(perm({ write: true }), 'perm=c;');
    assert.equal(perm({ delete: true }), 'perm=dp;');
    assert.equal(perm({ list: true }), 'perm=el;');
    assert.equal(perm({ rename: true }), 'perm=f;');
    assert.equal(perm({ mkdir: true }), 'perm=m;');
    // Reading files is no right on a directory entry.
    assert.equal(perm({ read: true }), 'perm=;');
  });

  it('puts exactly one space between the facts and the name', () => {
    assert.equal(formatMlsxLine(f, ALL, ['type', 'size']), 'type=file;size=1234; report.txt');
    assert.equal(formatMlsxLine(file({ name: ' leading space' }), ALL, ['type']), 'type=file;  leading space');
  });

  it('formats the FEAT line with the enabled facts starred', () => {
    assert.equal(mlstFeatLine(['type', 'size', 'modify']), 'MLST type*;size*;modify*;perm;unique;');
    assert.equal(mlstFeatLine([]), 'MLST type;size;modify;perm;unique;');
    assert.equal(mlstFeatLine(MLST_FACTS), 'MLST type*;size*;modify*;perm*;unique*;');
  });
});

describe('parseMlstOpts', () => {
  it('returns the known facts asked for, in canonical order', () => {
    assert.deepEqual(parseMlstOpts('size;type;'), ['type', 'size']);
  });

  it('is case-insensitive and tolerates spaces and missing final semicolon', () => {
    assert.deepEqual(parseMlstOpts(' Type ; MODIFY'), ['type', 'modify']);
  });

  it('drops unknown facts and duplicates', () => {
    assert.deepEqual(parseMlstOpts('type;media-type;charset;type;UNIX.mode;'), ['type']);
  });

  it('returns no facts for an empty argument', () => {
    assert.deepEqual(parseMlstOpts(''), []);
    assert.deepEqual(parseMlstOpts(';;;'), []);
  });

  it('returns every fact when all are asked for', () => {
    assert.deepEqual(parseMlstOpts('unique;perm;modify;size;type;'), [...MLST_FACTS]);
  });
});

describe('splitListArgs', () => {
  const cases: Array<[string, { flags: string; path: string }]> = [
    ['', { flags: '', path: '' }],
    ['   ', { flags: '', path: '' }],
    ['-a', { flags: 'a', path: '' }],
    ['-l', { flags: 'l', path: '' }],
    ['-la', { flags: 'la', path: '' }],
    ['-la /pub', { flags: 'la', path: '/pub' }],
    ['-l -a dir', { flags: 'la', path: 'dir' }],
    ['  -a   sub dir  ', { flags: 'a', path: 'sub dir' }],
    ['dir', { flags: '', path: 'dir' }],
    ['/a/-l', { flags: '', path: '/a/-l' }],
    // Not flags: a lone dash, a double dash, digits, or a dash-word glued to more.
    ['-', { flags: '', path: '-' }],
    ['--all', { flags: '', path: '--all' }],
    ['-1', { flags: '', path: '-1' }],
    ['-file.txt', { flags: '', path: '-file.txt' }],
    ['-l -file.txt', { flags: 'l', path: '-file.txt' }],
    // A path after flags keeps its own inner spaces and dashes.
    ['-l my -a file', { flags: 'l', path: 'my -a file' }],
  ];
  for (const [arg, expected] of cases) {
    it(`${JSON.stringify(arg)} -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(splitListArgs(arg), expected);
    });
  }
});
