/**
 * Parsing of control-connection command lines (RFC 959 §4.1, RFC 2640 for UTF-8).
 * Pure: bytes in, a parsed command or a parse error out.
 */

export interface ParsedCommand {
  /** Upper-cased command verb, e.g. "RETR". */
  verb: string;
  /** Everything after the first space, unmodified (may be empty). */
  arg: string;
}

export type ParseResult =
  | { ok: true; command: ParsedCommand }
  | { ok: false; reason: 'empty' | 'nul' | 'bad-verb' };

const TELNET_IAC = 0xff;

/**
 * Removes Telnet control sequences from a command line. Clients send
 * IAC IP IAC DM before ABOR (RFC 959 §4.1.3); with the DM byte sent as urgent
 * data it may or may not arrive in-band, so any IAC + command byte is dropped,
 * IAC IAC stands for a literal 0xFF, and a lone IAC is dropped.
 */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(TELNET_IAC)) return line;
  const out = Buffer.allocUnsafe(line.length);
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== TELNET_IAC) {
      out[n++] = b;
      continue;
    }
    const next = line[i + 1];
    if (next === TELNET_IAC) {
      out[n++] = TELNET_IAC;
      i++;
    } else if (next !== undefined && next >= 240) {
      i++; // IAC + Telnet command (IP, DM, AYT, ...)
      // WILL/WONT/DO/DONT carry one option byte.
      if (next >= 251 && next <= 254) i++;
    }
  }
  return out.subarray(0, n);
}

const VERB = /^[A-Za-z]{3,4}$/;

/** Parses one command line (without its CRLF). */
export function parseCommandLine(raw: Buffer): ParseResult {
  const bytes = stripTelnet(raw);
  if (bytes.includes(0)) return { ok: false, reason: 'nul' };
  const line = bytes.toString('utf8').replace(/^\s+/, '');
  if (line.length === 0) return { ok: false, reason: 'empty' };
  const space = line.indexOf(' ');
  const verb = space === -1 ? line : line.slice(0, space);
  if (!VERB.test(verb)) return { ok: false, reason: 'bad-verb' };
  const arg = space === -1 ? '' : line.slice(space + 1);
  return { ok: true, command: { verb: verb.toUpperCase(), arg } };
}

/**
 * Splits a control stream into lines. A line ends at CRLF, LF or a bare CR:
 * RFC 959 says CRLF, some devices send bare LF, and a client that sends
 * "ABOR\r\n" with MSG_OOB (as Python's ftplib does) loses the final LF to
 * TCP urgent-data handling. An LF (or Telnet NUL) right after a CR is
 * skipped. A line longer than maxLength is reported once as oversize and its
 * remaining bytes are discarded up to the next line end, so a hostile client
 * can never make the buffer grow past maxLength.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;
  private afterCR = false;

  constructor(private readonly maxLength: number) {}

  /** Feeds bytes; returns the complete lines and oversize markers in order. */
  push(chunk: Buffer): Array<Buffer | 'oversize'> {
    const out: Array<Buffer | 'oversize'> = [];
    let start = 0;
    if (this.afterCR && chunk.length > 0) {
      if (chunk[0] === 0x0a || chunk[0] === 0x00) start = 1;
      this.afterCR = false;
    }
    while (start < chunk.length) {
      let end = start;
      while (end < chunk.length && chunk[end] !== 0x0a && chunk[end] !== 0x0d) end++;
      const piece = chunk.subarray(start, end);
      if (!this.discarding) {
        if (this.size + piece.length > this.maxLength) {
          this.discarding = true;
          this.parts = [];
          this.size = 0;
          out.push('oversize');
        } else if (piece.length > 0) {
          this.parts.push(piece);
          this.size += piece.length;
        }
      }
      if (end === chunk.length) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        // Copy: the pieces may be views into a larger socket buffer.
        out.push(Buffer.from(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size)));
      }
      this.parts = [];
      this.size = 0;
      start = end + 1;
      if (chunk[end] === 0x0d) {
        if (start === chunk.length) this.afterCR = true;
        else if (chunk[start] === 0x0a || chunk[start] === 0x00) start++;
      }
    }
    return out;
  }

  /** Bytes of an unfinished line currently held. */
  get pending(): number {
    return this.size;
  }

  /** Whether a line has begun and not yet ended (counting an oversize one being discarded). */
  get midLine(): boolean {
    return this.size > 0 || this.discarding;
  }
}
