/**
 * Property-style tests: thousands of random byte strings through the parsers
 * that see untrusted client input. Random but reproducible per run is not
 * needed: a failure message carries the input that broke the property.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { LineSplitter, parseCommandLine, stripTelnet } from '../../src/protocol/commandLine.js';
import { resolveVirtual } from '../../src/protocol/virtualPath.js';
import { parseEprtArg, parsePortArg } from '../../src/protocol/hostPort.js';

const RUNS = 3000;

/** Random bytes, biased towards the bytes the parsers care about. */
function randomInput(maxLength = 64): Buffer {
  const len = randomInt(0, maxLength + 1);
  const raw = randomBytes(len);
  const special = Buffer.from('/.\\|!,:0123456789 \r\n\0\xff\xf4\xf2\xfb', 'latin1');
  for (let i = 0; i < len; i++) {
    if (raw[i]! < 96) raw[i] = special[raw[i]! % special.length]!;
  }
  return raw;
}

/** Random path-like text built from path-ish pieces. */
function randomPathText(): string {
  const pieces = ['..', '.', '', 'a', 'b c', '...', '..a', '/', '//', '\\', '\0', '~', '%2e%2e', 'ü'];
  const n = randomInt(0, 12);
  let s = randomInt(2) ? '/' : '';
  for (let i = 0; i < n; i++) s += pieces[randomInt(pieces.length)] + (randomInt(3) ? '/' : '');
  return s;
}

const show = (b: Buffer) => b.toString('hex');

describe('random input properties', () => {
  it('parseCommandLine never throws and returns a well-formed result', () => {
    for (let i = 0; i < RUNS; i++) {
      const input = randomInput();
      let r: ReturnType<typeof parseCommandLine>;
      try {
        r = parseCommandLine(input);
      } catch (err) {
        assert.fail(`threw on ${show(input)}: ${String(err)}`);
      }
      if (r.ok) {
        assert.match(r.command.verb, /^[A-Z]{3,4}$/, show(input));
        assert.equal(typeof r.command.arg, 'string');
      } else {
        assert.ok(['empty', 'nul', 'bad-verb'].includes(r.reason), show(input));
      }
    }
  });

  it('stripTelnet never lengthens its input and leaves no IAC command pairs', () => {
    for (let i = 0; i < RUNS; i++) {
      const input = randomInput();
      const out = stripTelnet(input);
      assert.ok(out.length <= input.length, show(input));
      if (!input.includes(0xff)) assert.ok(out.equals(input), show(input));
    }
  });

  it('LineSplitter never throws, never buffers past max, and agrees with one-shot splitting', () => {
    for (let i = 0; i < RUNS / 3; i++) {
      const max = randomInt(1, 40);
      const stream = Buffer.concat(Array.from({ length: randomInt(1, 6) }, () => randomInput(48)));
      const whole = new LineSplitter(max).push(stream);
      const s = new LineSplitter(max);
      const pieced: Array<Buffer | 'oversize'> = [];
      let at = 0;
      while (at < stream.length) {
        const n = randomInt(1, 20);
        pieced.push(...s.push(stream.subarray(at, at + n)));
        at += n;
        assert.ok(s.pending <= max, `pending ${s.pending} > ${max} for ${show(stream)}`);
      }
      const norm = (ls: Array<Buffer | 'oversize'>) => ls.map((l) => (l === 'oversize' ? l : show(l)));
      assert.deepEqual(norm(pieced), norm(whole), `max ${max}, stream ${show(stream)}`);
      for (const line of whole) {
        if (line === 'oversize') continue;
        assert.ok(line.length <= max, show(stream));
        assert.equal(line.includes(0x0a), false, show(stream));
        assert.equal(line.includes(0x0d), false, show(stream));
      }
      // At most one line (or marker) per line end (CR or LF), plus one oversize marker for the tail.
      const ends = stream.filter((b) => b === 0x0a || b === 0x0d).length;
      assert.ok(whole.length <= ends + 1, show(stream));
      assert.ok(whole.filter((l) => l !== 'oversize').length <= ends, show(stream));
    }
  });

  it('resolveVirtual always gives an absolute path with no "..", "." or empty segment', () => {
    const check = (cwd: string, arg: string) => {
      let out: string;
      try {
        out = resolveVirtual(cwd, arg);
      } catch (err) {
        assert.fail(`threw on ${JSON.stringify([cwd, arg])}: ${String(err)}`);
      }
      const where = JSON.stringify([cwd, arg, out]);
      assert.ok(out.startsWith('/'), where);
      const segs = out.split('/').slice(1);
      assert.ok(!segs.includes('..'), where);
      if (out !== '/') assert.ok(!segs.includes('.') && !segs.includes(''), where);
      assert.equal(resolveVirtual('/', out), out, where);
    };
    for (let i = 0; i < RUNS; i++) {
      check(randomPathText(), randomPathText());
      check(resolveVirtual('/', randomInput().toString('latin1')), randomInput().toString('utf8'));
    }
  });

  it('parsePortArg never throws and only returns valid hosts and ports', () => {
    for (let i = 0; i < RUNS; i++) {
      const text =
        i % 2 === 0
          ? randomInput(30).toString('latin1')
          : Array.from({ length: randomInt(4, 8) }, () => String(randomInt(0, 400))).join(',');
      const r = parsePortArg(text);
      if (r === null) continue;
      assert.match(r.host, /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, text);
      for (const b of r.host.split('.')) assert.ok(Number(b) <= 255, text);
      assert.ok(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535, text);
    }
  });

  it('parseEprtArg never throws and only returns valid families, hosts and ports', () => {
    const hosts = ['10.0.0.1', '::1', '2001:db8::7', '300.1.1.1', 'x', ''];
    for (let i = 0; i < RUNS; i++) {
      let text: string;
      if (i % 2 === 0) {
        text = randomInput(40).toString('latin1');
      } else {
        const d = String.fromCharCode(randomInt(30, 130));
        text = `${d}${randomInt(0, 4)}${d}${hosts[randomInt(hosts.length)]}${d}${randomInt(0, 70000)}${d}`;
      }
      const r = parseEprtArg(text);
      if (r === null || r === 'unsupported') continue;
      assert.ok(r.family === 4 || r.family === 6, text);
      assert.ok(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535, text);
      assert.ok(r.family === 4 ? /^\d+\.\d+\.\d+\.\d+$/.test(r.host) : r.host.includes(':'), text);
    }
  });
});
