/**
 * Reading FTP replies on the client side (RFC 959 §4.2): the counterpart of
 * protocol/replies.ts's formatReply. Pure: text in, replies out.
 */
import type { Reply } from '../protocol/replies.js';

/**
 * Turns the bytes of a control connection into whole replies. A multi-line
 * reply starts with "ddd-" and ends at the first line that starts with the
 * same code and a space (or is the bare code).
 */
export class ReplyReader {
  private partial = '';
  private open: { code: number; lines: string[] } | null = null;

  /** Feeds received text; returns the replies it completes, in order. */
  push(text: string): Reply[] {
    this.partial += text;
    const done: Reply[] = [];
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) !== -1) {
      const line = this.partial.slice(0, nl).replace(/\r$/, '');
      this.partial = this.partial.slice(nl + 1);
      const r = this.line(line);
      if (r) done.push(r);
    }
    return done;
  }

  /** Bytes received that do not end a line yet (for "the server said…" on a closed connection). */
  get pending(): string {
    return this.partial;
  }

  private line(line: string): Reply | null {
    if (this.open) {
      const end = new RegExp(`^${this.open.code}(?: |$)`).exec(line);
      if (end) {
        const r = { code: this.open.code, lines: [...this.open.lines, line.slice(4)] };
        this.open = null;
        return r;
      }
      this.open.lines.push(line);
      return null;
    }
    const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
    if (!m) return { code: 0, lines: [line] }; // not a reply line: pass it on as such
    const code = Number(m[1]);
    if (m[2] === '-') {
      this.open = { code, lines: [m[3]!] };
      return null;
    }
    return { code, lines: [m[3]!] };
  }
}

/** "227 Entering Passive Mode (…)." — a reply as one line of text, for reports. */
export function replyText(r: Reply): string {
  const text = r.lines
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(' / ');
  return text ? `${r.code} ${text}` : String(r.code);
}

/** The node id in our STAT reply ("Node <id>"), or null when the server says none. */
export function nodeFromStat(r: Reply): string | null {
  for (const line of r.lines) {
    const m = /^\s*Node\s+(\S+)/.exec(line);
    if (m) return m[1]!;
  }
  return null;
}
