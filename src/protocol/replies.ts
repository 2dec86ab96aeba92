/**
 * FTP reply formatting (RFC 959 §4.2). A multi-line reply is "ddd-first",
 * middle lines, and "ddd last"; middle lines that start with a digit are
 * indented by one space so no client mistakes them for the end.
 */

export interface Reply {
  code: number;
  lines: string[];
}

export function reply(code: number, ...lines: string[]): Reply {
  return { code, lines: lines.length > 0 ? lines : [''] };
}

function clean(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export function formatReply(r: Reply): string {
  const lines = r.lines.map(clean);
  if (lines.length === 1) return `${r.code} ${lines[0]}\r\n`;
  const out: string[] = [`${r.code}-${lines[0]}`];
  for (let i = 1; i < lines.length - 1; i++) {
    const l = lines[i]!;
    out.push(/^\d/.test(l) || l.length === 0 ? ` ${l}` : l);
  }
  out.push(`${r.code} ${lines[lines.length - 1]}`);
  return out.join('\r\n') + '\r\n';
}
