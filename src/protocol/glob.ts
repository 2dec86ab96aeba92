/** `*` and `?` globbing of one path segment, as LIST and NLST accept it. */

export function hasGlob(text: string): boolean {
  return /[*?]/.test(text);
}

/**
 * Matches without a regular expression: a backtracking regex takes exponential
 * time on patterns like "*a*a*a*a*a*a*b" (a client-chosen LIST argument), which
 * would stall every session. This greedy matcher that only revisits the last
 * `*` needs at most |pattern|·|name| steps. Works on code points, like the `u` regex.
 */
export function matchGlob(pattern: string, name: string): boolean {
  const p = Array.from(pattern);
  const s = Array.from(name);
  let pi = 0;
  let si = 0;
  let star = -1; // index in p of the last `*` seen
  let resume = 0; // index in s where that `*` currently stops
  while (si < s.length) {
    if (pi < p.length && p[pi] === '*') {
      star = pi++;
      resume = si;
    } else if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (star !== -1) {
      pi = star + 1;
      si = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}
