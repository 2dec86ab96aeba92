/**
 * Parsing of server replies off a control connection (RFC 959 §4.2), for
 * the gateway's side of a backend session. A multi-line reply runs from
 * "ddd-text" to the first line that starts with the same "ddd " (or is just
 * "ddd"); lines in between are kept as they are. Pure: bytes in, replies out.
 */
import { LineSplitter } from './commandLine.js';
import type { Reply } from './replies.js';

export class ReplyParseError extends Error {}

export class ReplyParser {
  private readonly splitter: LineSplitter;
  private open: { code: number; lines: string[] } | null = null;

  /** `maxLines` bounds one multi-line reply (a hostile or broken server). */
  constructor(
    maxLineLength = 8192,
    private readonly maxLines = 10_000,
  ) {
    this.splitter = new LineSplitter(maxLineLength);
  }

  /** Feeds bytes; returns the replies completed by them. Throws ReplyParseError on garbage. */
  push(chunk: Buffer): Reply[] {
    const out: Reply[] = [];
    for (const raw of this.splitter.push(chunk)) {
      if (raw === 'oversize') throw new ReplyParseError('reply line too long');
      const line = raw.toString('utf8');
      if (this.open) {
        if (line === String(this.open.code) || line.startsWith(`${this.open.code} `)) {
          this.open.lines.push(line.slice(4));
          out.push(this.open);
          this.open = null;
        } else {
          if (this.open.lines.length >= this.maxLines) throw new ReplyParseError('multi-line reply too long');
          this.open.lines.push(line);
        }
        continue;
      }
      const m = /^([1-5]\d\d)([ -]?)(.*)$/.exec(line);
      if (!m) {
        if (line.length === 0) continue;
        throw new ReplyParseError(`not an FTP reply: ${JSON.stringify(line.slice(0, 80))}`);
      }
      const code = Number(m[1]);
      if (m[2] === '-') this.open = { code, lines: [m[3]!] };
      else out.push({ code, lines: [m[3]!] });
    }
    return out;
  }
}

/** A 1xx reply: the command is under way and another reply follows (RFC 959 §4.2). */
export function isPreliminary(r: Reply): boolean {
  return r.code < 200;
}
