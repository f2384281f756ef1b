/**
 * Exclude patterns with the semantics in-toto's runlib gets from Python `pathspec`'s
 * 'gitwildmatch' (v0.11): each pattern becomes one anchored regular expression over the
 * normalized relative path; the last matching pattern decides ('!' re-includes).
 * Unlike .gitignore, a path and its parents are not checked separately — runlib prunes
 * excluded directories while walking instead.
 */

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

function escapeRegex(ch: string): string {
  return ch.replace(REGEX_SPECIAL, '\\$&');
}

/** One path segment glob (`*`, `?`, `[...]`, `\x`) as regex source; never crosses `/`. */
function translateSegment(seg: string, original: string): string {
  let out = '';
  let escaped = false;
  let i = 0;
  while (i < seg.length) {
    const ch = seg[i++];
    if (escaped) {
      escaped = false;
      out += escapeRegex(ch);
    } else if (ch === '\\') {
      escaped = true;
    } else if (ch === '*') {
      out += '[^/]*';
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      let j = i;
      if (j < seg.length && seg[j] === '!') j++;
      if (j < seg.length && seg[j] === ']') j++;
      while (j < seg.length && seg[j] !== ']') j++;
      if (j < seg.length) {
        j++;
        let expr = '[';
        if (seg[i] === '!') {
          expr += '^';
          i++;
        } else if (seg[i] === '^') {
          expr += '\\^';
          i++;
        }
        expr += seg.slice(i, j).replace(/\\/g, '\\\\');
        out += expr;
        i = j;
      } else {
        out += '\\[';
      }
    } else {
      out += escapeRegex(ch);
    }
  }
  if (escaped) throw new Error(`invalid exclude pattern ${JSON.stringify(original)}: trailing backslash`);
  return out;
}

export interface CompiledPattern { regex: RegExp; include: boolean; source: string }

/** Compiles one pattern; returns null for comments, blank lines and `/` (no-ops in pathspec). */
export function compileGitWildMatch(original: string): CompiledPattern | null {
  let pattern = original.trim();
  if (pattern === '' || pattern.startsWith('#') || pattern === '/') return null;
  let include = true;
  if (pattern.startsWith('!')) {
    include = false;
    pattern = pattern.slice(1);
  }
  const segs = pattern.split('/');
  for (let i = segs.length - 1; i > 0; i--) {
    if (segs[i - 1] === '**' && segs[i] === '**') segs.splice(i, 1);
  }
  let override: string | null = null;
  if (segs.length === 2 && segs[0] === '**' && segs[1] === '') override = '^.+/.*$';
  if (segs[0] === '') {
    segs.shift(); // anchored to the root
  } else if (segs.length === 1 || (segs.length === 2 && segs[1] === '')) {
    if (segs[0] !== '**') segs.unshift('**'); // a bare name matches at any depth
  }
  if (segs.length === 0) throw new Error(`invalid exclude pattern ${JSON.stringify(original)}`);
  if (segs[segs.length - 1] === '' && segs.length > 1) segs[segs.length - 1] = '**';
  let source: string;
  if (override) {
    source = override;
  } else {
    const out: string[] = ['^'];
    let needSlash = false;
    const end = segs.length - 1;
    segs.forEach((seg, i) => {
      if (seg === '**') {
        if (i === 0 && i === end) out.push('[^/]+(?:/.*)?');
        else if (i === 0) {
          out.push('(?:.+/)?');
          needSlash = false;
        } else if (i === end) out.push('/.*');
        else {
          out.push('(?:/.+)?');
          needSlash = true;
        }
      } else if (seg === '*') {
        if (needSlash) out.push('/');
        out.push('[^/]+');
        if (i === end) out.push('(?:/.*)?');
        needSlash = true;
      } else {
        if (needSlash) out.push('/');
        out.push(translateSegment(seg, original));
        if (i === end) out.push('(?:/.*)?');
        needSlash = true;
      }
    });
    out.push('$');
    source = out.join('');
  }
  // 'u' so that '.' and classes work on code points as Python's re does on str.
  return { regex: new RegExp(source, 'u'), include, source: original };
}

/** A compiled exclude list; `matches(path)` is pathspec's `match_file`. */
export class ExcludeFilter {
  private readonly patterns: CompiledPattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = [];
    for (const p of patterns) {
      const compiled = compileGitWildMatch(p);
      if (compiled) this.patterns.push(compiled);
    }
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  matches(path: string): boolean {
    // pathspec's normalize_file: drop one leading '/' or './'
    let p = path;
    if (p.startsWith('/')) p = p.slice(1);
    else if (p.startsWith('./')) p = p.slice(2);
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.regex.test(p)) matched = pattern.include;
    }
    return matched;
  }
}
