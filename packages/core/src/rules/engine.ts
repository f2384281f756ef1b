/**
 * The artifact rule engine with in-toto 1.3.1's semantics (`verifylib.verify_item_rules`).
 * The item's materials (or products) are a queue; rules run in order and remove what they
 * consume; DISALLOW fails if its pattern still matches something queued, REQUIRE fails unless
 * the exact path is still queued; whatever is left at the end is allowed (implicit `ALLOW *`).
 */
import type { ArtifactMap } from '../model/link.ts';
import { fnmatchRegExp } from '../fnmatch.ts';
import { parseRule, pythonListRepr, ruleText, type ArtifactRule } from './parse.ts';

export type ArtifactSide = 'materials' | 'products';

/** What a rule sees of a step's or inspection's link. */
export interface RuleLink { materials: ArtifactMap; products: ArtifactMap }

export interface ArtifactRuleOutcome {
  /** The rule as written, tokens joined by spaces. */
  rule: string;
  verdict: 'pass' | 'fail';
  /** Queue paths this rule consumed, sorted. */
  consumed: string[];
  /** Why it failed, or a note (e.g. MATCH against a step without a link). */
  message?: string;
  /** A failure in the user's terms: which file, which step produced it, both digests, what to do. */
  hint?: string;
}

export interface ItemRulesResult {
  item: string;
  side: ArtifactSide;
  verdict: 'pass' | 'fail';
  rules: ArtifactRuleOutcome[];
  /** Paths still queued after the last rule (allowed by the implicit ALLOW *). */
  unconsumed: string[];
  failure?: { rule: string; artifacts: string[]; message: string; hint?: string };
}

/** Python dict equality of two hash dicts. */
export function hashDictEqual(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || a[k] !== b[k]) return false;
  return true;
}

/** `os.path.join(a, b)` for POSIX paths, as the reference builds prefixed paths. */
export function pythonJoin(a: string, b: string): string {
  if (b.startsWith('/')) return b;
  if (a === '' || a.endsWith('/')) return a + b;
  return `${a}/${b}`;
}

function filterQueue(queue: Set<string>, pattern: string): string[] {
  const re = fnmatchRegExp(pattern);
  const out: string[] = [];
  for (const p of queue) if (re.test(p)) out.push(p);
  return out;
}

/** The reference's `os.path.join(prefix, path).replace("\\", "/")` for MATCH prefixes. */
function joinPrefix(prefix: string, path: string): string {
  return pythonJoin(prefix, path).replace(/\\/g, '/');
}

function applyMatch(
  rule: Extract<ArtifactRule, { type: 'match' }>, queue: Set<string>, source: ArtifactMap,
  links: ReadonlyMap<string, RuleLink>,
  misses?: Map<string, MatchMiss>,
): { consumed: string[]; note?: string; error?: string } {
  const dest = links.get(rule.destName);
  // The reference consumes nothing when the destination step has no link.
  if (!dest) return { consumed: [], note: `no link for ${rule.destName}: nothing consumed` };
  const destArtifacts = dest[rule.destType];
  const re = fnmatchRegExp(rule.pattern);
  const consumed: string[] = [];
  const srcPrefix = rule.sourcePrefix ? joinPrefix(rule.sourcePrefix, '') : '';
  for (const queued of queue) {
    let path = queued;
    if (srcPrefix) {
      if (!queued.startsWith(srcPrefix)) continue;
      path = queued.slice(srcPrefix.length);
    }
    if (!re.test(path)) continue;
    const fullSource = rule.sourcePrefix ? joinPrefix(rule.sourcePrefix, path) : path;
    const fullDest = rule.destPrefix ? joinPrefix(rule.destPrefix, path) : path;
    // With a backslash after the prefix the rejoined path is not the queued one; the reference
    // then fails on the missing source artifact (KeyError), and so does custody.
    if (!has(source, fullSource)) {
      return { consumed: [], error: `'${ruleText(rule)}' rejoined ${JSON.stringify(queued)} as ${JSON.stringify(fullSource)}, which is not an artifact` };
    }
    const destHash = has(destArtifacts, fullDest) ? destArtifacts[fullDest] : undefined;
    if (!destHash || !hashDictEqual(source[fullSource], destHash)) {
      // remembered for the message of a DISALLOW that catches it later
      if (misses && !misses.has(fullSource)) misses.set(fullSource, { rule: ruleText(rule), step: rule.destName, side: rule.destType, path: fullDest, here: source[fullSource], there: destHash });
      continue;
    }
    consumed.push(fullSource);
  }
  return { consumed };
}

/** A MATCH that saw an artifact and did not consume it: the other step lacks it, or has other bytes. */
interface MatchMiss {
  rule: string;
  step: string;
  side: 'materials' | 'products';
  path: string;
  here?: Record<string, string>;
  there?: Record<string, string>;
}

function digestText(h: Record<string, string> | undefined): string {
  if (!h) return '(none)';
  const alg = Object.prototype.hasOwnProperty.call(h, 'sha256') ? 'sha256' : Object.keys(h).sort()[0];
  return alg === undefined ? '(none)' : `${alg}:${h[alg]}`;
}

const MAX_HINTED = 3;

/**
 * What a failed DISALLOW means in the user's terms: for each artifact, the step whose
 * artifacts a MATCH compared it with and both digests, or that no step's rules account for it;
 * then what to do. The reference's words stay the message; this is said after them.
 */
function disallowHint(item: string, side: ArtifactSide, matched: string[], misses: Map<string, MatchMiss>, here: (p: string) => Record<string, string> | undefined): string {
  const parts: string[] = [];
  let differs: MatchMiss | undefined;
  let unknown = false;
  for (const p of matched.slice(0, MAX_HINTED)) {
    const m = misses.get(p);
    if (m?.there) {
      differs ??= m;
      parts.push(`${p} is not the file ${m.step} ${m.side === 'products' ? 'produced' : 'consumed'}${m.path !== p ? ` as ${m.path}` : ''}: ${digestText(m.here)} here, ${digestText(m.there)} in ${m.step}'s ${m.side} (${m.rule})`);
    } else if (m) {
      parts.push(`${p} is not among ${m.step}'s ${m.side}${m.path !== p ? ` (looked for ${m.path})` : ''} (${m.rule}); here it is ${digestText(m.here)}`);
      unknown = true;
    } else {
      parts.push(`${p} (${digestText(here(p))}) is in ${side} of ${item}, and no rule before this DISALLOW accounts for it`);
      unknown = true;
    }
  }
  if (matched.length > MAX_HINTED) parts.push(`and ${matched.length - MAX_HINTED} more`);
  const todo = differs
    ? `What to do: use ${differs.step}'s output unchanged (or re-run ${differs.step} and every step after it), then re-run ${item}.`
    : unknown
      ? `What to do: if it does not belong there, remove it and re-run ${item}; if it does, the layout owner must add a rule for it.`
      : '';
  return `${parts.join('; ')}.${todo ? ` ${todo}` : ''}`;
}

/** The queue in messages: python repr, shortened when long (the reference prints it whole). */
function queueRepr(queue: Set<string>): string {
  const all = [...queue].sort();
  if (all.length <= 20) return pythonListRepr(all);
  return `${pythonListRepr(all.slice(0, 20))} and ${all.length - 20} more`;
}

function has(map: ArtifactMap, path: string): boolean {
  return Object.prototype.hasOwnProperty.call(map, path);
}

/**
 * Applies one rule list (`expected_materials` or `expected_products`) of `item` to its link
 * (`links.get(item)`, which must exist). Stops at the first failing rule, like the reference.
 * Rules are parsed here, so a bad rule throws RULE_SYNTAX (bad input).
 */
export function applyArtifactRules(
  item: string, side: ArtifactSide, rules: readonly (readonly string[])[], links: ReadonlyMap<string, RuleLink>,
): ItemRulesResult {
  const link = links.get(item);
  if (!link) throw new Error(`applyArtifactRules: no link for ${item}`);
  const { materials, products } = link;
  const source = side === 'materials' ? materials : products;
  const queue = new Set(Object.keys(source));
  const outcomes: ArtifactRuleOutcome[] = [];
  const misses = new Map<string, MatchMiss>();
  for (const tokens of rules) {
    const rule = parseRule([...tokens]);
    const text = ruleText(rule);
    let consumed: string[] = [];
    let note: string | undefined;
    switch (rule.type) {
      case 'match': {
        const r = applyMatch(rule, queue, source, links, misses);
        if (r.error) {
          outcomes.push({ rule: text, verdict: 'fail', consumed: [], message: r.error });
          return { item, side, verdict: 'fail', rules: outcomes, unconsumed: [...queue].sort(), failure: { rule: text, artifacts: [], message: r.error } };
        }
        ({ consumed, note } = r);
        break;
      }
      case 'create': consumed = filterQueue(queue, rule.pattern).filter((p) => has(products, p) && !has(materials, p)); break;
      case 'delete': consumed = filterQueue(queue, rule.pattern).filter((p) => has(materials, p) && !has(products, p)); break;
      case 'modify':
        consumed = filterQueue(queue, rule.pattern)
          .filter((p) => has(materials, p) && has(products, p) && !hashDictEqual(materials[p], products[p]));
        break;
      case 'allow': consumed = filterQueue(queue, rule.pattern); break;
      case 'disallow': {
        const matched = filterQueue(queue, rule.pattern).sort();
        if (matched.length) {
          const message = `'DISALLOW ${rule.pattern}' matched the following artifacts: ${pythonListRepr(matched)} in ${side} of ${item}`;
          const hint = disallowHint(item, side, matched, misses, (p) => (has(source, p) ? source[p] : undefined));
          outcomes.push({ rule: text, verdict: 'fail', consumed: [], message, hint });
          return { item, side, verdict: 'fail', rules: outcomes, unconsumed: [...queue].sort(), failure: { rule: `DISALLOW ${rule.pattern}`, artifacts: matched, message, hint } };
        }
        break;
      }
      case 'require': {
        if (!queue.has(rule.pattern)) {
          const message = `'REQUIRE ${rule.pattern}' did not find ${rule.pattern} in ${side} of ${item}; queue: ${queueRepr(queue)}`;
          outcomes.push({ rule: text, verdict: 'fail', consumed: [], message });
          return { item, side, verdict: 'fail', rules: outcomes, unconsumed: [...queue].sort(), failure: { rule: `REQUIRE ${rule.pattern}`, artifacts: [rule.pattern], message } };
        }
        break;
      }
    }
    for (const p of consumed) queue.delete(p);
    outcomes.push({ rule: text, verdict: 'pass', consumed: consumed.sort(), ...(note ? { message: note } : {}) });
  }
  return { item, side, verdict: 'pass', rules: outcomes, unconsumed: [...queue].sort() };
}
