import { canonicalize } from 'json-canonicalize';
import { CustodyError } from './errors.ts';

/**
 * OLPC canonical JSON exactly as securesystemslib's `encode_canonical` writes it — the form
 * every legacy in-toto signature covers. Not RFC 8785: strings escape only `\` and `"`
 * (control characters and non-ASCII are written raw), object keys are sorted by code point,
 * and only integers are allowed.
 */
export function encodeCanonical(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

const NEEDS_GENERAL_PATH = /\\[bfnrtu]|[\ud800-\uffff]/;

/**
 * True when `value` is plain JSON data (null, booleans, integers, strings, dense arrays,
 * plain objects) whose object keys are already in ascending UTF-16 order — what JSON.parse
 * returns for metadata written with sorted keys. Signed links are large; checking the shape
 * and serializing natively is several times faster than the general encoder.
 */
function isStringifyShaped(value: unknown): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string': case 'boolean': return true;
    case 'number': return Number.isInteger(value);
    case 'object': {
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined || !isStringifyShaped(item)) return false;
        }
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const obj = value as Record<string, unknown>;
      let prev: string | undefined;
      for (const k in obj) {
        if (!Object.prototype.hasOwnProperty.call(obj, k)) return false;
        const v = obj[k];
        if (v === undefined) return false;
        if (prev !== undefined && !(prev < k)) return false;
        prev = k;
        if (typeof v === 'string') continue;
        if (!isStringifyShaped(v)) return false;
      }
      return true;
    }
    default: return false;
  }
}

/** The canonical form as UTF-8 bytes — what gets signed. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(encodeCanonical(value), 'utf8');
}

function write(value: unknown, out: string[]): void {
  if (value === null) { out.push('null'); return; }
  switch (typeof value) {
    case 'boolean': out.push(value ? 'true' : 'false'); return;
    case 'number':
      if (!Number.isInteger(value)) {
        throw new CustodyError('CANONICAL_JSON', `canonical JSON allows integers only, got ${value}`);
      }
      out.push(String(value));
      return;
    case 'string':
      // JSON.stringify agrees with OLPC unless the string holds control characters or lone
      // surrogates (which it escapes and OLPC writes raw); it is much faster on large links.
      out.push(SAFE_FOR_STRINGIFY.test(value) ? JSON.stringify(value) : '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"');
      return;
    case 'object': {
      if (isStringifyShaped(value)) {
        // Keys already in order, integers only, plain data: JSON.stringify writes the same
        // bytes unless a string needed an escape OLPC does not make (control characters, lone
        // surrogates: `\b \f \n \r \t \uXXXX`) or a key may sort differently by code
        // point (units >= U+D800). Either shows in its output; then take the general path.
        const json = JSON.stringify(value);
        if (!NEEDS_GENERAL_PATH.test(json)) { out.push(json); return; }
      }
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item, i) => { if (i) out.push(','); write(item, out); });
        out.push(']');
        return;
      }
      const obj = value as Record<string, unknown>;
      const keys = sortKeys(Object.keys(obj).filter((k) => obj[k] !== undefined));
      out.push('{');
      keys.forEach((k, i) => {
        if (i) out.push(',');
        write(k, out);
        out.push(':');
        write(obj[k], out);
      });
      out.push('}');
      return;
    }
    default:
      throw new CustodyError('CANONICAL_JSON', `canonical JSON cannot encode a value of type ${typeof value}`);
  }
}

const SAFE_FOR_STRINGIFY = /^[^\x00-\x1f\ud800-\udfff]*$/;
const HAS_HIGH_UNITS = /[\ud800-\uffff]/;

/** UTF-16 order equals code point order unless a key holds units at or above U+D800. */
function sortKeys(keys: string[]): string[] {
  return keys.some((k) => HAS_HIGH_UNITS.test(k)) ? keys.sort(compareCodePoints) : keys.sort();
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

/** RFC 8785 (JCS), for digests over JSON that is not legacy in-toto metadata. */
export function jcs(value: unknown): string {
  return canonicalize(value);
}

/**
 * Python's `json.dumps(obj, indent=1, sort_keys=True)` (ensure_ascii on), the way the
 * reference writes metadata files, so files written by custody look like the reference's.
 */
export function pythonJsonDumps(value: unknown, indent = 1): string {
  return dump(value, indent, 0);
}

function dump(value: unknown, indent: number, level: number): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pythonFloat(value);
  if (typeof value === 'string') return pythonString(value);
  const pad = '\n' + ' '.repeat(indent * (level + 1));
  const end = '\n' + ' '.repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[' + pad + value.map((v) => dump(v, indent, level + 1)).join(',' + pad) + end + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareCodePoints);
  if (keys.length === 0) return '{}';
  return '{' + pad + keys.map((k) => pythonString(k) + ': ' + dump(obj[k], indent, level + 1)).join(',' + pad) + end + '}';
}

function pythonFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  return String(n);
}

function pythonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (c >= 0x80 && c <= 0xffff)) out += '\\u' + c.toString(16).padStart(4, '0');
    else if (c > 0xffff) {
      const v = c - 0x10000;
      out += '\\u' + (0xd800 + (v >> 10)).toString(16) + '\\u' + (0xdc00 + (v & 0x3ff)).toString(16);
    } else out += ch;
  }
  return out + '"';
}
