/**
 * The README's worked balancer examples cannot drift: every fleet file under
 * examples/fleets/ is shown there verbatim, and every
 * "$ ftpfleet lb-config --fleet F --kind K" block holds exactly what the
 * generator prints for it, except runs of lines the README marks as
 * "… N lines trimmed".
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseFleetYaml } from '../../src/lb/fleet.js';
import { generate, OUTPUT_KINDS, type OutputKind } from '../../src/lb/generate.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const EXAMPLES = 'examples/fleets';

interface Block {
  /** README line number of the opening fence. */
  line: number;
  lines: string[];
}

function fencedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  let open: Block | null = null;
  markdown.split('\n').forEach((text, i) => {
    if (/^```/.test(text)) {
      if (open) out.push(open);
      open = open ? null : { line: i + 1, lines: [] };
    } else if (open) {
      open.lines.push(text);
    }
  });
  return out;
}

interface Command {
  block: Block;
  fleet: string;
  kind: OutputKind;
  node?: string;
  output: string[];
}

/** Blocks that start with "$ ftpfleet lb-config … examples/fleets/…": the command and the output shown. */
function commandBlocks(blocks: Block[]): Command[] {
  const out: Command[] = [];
  for (const block of blocks) {
    const m = /^\$ ftpfleet lb-config (.*)$/.exec(block.lines[0] ?? '');
    if (!m || !m[1]!.includes(`${EXAMPLES}/`)) continue;
    const args = m[1]!.trim().split(/\s+/);
    const opt = (name: string) => {
      const i = args.indexOf(name);
      return i < 0 ? undefined : args[i + 1];
    };
    assert.ok(opt('--fleet') && opt('--kind'), `README line ${block.line}: needs --fleet and --kind`);
    out.push({ block, fleet: opt('--fleet')!, kind: opt('--kind') as OutputKind, node: opt('--node'), output: block.lines.slice(1) });
  }
  return out;
}

/** Blocks that start with "# examples/fleets/NAME.yaml": the file they show. */
function fleetBlocks(blocks: Block[]): Map<string, Block> {
  const out = new Map<string, Block>();
  for (const block of blocks) {
    const m = /^# (examples\/fleets\/\S+\.yaml)$/.exec(block.lines[0] ?? '');
    if (m) out.set(m[1]!, block);
  }
  return out;
}

const TRIMMED = /^\s*[#!]?\s*… (\d+) lines trimmed\b/;

/**
 * The generated lines as the README shows them: each trim marker stands for
 * that many lines. Equal to `shown` exactly when the README is faithful.
 */
function asShown(shown: string[], generated: string[]): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const line of shown) {
    const m = TRIMMED.exec(line);
    if (m) {
      out.push(line);
      pos += Number(m[1]);
    } else {
      out.push(pos < generated.length ? generated[pos]! : '<past the end of the output>');
      pos++;
    }
  }
  if (pos > generated.length) out.push(`<${pos - generated.length} lines trimmed past the end of the output>`);
  return [...out, ...generated.slice(pos)];
}

const blocks = fencedBlocks(README);
const commands = commandBlocks(blocks);
const fleets = fleetBlocks(blocks);
const exampleFiles = readdirSync(join(ROOT, EXAMPLES))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `${EXAMPLES}/${f}`);

describe('README: worked balancer examples', () => {
  it('has the section, and an example for every lb-config kind and every example fleet', () => {
    assert.match(README, /^## Deploying behind a load balancer$/m);
    assert.ok(exampleFiles.length > 0, `no fleet files under ${EXAMPLES}`);
    assert.deepEqual(OUTPUT_KINDS.filter((k) => !commands.some((c) => c.kind === k)), [], 'kinds without a worked example');
    for (const file of exampleFiles) {
      assert.ok(fleets.has(file), `README shows ${file}`);
      assert.ok(commands.some((c) => c.fleet === file), `README runs lb-config on ${file}`);
    }
    for (const c of commands) assert.ok(exampleFiles.includes(c.fleet), `README line ${c.block.line}: no such file ${c.fleet}`);
  });

  it('shows every example fleet file as it is', () => {
    for (const [file, block] of fleets) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      assert.deepEqual(block.lines, text.replace(/\n$/, '').split('\n'), `README line ${block.line} vs ${file}`);
    }
  });

  it('shows what lb-config generates for each example, without warnings', () => {
    assert.ok(commands.length > 0);
    for (const c of commands) {
      const fleet = parseFleetYaml(readFileSync(join(ROOT, c.fleet), 'utf8'), c.fleet);
      const result = generate(c.kind, fleet, { node: c.node });
      assert.deepEqual(result.warnings, [], `${c.fleet} --kind ${c.kind}`);
      const generated = result.text.replace(/\n$/, '').split('\n');
      assert.deepEqual(c.output, asShown(c.output, generated), `README line ${c.block.line}: ${c.block.lines[0]}`);
      assert.ok(c.output.some((l) => !TRIMMED.test(l)), `README line ${c.block.line} shows some of the output`);
    }
  });
});
