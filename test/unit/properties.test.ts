/**
 * Property tests (fast-check) for everything that parses untrusted client
 * input or confines paths: the command-line parser and LineSplitter, the
 * PORT/EPRT/EPSV address codecs, LIST/NLST globbing, the virtual path jail and
 * the local storage jail. fast-check prints the seed and the shrunk
 * counterexample of a failure; rerun one with FC_SEED=<seed>.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import fc from 'fast-check';
import { LineSplitter, parseCommandLine, stripTelnet } from '../../src/protocol/commandLine.js';
import { matchGlob } from '../../src/protocol/glob.js';
import {
  formatEprtArg,
  formatEpsvArg,
  formatPasvArg,
  parseEprtArg,
  parseEpsvArg,
  parseEpsvReply,
  parsePasvReply,
  parsePortArg,
  type EprtArg,
} from '../../src/protocol/hostPort.js';
import { parseTimeVal } from '../../src/protocol/listing.js';
import { baseName, joinVirtual, parentOf, resolveVirtual } from '../../src/protocol/virtualPath.js';
import { StorageError } from '../../src/storage/errors.js';
import { LocalStorage, TEMP_PREFIX } from '../../src/storage/local/localStorage.js';
import type { Storage } from '../../src/storage/storage.js';

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
/** Options for the pure properties: enough runs to matter, still well under a second each. */
const RUNS = { numRuns: 2000, includeErrorInReport: true, ...(seed !== undefined ? { seed } : {}) };
/** The storage jail touches the disk: fewer runs. */
const DISK_RUNS = { numRuns: 200, includeErrorInReport: true, ...(seed !== undefined ? { seed } : {}) };

const IAC = 0xff;
const hex = (b: Buffer) => b.toString('hex');

/* ---------- arbitraries ---------- */

/** Bytes, biased towards the ones the control-connection parsers care about. */
const interestingByte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 2, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x00, IAC, 0xf4, 0xf2, 0xf6, 0xfb, 0xfc, 0xfd, 0xfe, 0x20, 0x09) },
  { weight: 2, arbitrary: fc.constantFrom(...Buffer.from('USERPASSRETRSTORLISTPORTEPRT /.,|:0123456789', 'latin1')) },
);
const bytesArb = (maxLength: number) => fc.array(interestingByte, { maxLength }).map((a) => Buffer.from(a));

/** Any Unicode text (valid UTF-8 once encoded), plus ASCII-heavy text. */
const unicodeText = (maxLength: number) =>
  fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.string({ unit: 'grapheme', maxLength }), fc.string({ maxLength }));

/** Cut points for splitting a stream into chunks (sorted, deduplicated later). */
const cutsArb = fc.array(fc.nat({ max: 10_000 }), { maxLength: 30 });

function chunked(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(at, p)); // empty chunks too: the splitter must cope
    at = p;
  }
  return out;
}

type SplitOut = Array<Buffer | 'oversize'>;
const norm = (ls: SplitOut) => ls.map((l) => (l === 'oversize' ? l : hex(l)));

/** Feeds the chunks one by one, checking the buffer bound after each push. */
function splitChunks(max: number, chunks: Buffer[]): SplitOut {
  const s = new LineSplitter(max);
  const out: SplitOut = [];
  for (const c of chunks) {
    out.push(...s.push(c));
    assert.ok(s.pending <= max, `pending ${s.pending} > max ${max}`);
  }
  return out;
}

/* ---------- command lines ---------- */

describe('property: parseCommandLine and stripTelnet', () => {
  it('never throws on any bytes and returns a well-formed result', () => {
    fc.assert(
      fc.property(bytesArb(200), (input) => {
        const r = parseCommandLine(input);
        if (r.ok) {
          assert.match(r.command.verb, /^[A-Z]{3,4}$/);
          assert.equal(typeof r.command.arg, 'string');
          assert.ok(!r.command.arg.includes('\0'), 'NUL in argument');
          assert.ok(!stripTelnet(input).includes(0), 'accepted a line with a NUL byte');
        } else {
          assert.ok(['empty', 'nul', 'bad-verb'].includes(r.reason));
        }
      }),
      RUNS,
    );
  });

  it('round-trips any verb and any UTF-8 argument, with leading blanks and Telnet commands mixed in', () => {
    // A Telnet command the parser must drop without a trace: IAC + a command
    // byte, and for WILL/WONT/DO/DONT one option byte more.
    const telnetCmd = fc.oneof(
      fc.integer({ min: 240, max: 250 }).map((c) => [IAC, c]),
      fc.tuple(fc.integer({ min: 251, max: 254 }), fc.integer({ min: 0, max: 255 })).map(([c, o]) => [IAC, c, o]),
    );
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z]{3,4}$/),
        fc.option(unicodeText(60).filter((s) => !s.includes('\0')), { nil: null }),
        fc.constantFrom('', ' ', '  ', '\t', ' \t '),
        fc.array(fc.tuple(fc.nat(), telnetCmd), { maxLength: 4 }),
        (verb, arg, blanks, inserts) => {
          const clean = Buffer.from(blanks + verb + (arg === null ? '' : ` ${arg}`), 'utf8');
          const expected = { verb: verb.toUpperCase(), arg: arg ?? '' };
          assert.deepEqual(parseCommandLine(clean), { ok: true, command: expected });
          // Valid UTF-8 has no 0xFF byte, so every IAC in the line starts one of our commands.
          const tokens = [...clean].map((b) => [b]);
          for (const [at, cmd] of inserts) tokens.splice(at % (tokens.length + 1), 0, cmd);
          const wire = Buffer.from(tokens.flat());
          assert.deepEqual(parseCommandLine(wire), { ok: true, command: expected }, hex(wire));
        },
      ),
      RUNS,
    );
  });

  it('stripTelnet undoes IAC doubling with commands interleaved, never lengthens, and leaves IAC-free input alone', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 240, max: 254 }), fc.integer({ min: 0, max: 255 })), { maxLength: 5 }),
        (data, inserts) => {
          // Token stream: each data byte, with 0xFF escaped as IAC IAC.
          const tokens: number[][] = [...data].map((b) => (b === IAC ? [IAC, IAC] : [b]));
          for (const [at, cmd, opt] of inserts) {
            tokens.splice(at % (tokens.length + 1), 0, cmd >= 251 ? [IAC, cmd, opt] : [IAC, cmd]);
          }
          const wire = Buffer.from(tokens.flat());
          const out = stripTelnet(wire);
          assert.ok(out.equals(data), `${hex(wire)} -> ${hex(out)}, want ${hex(data)}`);
          assert.ok(out.length <= wire.length);
          if (!data.includes(IAC) && inserts.length === 0) assert.equal(out, wire);
        },
      ),
      RUNS,
    );
  });

  it('stripTelnet never throws or lengthens arbitrary bytes', () => {
    fc.assert(
      fc.property(bytesArb(120), (input) => {
        const out = stripTelnet(input);
        assert.ok(out.length <= input.length);
        if (!input.includes(IAC)) assert.ok(out.equals(input));
      }),
      RUNS,
    );
  });
});

/* ---------- line splitting ---------- */

describe('property: LineSplitter', () => {
  it('on random bytes: never throws, never holds more than maxLength, and any chunking gives the one-chunk lines', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), bytesArb(400), cutsArb, (max, stream, cuts) => {
        const whole = splitChunks(max, [stream]);
        assert.deepEqual(norm(splitChunks(max, chunked(stream, cuts))), norm(whole));
        // Byte by byte, the worst case for CR/LF pairs across chunks.
        assert.deepEqual(norm(splitChunks(max, [...stream].map((b) => Buffer.from([b])))), norm(whole));
        const ends = stream.filter((b) => b === 0x0a || b === 0x0d).length;
        for (const line of whole) {
          if (line === 'oversize') continue;
          assert.ok(line.length <= max);
          assert.ok(!line.includes(0x0a) && !line.includes(0x0d));
        }
        // At most one line per line end, plus one oversize marker for an unfinished tail.
        assert.ok(whole.filter((l) => l !== 'oversize').length <= ends);
        assert.ok(whole.length <= ends + 1);
      }),
      RUNS,
    );
  });

  /** Lines of UTF-8 text (no CR, LF or NUL) with random line ends. */
  const linesArb = fc
    .array(
      fc.tuple(
        unicodeText(30).filter((s) => !/[\r\n\0]/.test(s)),
        fc.constantFrom('\r\n', '\r\n', '\n', '\r', '\r\0'),
      ),
      { maxLength: 25 },
    )
    .map((pairs) =>
      // After a bare CR an empty line ended by LF would read as CRLF: one line end, not two.
      pairs.map(([line, end], i) => [line, line === '' && end === '\n' && pairs[i - 1]?.[1] === '\r' ? '\r\n' : end] as const),
    );

  it('gives exactly the lines of a valid UTF-8 stream, however it is chunked', () => {
    fc.assert(
      fc.property(linesArb, cutsArb, (pairs, cuts) => {
        const lines = pairs.map(([l]) => Buffer.from(l, 'utf8'));
        const stream = Buffer.from(pairs.map(([l, e]) => l + e).join(''), 'utf8');
        const max = Math.max(1, ...lines.map((l) => l.length));
        const s = new LineSplitter(max);
        const out: SplitOut = [];
        for (const c of chunked(stream, cuts)) out.push(...s.push(c));
        assert.deepEqual(norm(out), lines.map(hex));
        assert.equal(s.pending, 0);
        // And each line parses to the same command as the line did on its own.
        for (const [i, l] of out.entries()) assert.deepEqual(parseCommandLine(l as Buffer), parseCommandLine(lines[i]!));
      }),
      RUNS,
    );
  });

  it('reports each over-long line once as oversize, keeps the others, and never buffers past maxLength', () => {
    fc.assert(
      fc.property(linesArb, fc.integer({ min: 1, max: 40 }), cutsArb, (pairs, max, cuts) => {
        const stream = Buffer.from(pairs.map(([l, e]) => l + e).join(''), 'utf8');
        const expected = pairs.map(([l]) => {
          const b = Buffer.from(l, 'utf8');
          return b.length > max ? 'oversize' : hex(b);
        });
        assert.deepEqual(norm(splitChunks(max, chunked(stream, cuts))), expected);
      }),
      RUNS,
    );
  });

  it('holds at most maxLength bytes of a line that never ends', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }), (max, sizes) => {
        const chunks = sizes.map((n) => Buffer.alloc(n, 0x41));
        const total = sizes.reduce((a, b) => a + b, 0);
        const out = splitChunks(max, chunks);
        assert.deepEqual(out, total > max ? ['oversize'] : []);
      }),
      RUNS,
    );
  });
});

/* ---------- data-connection addresses ---------- */

/** Text shaped like PORT/EPRT/EPSV arguments and replies, and anything else. */
const addressText = fc.oneof(
  unicodeText(60),
  fc.string({ unit: fc.constantFrom(...'0123456789,|.:!ALlf-+ ()\t'.split('')), maxLength: 60 }),
  fc.array(fc.string({ unit: fc.constantFrom(...'0123456789 +-x'.split('')), maxLength: 5 }), { minLength: 4, maxLength: 8 }).map((p) => p.join(',')),
);

const portNumber = fc.integer({ min: 1, max: 65535 });
const eprtDelimiter = fc.constantFrom(...'|!#$%&\'()*+,-/;<=>?@[\\]^_`{}~"GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz'.split(''));

describe('property: address codecs', () => {
  it('never throw on arbitrary text', () => {
    fc.assert(
      fc.property(addressText, (text) => {
        parsePortArg(text);
        parseEprtArg(text);
        parseEpsvArg(text);
        parsePasvReply(text);
        parseEpsvReply(text);
      }),
      RUNS,
    );
  });

  it('everything parsePortArg accepts has four bytes 0-255 and a port 1-65535, in canonical form', () => {
    fc.assert(
      fc.property(addressText, (text) => {
        const r = parsePortArg(text);
        if (r === null) return;
        assert.ok(isIPv4(r.host), r.host);
        const bytes = r.host.split('.').map(Number);
        assert.equal(bytes.length, 4);
        for (const b of bytes) assert.ok(Number.isInteger(b) && b >= 0 && b <= 255);
        assert.ok(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535, String(r.port));
        assert.deepEqual(parsePortArg(formatPasvArg(r)), r);
      }),
      RUNS,
    );
  });

  it('PORT/PASV: parse(format(x)) round-trips for every IPv4 address and port, with or without blanks', () => {
    fc.assert(
      fc.property(fc.ipV4(), portNumber, fc.constantFrom('', ' ', '  '), (host, port, blank) => {
        const arg = formatPasvArg({ host, port });
        assert.deepEqual(parsePortArg(arg), { host, port });
        assert.deepEqual(parsePortArg(blank + arg.split(',').join(`${blank},${blank}`) + blank), { host, port });
        assert.deepEqual(parsePasvReply(`227 Entering Passive Mode (${arg}).`), { host, port });
      }),
      RUNS,
    );
  });

  it('EPRT: parse(format(x)) round-trips for every IPv4/IPv6 address and port, with any legal delimiter', () => {
    const eprt = fc.oneof(
      fc.record({ family: fc.constant(4 as const), host: fc.ipV4(), port: portNumber }),
      fc.record({ family: fc.constant(6 as const), host: fc.ipV6(), port: portNumber }),
    ).map((r): EprtArg => ({ family: r.family, host: r.host, port: r.port })); // plain objects, as the parser returns
    fc.assert(
      fc.property(eprt, eprtDelimiter, (a: EprtArg, d) => {
        assert.deepEqual(parseEprtArg(formatEprtArg(a)), a);
        fc.pre(!a.host.includes(d));
        assert.deepEqual(parseEprtArg(`${d}${a.family === 4 ? 1 : 2}${d}${a.host}${d}${a.port}${d}`), a);
      }),
      RUNS,
    );
  });

  it('everything parseEprtArg accepts has a matching family, a valid address and a port 1-65535', () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 12 }), fc.constant('::ffff:127.0.0.1'));
    const portText = fc.oneof(portNumber.map(String), fc.constantFrom('0', '65536', '99999', '007', '-1', '1e3', ''), fc.nat().map(String));
    const shaped = fc
      .tuple(eprtDelimiter, fc.constantFrom('1', '2', '3', '0', '', '01', 'x'), host, portText, fc.constantFrom('', ' ', 'x'))
      .map(([d, proto, h, p, tail]) => `${d}${proto}${d}${h}${d}${p}${d}${tail}`);
    fc.assert(
      fc.property(fc.oneof(shaped, addressText), (text) => {
        const r = parseEprtArg(text);
        if (r === null || r === 'unsupported') return;
        assert.ok(r.family === 4 ? isIPv4(r.host) : r.family === 6 && isIPv6(r.host), JSON.stringify(r));
        assert.ok(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535, String(r.port));
        assert.deepEqual(parseEprtArg(formatEprtArg(r)), r);
      }),
      RUNS,
    );
  });

  it('EPSV: the 229 reply round-trips every port, and only "", ALL, 1 and 2 are accepted as arguments', () => {
    fc.assert(
      fc.property(portNumber, (port) => {
        assert.equal(parseEpsvReply(`229 Entering Extended Passive Mode ${formatEpsvArg(port)}.`), port);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(addressText, fc.mixedCase(fc.constantFrom('all', ' all ', '1', '2', ' 2', ''))), (text) => {
        const r = parseEpsvArg(text);
        const t = text.trim().toUpperCase();
        if (r === null) assert.ok(!['', 'ALL', '1', '2'].includes(t), text);
        else assert.deepEqual(r, t === '' ? { kind: 'any' } : t === 'ALL' ? { kind: 'all' } : { kind: 'family', family: t === '1' ? 4 : 6 });
      }),
      RUNS,
    );
  });
});

/* ---------- MFMT times, LIST globs ---------- */

describe('property: parseTimeVal', () => {
  it('never throws; whatever it accepts is a valid date', () => {
    const shaped = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.nat(99), fc.nat(99), fc.nat(99), fc.nat(99), fc.nat(99), fc.option(fc.nat(999)))
      .map(([y, ...rest]) => {
        const ms = rest.pop();
        return String(y).padStart(4, '0') + rest.map((n) => String(n).padStart(2, '0')).join('') + (ms == null ? '' : `.${ms}`);
      });
    fc.assert(
      fc.property(fc.oneof(shaped, unicodeText(20)), (text) => {
        const d = parseTimeVal(text);
        if (d !== null) assert.ok(!Number.isNaN(d.getTime()), text);
      }),
      RUNS,
    );
  });
});

/** Reference glob matcher: dynamic programming over code points, no regular expressions. */
function referenceGlob(pattern: string, name: string): boolean {
  const p = [...pattern];
  const s = [...name];
  // m[j]: does p[0..i) match s[0..j)?
  let m = s.map(() => false);
  m.unshift(true);
  for (const ch of p) {
    const next = new Array<boolean>(s.length + 1).fill(false);
    if (ch === '*') {
      for (let j = 0; j <= s.length; j++) next[j] = m[j]! || (j > 0 && next[j - 1]!);
    } else {
      for (let j = 1; j <= s.length; j++) next[j] = m[j - 1]! && (ch === '?' || ch === s[j - 1]);
    }
    m = next;
  }
  return m[s.length]!;
}

describe('property: matchGlob', () => {
  it('agrees with a reference matcher, including patterns that make backtracking matchers explode', () => {
    const alphabet = ['a', 'b', '.', '😀', '\n', '(', '\\'];
    const pattern = fc.string({ unit: fc.constantFrom(...alphabet, '*', '?', '*'), maxLength: 20 });
    const name = fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 30 });
    // "*a*a*a…*b" against a long run of "a": exponential for a backtracking regex.
    const hostile: Array<[string, string]> = [
      ['*a'.repeat(12) + '*b', 'a'.repeat(200)],
      ['*?'.repeat(20) + 'x', 'y'.repeat(250)],
      ['a*'.repeat(30) + 'b', 'a'.repeat(255)],
    ];
    fc.assert(
      fc.property(pattern, name, (p, n) => {
        assert.equal(matchGlob(p, n), referenceGlob(p, n), JSON.stringify([p, n]));
      }),
      { ...RUNS, examples: hostile },
    );
  });
});

/* ---------- virtual paths ---------- */

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('..', '.', '', '/', '...', '..a', 'a', 'b c', '\\', '\0', '~', '%2e%2e', '..\\..', 'ü', '文件', '😀') },
  { weight: 1, arbitrary: unicodeText(8) },
);
/** Path text from path-ish pieces, joined by "/" runs (or not). */
const pathText = fc
  .tuple(fc.boolean(), fc.array(fc.tuple(segment, fc.constantFrom('/', '//', '', '/')), { maxLength: 14 }))
  .map(([abs, parts]) => (abs ? '/' : '') + parts.map(([s, sep]) => s + sep).join(''));

/** A resolved current directory. */
const cwdArb = pathText.map((p) => resolveVirtual('/', p));

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);

describe('property: resolveVirtual (the path jail)', () => {
  it('always gives an absolute, normal path: no "..", "." or empty segment, and idempotent', () => {
    fc.assert(
      fc.property(fc.oneof(pathText, unicodeText(20)), pathText, (cwd, arg) => {
        const out = resolveVirtual(cwd, arg);
        assert.ok(out.startsWith('/'), out);
        if (out !== '/') {
          const segs = out.split('/').slice(1);
          assert.ok(!segs.includes('..') && !segs.includes('.') && !segs.includes(''), out);
        }
        assert.equal(resolveVirtual('/', out), out);
        assert.equal(resolveVirtual(cwd, out), out, 'an absolute result resolves to itself from anywhere');
      }),
      RUNS,
    );
  });

  it('no number of ".." climbs above "/": excess ".." stops at the root', () => {
    fc.assert(
      fc.property(cwdArb, fc.nat(5), pathText, fc.constantFrom('..', '..//', './..', '../.'), (cwd, extra, rest, up) => {
        const climb = Array.from({ length: depth(cwd) + extra }, () => up).join('/') + '/';
        assert.equal(resolveVirtual(cwd, climb + rest.replace(/^\/+/, '')), resolveVirtual('/', rest.replace(/^\/+/, '')));
        assert.equal(resolveVirtual(cwd, climb), '/');
      }),
      RUNS,
    );
  });

  it('a relative path without ".." stays inside the current directory', () => {
    fc.assert(
      fc.property(cwdArb, pathText, (cwd, arg) => {
        fc.pre(!arg.startsWith('/') && !arg.split('/').includes('..'));
        const out = resolveVirtual(cwd, arg);
        assert.ok(out === cwd || out.startsWith(cwd === '/' ? '/' : `${cwd}/`), JSON.stringify([cwd, arg, out]));
      }),
      RUNS,
    );
  });

  it('parentOf, baseName and joinVirtual agree on resolved paths', () => {
    fc.assert(
      fc.property(cwdArb, (p) => {
        if (p === '/') {
          assert.equal(parentOf(p), '/');
          return;
        }
        assert.equal(joinVirtual(parentOf(p), baseName(p)), p);
        assert.equal(depth(parentOf(p)), depth(p) - 1);
      }),
      RUNS,
    );
  });
});

/* ---------- the local storage jail ---------- */

describe('property: LocalStorage never reaches outside its root', () => {
  let base = '';
  let root = '';
  let outside = '';
  let storage: LocalStorage;
  let view: Storage;

  /** dev.ino ids (as FileStat.id spells them) of everything physically under `dir`, and file contents. */
  function inventory(dir: string) {
    const ids = new Set<string>();
    const contents = new Set<string>();
    const walk = (p: string) => {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) return;
      ids.add(`${st.dev.toString(16)}.${st.ino.toString(16)}`);
      if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
      else contents.add(readFileSync(p, 'utf8'));
    };
    walk(dir);
    return { ids, contents };
  }

  before(async () => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'ftpfleet-props-')));
    root = join(base, 'root');
    outside = join(base, 'outside');
    mkdirSync(join(outside, 'deeper'), { recursive: true });
    writeFileSync(join(outside, 'secret.txt'), 'outside: secret');
    writeFileSync(join(outside, 'deeper', 'more.txt'), 'outside: more');
    writeFileSync(join(base, 'beside.txt'), 'outside: beside the root');
    mkdirSync(join(root, 'sub', 'deep'), { recursive: true });
    mkdirSync(join(root, 'ü-dir'));
    writeFileSync(join(root, 'file.txt'), 'root: file');
    writeFileSync(join(root, 'sub', 'nested.txt'), 'sub: nested');
    writeFileSync(join(root, 'sub', 'deep', 'x'), 'sub: deep x');
    writeFileSync(join(root, 'ü-dir', 'ü.txt'), 'root: ü');
    writeFileSync(join(root, `${TEMP_PREFIX}abc`), 'root: in-flight upload');
    // Symlinks out of the root, absolute and relative, to directories and files.
    symlinkSync(outside, join(root, 'out'));
    symlinkSync('../outside', join(root, 'outrel'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'outfile'));
    symlinkSync('..', join(root, 'up'));
    symlinkSync('../..', join(root, 'sub', 'up2'));
    symlinkSync('../../outside/deeper', join(root, 'sub', 'deep', 'far'));
    // Symlinks that stay inside the root (but lead out of the "/sub" view).
    symlinkSync('sub', join(root, 'inner'));
    symlinkSync('file.txt', join(root, 'innerfile'));
    symlinkSync('..', join(root, 'sub', 'toroot'));
    symlinkSync('../file.txt', join(root, 'sub', 'rootfile'));
    // Odd ones.
    symlinkSync('nowhere', join(root, 'dangling'));
    symlinkSync('loop', join(root, 'loop'));
    storage = new LocalStorage({ root, fsync: false });
    await storage.init();
    view = await storage.scoped('/sub');
  });

  after(() => rmSync(base, { recursive: true, force: true }));

  const names = ['..', '.', '', 'sub', 'deep', 'out', 'outrel', 'outfile', 'up', 'up2', 'far', 'inner', 'innerfile', 'toroot', 'rootfile'];
  const storagePath = fc
    .tuple(
      fc.boolean(),
      fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...names) },
          { weight: 2, arbitrary: fc.constantFrom('file.txt', 'nested.txt', 'secret.txt', 'more.txt', 'deeper', 'outside', 'root', 'beside.txt', 'x') },
          { weight: 1, arbitrary: fc.constantFrom('ü-dir', 'ü.txt', 'dangling', 'loop', `${TEMP_PREFIX}abc`, 'a\0b', '...', '%2e%2e') },
          { weight: 1, arbitrary: unicodeText(6) },
        ),
        { maxLength: 8 },
      ),
      fc.constantFrom('', '/'),
    )
    .map(([abs, segs, tail]) => (abs ? '/' : '') + segs.join('/') + tail);

  async function readAll(stream: Readable): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Runs op; a failure must be a StorageError, a success is returned. */
  async function attempt<T>(what: string, op: () => Promise<T>): Promise<T | null> {
    try {
      return await op();
    } catch (err) {
      assert.ok(err instanceof StorageError, `${what}: not a StorageError: ${String(err)}`);
      return null;
    }
  }

  async function checkJail(store: Storage, jailRoot: string, path: string) {
    const inside = inventory(jailRoot);
    const outsideBefore = readdirSync(outside).sort().join('/') + '|' + readdirSync(base).sort().join('/');
    const st = await attempt(`stat ${path}`, () => store.stat(path));
    if (st) assert.ok(inside.ids.has(st.id), `stat ${JSON.stringify(path)} reached ${st.name} (${st.id}) outside the root`);

    const listed = await attempt(`list ${path}`, async () => {
      const out = [];
      for await (const e of store.list(path)) out.push(e);
      return out;
    });
    for (const e of listed ?? []) {
      assert.ok(inside.ids.has(e.id), `list ${JSON.stringify(path)} showed ${e.name} (${e.id}) from outside the root`);
      assert.ok(!e.name.startsWith(TEMP_PREFIX), `list ${JSON.stringify(path)} showed an in-flight upload`);
    }

    const content = await attempt(`openRead ${path}`, async () => readAll(await store.openRead(path)));
    if (content !== null) assert.ok(inside.contents.has(content), `openRead ${JSON.stringify(path)} read ${JSON.stringify(content)}`);

    const upload = await attempt(`createUpload ${path}`, () => store.createUpload(path));
    if (upload) await upload.abort();
    const outsideAfter = readdirSync(outside).sort().join('/') + '|' + readdirSync(base).sort().join('/');
    assert.equal(outsideAfter, outsideBefore, `operations on ${JSON.stringify(path)} changed a directory outside the root`);
  }

  it('stat, list, openRead and createUpload on random paths never touch anything outside the root', async () => {
    await fc.assert(
      fc.asyncProperty(storagePath, (path) => checkJail(storage, root, path)),
      { ...DISK_RUNS, examples: [['/out/secret.txt'], ['outfile'], ['up/outside/secret.txt'], ['sub/up2'], ['sub/deep/far']] },
    );
  });

  it('a scoped view (home "/sub") never reaches the rest of the root, even through symlinks that stay in the root', async () => {
    await fc.assert(
      fc.asyncProperty(storagePath, (path) => checkJail(view, join(root, 'sub'), path)),
      { ...DISK_RUNS, examples: [['/toroot/file.txt'], ['rootfile'], ['toroot'], ['up2/outside'], ['../file.txt']] },
    );
  });

  it('the fixture really has reachable things inside (the properties above are not vacuous)', async () => {
    const rootIds = inventory(root).ids;
    assert.ok(rootIds.has((await storage.stat('/inner/nested.txt')).id));
    assert.equal(await readAll(await storage.openRead('/innerfile')), 'root: file');
    assert.equal(await readAll(await view.openRead('/deep/x')), 'sub: deep x');
    const listedNames: string[] = [];
    for await (const e of storage.list('/')) listedNames.push(e.name);
    assert.ok(listedNames.includes('inner') && listedNames.includes('file.txt'), listedNames.join(','));
    assert.ok(!listedNames.includes('out') && !listedNames.includes('outfile') && !listedNames.includes('up'), listedNames.join(','));
  });
});
