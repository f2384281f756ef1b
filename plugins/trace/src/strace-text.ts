/**
 * strace's output syntax, read back: one line per event (`-f -ttt -yy -X raw`), C-escaped
 * strings, fd annotations `3</abs/path>`, structs and arrays. Pure text in, values out.
 */

/** Decodes a C-escaped string body (no surrounding quotes) to UTF-8 text. */
export function unescapeC(body: string): string {
  return unescapeBytes(body).toString('utf8');
}

/** Decodes a C-escaped string body (no surrounding quotes) to its bytes. */
export function unescapeBytes(body: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      const code = body.charCodeAt(i);
      if (code < 0x80) bytes.push(code);
      else bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = body[++i];
    if (n === undefined) break;
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8, e: 27, '\\': 92, '"': 34, "'": 39, '?': 63 };
    if (n in simple) bytes.push(simple[n]);
    else if (n === 'x') {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(body.slice(i + 1))![0];
      bytes.push(parseInt(hex, 16));
      i += hex.length;
    } else if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      bytes.push(parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else bytes.push(...Buffer.from(n, 'utf8'));
  }
  return Buffer.from(bytes);
}

/** A quoted string at `s[i] === '"'`: its decoded text, whether strace cut it (`"..."...`), and the index after it. */
export function readQuoted(s: string, i: number): { text: string; raw: string; truncated: boolean; end: number } {
  let j = i + 1;
  while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
  const raw = s.slice(i + 1, j);
  let end = j + 1;
  let truncated = false;
  if (s.startsWith('...', end)) {
    truncated = true;
    end += 3;
  }
  return { text: unescapeC(raw), raw, truncated, end };
}

/** Index of the '>' closing the annotation that opens at `s[i] === '<'` (nested <char M:N> included). */
export function annotationEnd(s: string, i: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '\\') { j++; continue; }
    if (c === '<') depth++;
    else if (c === '>' && --depth === 0) return j;
  }
  return s.length;
}

/** An fd annotation's path without the device suffix strace adds (`/dev/null<char 1:3>`). */
export function annotationPath(raw: string): string {
  return unescapeC(raw.replace(/<(?:char|block) \d+:\d+>$/, ''));
}

/**
 * Splits a syscall's argument text at top-level commas (outside quotes, brackets, braces,
 * parentheses and fd annotations `<…>`; `>` inside an annotation is escaped as `\76`).
 */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      i = readQuoted(s, i).end - 1;
    } else if (c === '<' && /[0-9\]]/.test(s[i - 1] ?? '')) {
      // fd annotation after a number: skip to its unescaped '>' (devices nest: </dev/null<char 1:3>>)
      i = annotationEnd(s, i);
    } else if (c === '[' || c === '{' || c === '(') depth++;
    else if (c === ']' || c === '}' || c === ')') depth--;
    else if (c === '/' && s[i + 1] === '*') {
      const close = s.indexOf('*/', i + 2);
      i = close < 0 ? s.length : close + 1;
    } else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}

/** `3</abs/path>` or `-100</cwd>` → the number and the decoded annotation (absent without one). */
export function fdArg(a: string): { fd: number; path?: string } | undefined {
  const m = /^(-?\d+)(?:<([\s\S]*)>)?$/.exec(a.trim());
  if (!m) return undefined;
  return { fd: Number(m[1]), ...(m[2] !== undefined ? { path: annotationPath(m[2]) } : {}) };
}

/** A quoted string argument, decoded; undefined when the argument is not a string (NULL, an address). */
export function stringArg(a: string): { text: string; truncated: boolean } | undefined {
  const t = a.trim();
  if (!t.startsWith('"')) return undefined;
  const q = readQuoted(t, 0);
  return { text: q.text, truncated: q.truncated };
}

/** `["a", "b"]` → ['a', 'b'] (with `truncated` when strace abbreviated an element or the list). */
export function stringArray(a: string): { items: string[]; truncated: boolean } | undefined {
  const t = a.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return undefined;
  const inner = t.slice(1, -1);
  const items: string[] = [];
  let truncated = false;
  for (const part of splitArgs(inner)) {
    if (part === '...') { truncated = true; continue; }
    const s = stringArg(part);
    if (!s) return undefined;
    if (s.truncated) truncated = true;
    items.push(s.text);
  }
  return { items, truncated };
}

/** A number as strace prints it with -X raw (decimal, 0x hex, 0 octal), or undefined. */
export function numArg(a: string): number | undefined {
  const t = a.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  if (/^0x[0-9a-fA-F]+$/.test(t)) return Number.parseInt(t.slice(2), 16);
  if (/^0[0-7]+$/.test(t)) return Number.parseInt(t, 8);
  return undefined;
}

/** `{k=v, …}` → the top-level fields as raw strings. */
export function structFields(a: string): Record<string, string> | undefined {
  const t = a.trim();
  if (!t.startsWith('{')) return undefined;
  const close = t.lastIndexOf('}');
  const out: Record<string, string> = {};
  for (const part of splitArgs(t.slice(1, close))) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
