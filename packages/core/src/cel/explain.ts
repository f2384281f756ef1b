/**
 * Why a CEL rule was false, in the values it compared: the first part of a top-level `&&` that
 * is false, and for a comparison the value of each side (`predicate.accuracy >= 0.9: 0.85 >= 0.9`).
 * A reading aid for the report; the verdict is the whole rule's, never this.
 */
import { evaluateExpression, type RuleInput } from './rules.ts';

const COMPARISONS = ['>=', '<=', '==', '!=', '>', '<', ' in '];

/** `source` split at top-level occurrences of `sep` (outside brackets and string literals). */
function splitTopLevel(source: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && source.startsWith(sep, i)) {
      parts.push(source.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(source.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** The first top-level comparison operator of an expression, with its two sides. */
function comparison(expr: string): { left: string; op: string; right: string } | undefined {
  for (const op of COMPARISONS) {
    const sides = splitTopLevel(expr, op);
    if (sides.length === 2) return { left: sides[0], op: op.trim(), right: sides[1] };
  }
  return undefined;
}

function shown(v: unknown, max = 80): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/**
 * What follows "rule is false": the values a comparison saw (`0.85 >= 0.9`), and which part of a
 * top-level `&&` decided it (`size(predicate.failedTests) == 0 gives 1 == 0`). Undefined when
 * nothing simpler than the rule can be said.
 */
export function explainFalseRule(source: string, input: RuleInput): string | undefined {
  const conjuncts = splitTopLevel(source, '&&');
  let decisive = source.trim();
  if (conjuncts.length > 1) {
    const falsy = conjuncts.find((c) => {
      const r = evaluateExpression(c, input);
      return 'value' in r && r.value === false;
    });
    if (!falsy) return undefined;
    decisive = falsy;
  }
  const cmp = comparison(decisive);
  if (!cmp) return conjuncts.length > 1 ? `${decisive} is false` : undefined;
  const left = evaluateExpression(cmp.left, input);
  const right = evaluateExpression(cmp.right, input);
  const side = (r: { value: unknown } | { error: string }): string => ('value' in r ? shown(r.value) : `<${r.error}>`);
  const values = `${side(left)} ${cmp.op} ${side(right)}`;
  return conjuncts.length > 1 ? `${decisive} gives ${values}` : values;
}
