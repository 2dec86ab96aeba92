/** `*` and `?` globbing of one path segment, as LIST and NLST accept it. */

export function hasGlob(text: string): boolean {
  return /[*?]/.test(text);
}

export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(re + '$', 'su'); // u: `?` matches one code point, not half a surrogate pair
}

export function matchGlob(pattern: string, name: string): boolean {
  return globToRegExp(pattern).test(name);
}
