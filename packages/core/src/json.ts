/**
 * JSON text → value, with the limits every parser reachable from the CLI needs. JSON.parse
 * itself survives any nesting depth, but everything that walks the value afterwards
 * (canonical JSON, validation, CEL) recurses — a 20,000-level array would surface as an
 * internal RangeError. The depth is checked on the text first, in one linear pass, so deep
 * input is bad input that names its file.
 */
import { CustodyError, type ErrorCode } from './errors.ts';

/** Deeper than any in-toto metadata, Statement or Sigstore bundle; Python's json gives up near 1,000. */
export const MAX_JSON_DEPTH = 512;

export interface JsonTextFacts {
  /** Deepest nesting of arrays and objects. */
  depth: number;
  /**
   * A number written with a fraction or an exponent (`1.0`, `1e0`): a float to Python, which
   * OLPC canonical JSON (and so every metablock signature) cannot encode, even when JS reads it
   * as an integer.
   */
  floatToken: string | undefined;
}

/**
 * Nesting depth and the first float-looking number token of JSON text, strings skipped.
 * Stops counting once `maxDepth` is exceeded (the caller rejects the text anyway).
 */
export function scanJsonText(text: string, maxDepth = MAX_JSON_DEPTH): JsonTextFacts {
  let depth = 0;
  let deepest = 0;
  let floatToken: string | undefined;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // string: skip to the closing quote
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > maxDepth) break;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let isFloat = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x2e || d === 0x65 || d === 0x45) isFloat = true;
        else if (!(d === 0x2b || d === 0x2d || (d >= 0x30 && d <= 0x39))) break;
      }
      if (isFloat && floatToken === undefined) floatToken = text.slice(i, Math.min(j, i + 40));
      i = j - 1;
    }
  }
  return { depth: deepest, floatToken };
}

export interface ParseJsonOptions {
  /** The file the text came from; every error names it. */
  file?: string;
  /** Error code for text that is not JSON or is too deep (default MALFORMED_JSON). */
  code?: ErrorCode;
  /** What the text should be, for messages ("a metablock", "DSSE payload"). */
  what?: string;
  maxDepth?: number;
}

/** JSON.parse behind a depth limit; a leading BOM is ignored. Errors are CustodyErrors naming the file. */
export function parseJson(text: string, opts: ParseJsonOptions = {}): unknown {
  return parseJsonWithFacts(text, opts).value;
}

/** parseJson that also returns what `scanJsonText` found (callers that care about float tokens). */
export function parseJsonWithFacts(text: string, opts: ParseJsonOptions = {}): { value: unknown; facts: JsonTextFacts } {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const code = opts.code ?? 'MALFORMED_JSON';
  const what = opts.what ? `${opts.what} ` : '';
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const facts = scanJsonText(src, maxDepth);
  if (facts.depth > maxDepth) {
    throw new CustodyError(code, `${what}JSON is nested more than ${maxDepth} levels deep`, { file: opts.file });
  }
  try {
    return { value: JSON.parse(src), facts };
  } catch (e) {
    throw new CustodyError(code, `${what}is not JSON: ${(e as Error).message.replace(/\s*[\r\n]+\s*/g, ' ')}`, { file: opts.file, cause: e });
  }
}

/**
 * Depth of an already parsed value (YAML documents, objects handed over by libraries), without
 * recursion; true when it nests deeper than `maxDepth`.
 */
export function nestedDeeperThan(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d + 1 > maxDepth) return true;
    if (seen.has(v)) continue; // YAML aliases share nodes
    seen.add(v);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
    }
  }
  return false;
}
