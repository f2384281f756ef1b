/**
 * Python's `fnmatch` (3.11, POSIX) for artifact rule patterns: the whole path is matched,
 * `*` and `?` match `/` too, `[...]`/`[!...]` are character sets, there is no escaping,
 * and matching is case-sensitive (`os.path.normcase` is the identity on POSIX).
 * `fnmatchTranslate` follows `fnmatch.translate` step by step, emitting a JavaScript
 * regular expression (flags `su`) instead of a Python one.
 */

const STAR = Symbol('star');

/** Characters that need a backslash outside a character set in a `u`-flag regex. */
const REGEX_SPECIAL = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}', '/', '-']);

function escapeLiteral(c: string): string {
  // '-' and '/' are not special outside a class, and `u` mode rejects `\-` there.
  if (c === '-' || c === '/') return c;
  return REGEX_SPECIAL.has(c) ? `\\${c}` : c;
}

/** Escapes a set body for a JS class: backslash is already doubled; `[`/`]` made literal. */
function classBody(stuff: string): string {
  return stuff.replace(/[[\]]/g, (c) => `\\${c}`);
}

/** The regex source (anchored) equivalent to Python's `fnmatch.translate(pattern)`. */
export function fnmatchTranslate(pattern: string): string {
  const pat = Array.from(pattern); // code points, as Python indexes str
  const n = pat.length;
  const res: (string | typeof STAR)[] = [];
  let i = 0;
  while (i < n) {
    const c = pat[i];
    i += 1;
    if (c === '*') {
      if (res.length === 0 || res[res.length - 1] !== STAR) res.push(STAR);
    } else if (c === '?') {
      res.push('.');
    } else if (c === '[') {
      let j = i;
      if (j < n && pat[j] === '!') j += 1;
      if (j < n && pat[j] === ']') j += 1;
      while (j < n && pat[j] !== ']') j += 1;
      if (j >= n) {
        res.push('\\[');
        continue;
      }
      let stuff: string;
      const slice = (a: number, b: number) => pat.slice(a, b).join('');
      if (!pat.slice(i, j).includes('-')) {
        stuff = slice(i, j).replace(/\\/g, '\\\\');
      } else {
        const chunks: string[] = [];
        let k = pat[i] === '!' ? i + 2 : i + 1;
        for (;;) {
          k = pat.indexOf('-', k);
          if (k < 0 || k >= j) break;
          chunks.push(slice(i, k));
          i = k + 1;
          k = k + 3;
        }
        const chunk = slice(i, j);
        if (chunk) chunks.push(chunk);
        else chunks[chunks.length - 1] += '-';
        // Remove empty ranges (e.g. z-a), as Python does: they are invalid in a regex.
        for (let m = chunks.length - 1; m > 0; m--) {
          const prev = Array.from(chunks[m - 1]);
          const next = Array.from(chunks[m]);
          if (prev[prev.length - 1].codePointAt(0)! > next[0].codePointAt(0)!) {
            chunks[m - 1] = prev.slice(0, -1).join('') + next.slice(1).join('');
            chunks.splice(m, 1);
          }
        }
        stuff = chunks.map((s) => s.replace(/\\/g, '\\\\').replace(/-/g, '\\-')).join('-');
      }
      i = j + 1;
      if (!stuff) {
        res.push('(?!)');
      } else if (stuff === '!') {
        res.push('.');
      } else {
        if (stuff[0] === '!') stuff = '^' + classBody(stuff.slice(1));
        else if (stuff[0] === '^') stuff = '\\^' + classBody(stuff.slice(1));
        else stuff = classBody(stuff);
        res.push(`[${stuff}]`);
      }
    } else {
      res.push(escapeLiteral(c));
    }
  }
  // Python uses atomic groups `(?>.*?fixed)` for interior stars as a speed-up; for a whole-string
  // match a plain `.*` accepts exactly the same strings.
  const out = res.map((r) => (r === STAR ? '.*' : r)).join('');
  return `^(?:${out})$`;
}

const cache = new Map<string, RegExp>();

/** The compiled matcher for a pattern (cached: rule patterns repeat across steps). */
export function fnmatchRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(fnmatchTranslate(pattern), 'su');
    if (cache.size > 10_000) cache.clear();
    cache.set(pattern, re);
  }
  return re;
}

/** `fnmatch.fnmatch(name, pattern)` on POSIX (case-sensitive). */
export function fnmatch(name: string, pattern: string): boolean {
  return fnmatchRegExp(pattern).test(name);
}

/** `fnmatch.filter(names, pattern)`: the names that match, in iteration order. */
export function fnmatchFilter(names: Iterable<string>, pattern: string): string[] {
  const re = fnmatchRegExp(pattern);
  const out: string[] = [];
  for (const name of names) if (re.test(name)) out.push(name);
  return out;
}
