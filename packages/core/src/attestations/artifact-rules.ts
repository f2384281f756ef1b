/**
 * Artifact rules applied to one attestation's materials/products, with the semantics of
 * in-toto's attestation-verifier (ITE-10/11 prototype): paths are `path.Clean`ed, MATCH looks
 * at every verified claim of the destination step, material rules allow MATCH, ALLOW, DELETE,
 * DISALLOW, REQUIRE and product rules MATCH, ALLOW, CREATE, MODIFY, DISALLOW, REQUIRE.
 * Differences from the prototype, on purpose: `MATCH … IN src` only considers queued paths
 * under `src/` (in-toto's rule), and claims of the destination step are merged in a fixed order.
 */
import { posix } from 'node:path';
import type { ResourceDescriptor, Statement } from '../statement.ts';
import { statementArtifacts } from '../statement.ts';
import type { KeylessIdentity } from '../identity.ts';

export interface ArtifactRuleEntry {
  rule: string;
  side: 'materials' | 'products';
  verdict: 'pass' | 'fail';
  /** Paths this rule removed from the queue. */
  consumed: string[];
  message?: string;
}

/** A verified claim: an attestation whose DSSE signature by `keyid` checked out. */
export interface VerifiedClaim {
  step: string;
  /** The functionary id: the keyid, or `keylessFunctionaryId(identity)` for a certificate signer. */
  keyid: string;
  /** The certificate identity of a keyless signer (matched against identity functionaries). */
  identity?: KeylessIdentity;
  statement: Statement;
  /** Where it came from (file name), for the report. */
  source?: string;
}

export type ClaimsByStep = Readonly<Record<string, readonly VerifiedClaim[]>>;

/** Go's path.Clean: no empty or `.` segments, `..` resolved, no trailing slash, '' → '.'. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  let out = posix.normalize(p);
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

const patternCache = new Map<string, RegExp>();

/** Shell pattern on the whole name; `*` and `?` also match `/` (as in in-toto). */
export function matchPattern(pattern: string, name: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    let src = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === '*') src += '[\\s\\S]*';
      else if (c === '?') src += '[\\s\\S]';
      else if (c === '[') {
        const close = pattern.indexOf(']', i + 2);
        if (close === -1) src += '\\[';
        else {
          let body = pattern.slice(i + 1, close);
          const negate = body.startsWith('!') || body.startsWith('^');
          if (negate) body = body.slice(1);
          src += `[${negate ? '^' : ''}${body.replace(/\\/g, '\\\\').replace(/\]/g, '\\]')}]`;
          i = close;
        }
      } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
    re = new RegExp(`^${src}$`);
    patternCache.set(pattern, re);
  }
  return re.test(name);
}

interface ParsedRule {
  type: string;
  pattern: string;
  srcPrefix?: string;
  dstType?: 'materials' | 'products';
  dstPrefix?: string;
  dstName?: string;
}

/** Parses a rule's tokens; returns an error message for a malformed rule. */
export function parseArtifactRule(rule: string): ParsedRule | string {
  const t = rule.trim().split(/\s+/);
  const type = (t[0] ?? '').toLowerCase();
  if (['create', 'delete', 'modify', 'allow', 'disallow', 'require'].includes(type)) {
    return t.length === 2 ? { type, pattern: t[1] } : `wrong number of tokens in rule "${rule}"`;
  }
  if (type !== 'match') return `unknown rule type in "${rule}"`;
  const kw = t.map((x) => x.toLowerCase());
  let i = 2;
  const out: ParsedRule = { type, pattern: t[1] ?? '' };
  if (kw[i] === 'in') { out.srcPrefix = t[i + 1]; i += 2; }
  if (kw[i] !== 'with' || (kw[i + 1] !== 'materials' && kw[i + 1] !== 'products')) return `malformed MATCH rule "${rule}"`;
  out.dstType = kw[i + 1] as 'materials' | 'products';
  i += 2;
  if (kw[i] === 'in') { out.dstPrefix = t[i + 1]; i += 2; }
  if (kw[i] !== 'from' || t[i + 1] === undefined || i + 2 !== t.length) return `malformed MATCH rule "${rule}"`;
  out.dstName = t[i + 1];
  return out;
}

function byPath(list: readonly ResourceDescriptor[], originals?: Map<string, string>): Map<string, Record<string, string>> {
  const m = new Map<string, Record<string, string>>();
  for (const d of list) {
    const name = d.name ?? d.uri;
    if (name === undefined) continue;
    const clean = cleanPath(name);
    m.set(clean, d.digest ?? {});
    originals?.set(clean, name);
  }
  return m;
}

function sameDigest(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function claimOrder(a: VerifiedClaim, b: VerifiedClaim): number {
  return a.keyid.localeCompare(b.keyid) || a.statement.predicateType.localeCompare(b.statement.predicateType) || (a.source ?? '').localeCompare(b.source ?? '');
}

function destinationArtifacts(claims: readonly VerifiedClaim[] | undefined, side: 'materials' | 'products'): Map<string, Record<string, string>> | undefined {
  if (!claims || claims.length === 0) return undefined;
  const merged = new Map<string, Record<string, string>>();
  for (const c of [...claims].sort(claimOrder)) {
    for (const [p, d] of byPath(statementArtifacts(c.statement)[side])) merged.set(p, d);
  }
  return merged;
}

function withSlash(prefix: string | undefined): string {
  if (!prefix) return '';
  const c = cleanPath(prefix);
  return c.endsWith('/') ? c : `${c}/`;
}

/**
 * Applies a step's material and product rules to one claim. Stops at the first failing rule
 * (as the prototype does); returns every rule evaluated with what it consumed.
 */
export function applyClaimArtifactRules(
  statement: Statement,
  materialRules: readonly string[],
  productRules: readonly string[],
  claimsByStep: ClaimsByStep,
): { ok: boolean; entries: ArtifactRuleEntry[] } {
  const arts = statementArtifacts(statement);
  // report paths as the attestation wrote them, match on the cleaned form
  const originals = new Map<string, string>();
  const materials = byPath(arts.materials, originals);
  const products = byPath(arts.products, originals);
  const shown = (ps: string[]): string[] => ps.map((p) => originals.get(p) ?? p);
  const created = new Set([...products.keys()].filter((p) => !materials.has(p)));
  const deleted = new Set([...materials.keys()].filter((p) => !products.has(p)));
  const modified = new Set([...products.keys()].filter((p) => materials.has(p) && !sameDigest(materials.get(p), products.get(p))));
  const entries: ArtifactRuleEntry[] = [];

  const run = (side: 'materials' | 'products', rules: readonly string[], artifacts: Map<string, Record<string, string>>): boolean => {
    const queue = new Set(artifacts.keys());
    const allowed = side === 'materials'
      ? ['match', 'allow', 'delete', 'disallow', 'require']
      : ['match', 'allow', 'create', 'modify', 'disallow', 'require'];
    for (const text of rules) {
      const rule = parseArtifactRule(text);
      const fail = (message: string): boolean => {
        entries.push({ rule: text, side, verdict: 'fail', consumed: [], message });
        return false;
      };
      if (typeof rule === 'string') return fail(rule);
      if (!allowed.includes(rule.type)) return fail(`${rule.type.toUpperCase()} is not a valid ${side} rule`);
      const pattern = cleanPath(rule.pattern);
      const filtered = [...queue].filter((p) => matchPattern(pattern, p)).sort();
      let consumed: string[] = [];
      switch (rule.type) {
        case 'allow': consumed = filtered; break;
        case 'create': consumed = filtered.filter((p) => created.has(p)); break;
        case 'delete': consumed = filtered.filter((p) => deleted.has(p)); break;
        case 'modify': consumed = filtered.filter((p) => modified.has(p)); break;
        case 'disallow':
          if (filtered.length > 0) return fail(`${text} matched ${shown(filtered).join(', ')} in ${side}`);
          break;
        case 'require':
          if (!queue.has(rule.pattern)) return fail(`${text}: ${rule.pattern} not found in ${side}`);
          break;
        case 'match': {
          const dst = destinationArtifacts(claimsByStep[rule.dstName!], rule.dstType!);
          if (!dst) break; // no claim for that step: nothing consumed (as in-toto)
          const src = withSlash(rule.srcPrefix);
          const dstPrefix = withSlash(rule.dstPrefix);
          for (const p of [...queue].sort()) {
            if (src && !p.startsWith(src)) continue;
            const rest = p.slice(src.length);
            if (!matchPattern(pattern, rest)) continue;
            const other = cleanPath(posix.join(dstPrefix, rest));
            if (dst.has(other) && sameDigest(artifacts.get(p), dst.get(other))) consumed.push(p);
          }
          break;
        }
      }
      for (const p of consumed) queue.delete(p);
      entries.push({ rule: text, side, verdict: 'pass', consumed: shown(consumed) });
    }
    return true;
  };
  const ok = run('materials', materialRules, materials) && run('products', productRules, products);
  return { ok, entries };
}
