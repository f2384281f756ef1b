/**
 * Artifact rules as in-toto 1.3.1's `rulelib.unpack_rule` reads them: a list of strings,
 * keywords case-insensitive, non-keyword elements kept as written.
 *   MATCH <pattern> [IN <src-prefix>] WITH (MATERIALS|PRODUCTS) [IN <dst-prefix>] FROM <step>
 *   CREATE|DELETE|MODIFY|ALLOW|DISALLOW <pattern>,  REQUIRE <file>
 */
import { CustodyError } from '../errors.ts';

export type GenericRuleType = 'create' | 'modify' | 'delete' | 'allow' | 'disallow' | 'require';
export type ArtifactRule =
  | { type: GenericRuleType; pattern: string; tokens: string[] }
  | {
    type: 'match'; pattern: string; tokens: string[];
    sourcePrefix: string; destPrefix: string; destType: 'materials' | 'products'; destName: string;
  };

const GENERIC = new Set<string>(['create', 'modify', 'delete', 'allow', 'disallow', 'require']);

function syntax(message: string, where?: string): never {
  throw new CustodyError('RULE_SYNTAX', where ? `${where}: ${message}` : message);
}

/** Python's repr of a list of str, used in messages that quote a rule as the reference does. */
export function pythonListRepr(items: readonly unknown[]): string {
  return `[${items.map(pythonRepr).join(', ')}]`;
}

function pythonRepr(v: unknown): string {
  if (typeof v !== 'string') return JSON.stringify(v);
  const quote = v.includes("'") && !v.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of v) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch.codePointAt(0)! < 0x20 || ch.codePointAt(0) === 0x7f) out += `\\x${ch.codePointAt(0)!.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/**
 * Unpacks one rule; RULE_SYNTAX (an input error) when it fits none of the formats.
 * `where` (e.g. `steps[1].expected_materials[0]`) prefixes the message.
 */
export function parseRule(rule: unknown, where?: string): ArtifactRule {
  if (!Array.isArray(rule) || rule.some((t) => typeof t !== 'string')) {
    syntax(`a rule must be a list of strings, got ${JSON.stringify(rule)}`, where);
  }
  const tokens = rule as string[];
  const lower = tokens.map((t) => t.toLowerCase());
  const len = tokens.length;
  if (len < 2 || !(GENERIC.has(lower[0]) || lower[0] === 'match')) {
    syntax(`rules must start with one of MATCH, CREATE, DELETE, MODIFY, ALLOW, DISALLOW, REQUIRE and give a pattern; got ${pythonListRepr(tokens)}`, where);
  }
  const type = lower[0];
  const pattern = tokens[1];
  if (GENERIC.has(type)) {
    if (len !== 2) syntax(`${type.toUpperCase()} takes exactly one pattern; got ${pythonListRepr(tokens)}`, where);
    return { type: type as GenericRuleType, pattern, tokens };
  }
  let sourcePrefix = '';
  let destPrefix = '';
  let destType: string;
  let destName: string;
  if (len === 10 && lower[2] === 'in' && lower[4] === 'with' && lower[6] === 'in' && lower[8] === 'from') {
    [sourcePrefix, destType, destPrefix, destName] = [tokens[3], lower[5], tokens[7], tokens[9]];
  } else if (len === 8 && lower[2] === 'in' && lower[4] === 'with' && lower[6] === 'from') {
    [sourcePrefix, destType, destName] = [tokens[3], lower[5], tokens[7]];
  } else if (len === 8 && lower[2] === 'with' && lower[4] === 'in' && lower[6] === 'from') {
    [destType, destPrefix, destName] = [lower[3], tokens[5], tokens[7]];
  } else if (len === 6 && lower[2] === 'with' && lower[4] === 'from') {
    [destType, destName] = [lower[3], tokens[5]];
  } else {
    syntax(`match rules must have the format MATCH <pattern> [IN <source-path-prefix>] WITH (MATERIALS|PRODUCTS) [IN <destination-path-prefix>] FROM <step>; got ${pythonListRepr(tokens)}`, where);
  }
  if (destType !== 'materials' && destType !== 'products') {
    syntax(`match rules must have either MATERIALS or PRODUCTS as destination; got ${pythonListRepr(tokens)}`, where);
  }
  return { type: 'match', pattern, tokens, sourcePrefix, destPrefix, destType, destName };
}

/**
 * POSIX `shlex.split` (what the reference's `add_material_rule_from_string` uses): whitespace
 * separates words, single quotes are literal, double quotes allow `\"`, `\\`, `\$`, `` \` ``,
 * a backslash outside quotes escapes the next character.
 */
export function shlexSplit(s: string, where?: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      if (inWord) { words.push(word); word = ''; inWord = false; }
      i++;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) syntax('no closing quotation', where);
      word += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= s.length) syntax('no closing quotation', where);
        const d = s[i];
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < s.length && '\\"'.includes(s[i + 1])) { word += s[i + 1]; i += 2; continue; }
        word += d;
        i++;
      }
    } else if (c === '\\') {
      if (i + 1 >= s.length) syntax('no escaped character', where);
      word += s[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A rule written as one string in the authoring format ("MATCH * WITH PRODUCTS FROM build"). */
export function parseRuleString(s: string, where?: string): string[] {
  const tokens = shlexSplit(s, where);
  parseRule(tokens, where);
  return tokens;
}

/** The rule as written in messages: its tokens joined by spaces (the reference's trace format). */
export function ruleText(rule: ArtifactRule): string {
  return rule.tokens.join(' ');
}
