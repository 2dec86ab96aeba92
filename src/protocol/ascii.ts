/**
 * TYPE A line-ending conversion (RFC 959 §3.1.1.1): the wire uses CRLF,
 * the store keeps LF. Stateful across chunks so a CR at the end of one chunk
 * and an LF at the start of the next are still seen as one CRLF.
 */

/** Converts LF to CRLF for downloads. Stateless: every LF gets a CR. */
export function toNetworkAscii(chunk: Buffer): Buffer {
  let count = 0;
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) count++;
  if (count === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + count);
  let o = 0;
  let from = 0;
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
    o += chunk.copy(out, o, from, i);
    out[o++] = 0x0d;
    out[o++] = 0x0a;
    from = i + 1;
  }
  chunk.copy(out, o, from);
  return out;
}

/** Converts CRLF to LF for uploads; a lone CR is kept. */
export class AsciiUploadDecoder {
  private pendingCR = false;

  push(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let o = 0;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk.length === 0) {
        this.pendingCR = true;
        return out.subarray(0, 0);
      }
      if (chunk[0] !== 0x0a) out[o++] = 0x0d;
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0d) {
        if (i + 1 === chunk.length) {
          this.pendingCR = true;
          break;
        }
        if (chunk[i + 1] === 0x0a) continue;
      }
      out[o++] = b;
    }
    return out.subarray(0, o);
  }

  /** Bytes still held at end of stream (a trailing lone CR). */
  end(): Buffer {
    if (!this.pendingCR) return Buffer.alloc(0);
    this.pendingCR = false;
    return Buffer.from([0x0d]);
  }
}
