/**
 * Virtual paths as the client sees them: absolute, "/"-separated, rooted at
 * the user's home. Resolution is purely lexical, and ".." at the root stays at
 * the root, so no argument can name anything above "/". (The storage backend
 * separately refuses symlinks that lead out of the root.)
 */

/** Resolves a client path argument against the current directory. */
export function resolveVirtual(cwd: string, arg: string): string {
  const input = arg.startsWith('/') ? arg : `${cwd}/${arg}`;
  const out: string[] = [];
  for (const seg of input.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinVirtual(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Quotes a path for a 257 reply: embedded quotes are doubled (RFC 959 Appendix II). */
export function quotePath(path: string): string {
  return `"${path.replace(/"/g, '""')}"`;
}
