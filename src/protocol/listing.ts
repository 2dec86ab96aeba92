/**
 * Listing formats: LIST in `ls -l` form (what curl, lftp, FileZilla, busybox
 * and Python parse), NLST names, and MLSx facts (RFC 3659 §7).
 */

export interface ListEntry {
  name: string;
  type: 'file' | 'dir';
  size: number;
  mtime: Date;
  /** Stable id for the MLSx "unique" fact. */
  unique?: string;
}

export interface EntryPermissions {
  read: boolean;
  write: boolean;
  delete: boolean;
  rename: boolean;
  mkdir: boolean;
  list: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** One `ls -l` line. Recent files show the time, older ones (or future) the year. */
export function formatListLine(e: ListEntry, now: Date = new Date()): string {
  const mode = e.type === 'dir' ? 'drwxr-xr-x' : '-rw-r--r--';
  const links = e.type === 'dir' ? 2 : 1;
  const m = e.mtime;
  const age = now.getTime() - m.getTime();
  const when =
    age >= 0 && age < SIX_MONTHS_MS
      ? `${pad2(m.getUTCHours())}:${pad2(m.getUTCMinutes())}`
      : ` ${m.getUTCFullYear()}`;
  const date = `${MONTHS[m.getUTCMonth()]} ${String(m.getUTCDate()).padStart(2, ' ')} ${when}`;
  return `${mode} ${String(links).padStart(3)} ftp      ftp      ${String(e.size).padStart(12)} ${date} ${e.name}`;
}

/** YYYYMMDDHHMMSS in UTC (RFC 3659 §2.3), as MDTM and the modify fact use. */
export function formatTimeVal(d: Date): string {
  return (
    String(d.getUTCFullYear()).padStart(4, '0') +
    pad2(d.getUTCMonth() + 1) +
    pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) +
    pad2(d.getUTCMinutes()) +
    pad2(d.getUTCSeconds())
  );
}

/** Parses YYYYMMDDHHMMSS[.sss] (UTC); null when invalid. */
export function parseTimeVal(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  // Not Date.UTC: it maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  if (date.getUTCDate() !== d) return null; // e.g. Feb 30
  return date;
}

export const MLST_FACTS = ['type', 'size', 'modify', 'perm', 'unique'] as const;
export type MlstFact = (typeof MLST_FACTS)[number];

function permFact(e: ListEntry, p: EntryPermissions): string {
  let s = '';
  if (e.type === 'file') {
    if (p.write) s += 'a';
    if (p.delete) s += 'd';
    if (p.rename) s += 'f';
    if (p.read) s += 'r';
    if (p.write) s += 'w';
  } else {
    if (p.write) s += 'c';
    if (p.delete) s += 'd';
    if (p.list) s += 'e';
    if (p.rename) s += 'f';
    if (p.list) s += 'l';
    if (p.mkdir) s += 'm';
    if (p.delete) s += 'p';
  }
  return s;
}

/**
 * The facts part of an MLSD/MLST line, "type=file;size=3;...; " — note the
 * single space before the name (RFC 3659 §7.2). `type` may be cdir/pdir for
 * the listed directory itself.
 */
export function formatMlsxFacts(
  e: ListEntry,
  perms: EntryPermissions,
  facts: readonly MlstFact[],
  typeOverride?: 'cdir' | 'pdir',
): string {
  let out = '';
  for (const f of facts) {
    switch (f) {
      case 'type':
        out += `type=${typeOverride ?? e.type};`;
        break;
      case 'size':
        if (e.type === 'file') out += `size=${e.size};`;
        break;
      case 'modify':
        out += `modify=${formatTimeVal(e.mtime)};`;
        break;
      case 'perm':
        out += `perm=${permFact(e, perms)};`;
        break;
      case 'unique':
        if (e.unique) out += `unique=${e.unique};`;
        break;
    }
  }
  return out;
}

export function formatMlsxLine(
  e: ListEntry,
  perms: EntryPermissions,
  facts: readonly MlstFact[],
  typeOverride?: 'cdir' | 'pdir',
): string {
  return `${formatMlsxFacts(e, perms, facts, typeOverride)} ${e.name}`;
}

/** The FEAT line for MLST: every fact, the enabled ones starred. */
export function mlstFeatLine(enabled: readonly MlstFact[]): string {
  return 'MLST ' + MLST_FACTS.map((f) => `${f}${enabled.includes(f) ? '*' : ''};`).join('');
}

/** Parses "OPTS MLST type;size;" into the known facts (unknown ones dropped). */
export function parseMlstOpts(arg: string): MlstFact[] {
  const wanted = arg
    .split(';')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  return MLST_FACTS.filter((f) => wanted.includes(f));
}

/** Splits LIST/NLST arguments into option flags (-a, -l, -la…) and a path. */
export function splitListArgs(arg: string): { flags: string; path: string } {
  let rest = arg.trim();
  let flags = '';
  while (/^-[A-Za-z]+(\s|$)/.test(rest)) {
    const m = /^-([A-Za-z]+)\s*/.exec(rest)!;
    flags += m[1];
    rest = rest.slice(m[0].length);
  }
  return { flags, path: rest };
}
