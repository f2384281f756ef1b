/**
 * `layout lint` support for expectedPredicates: every rule compiled, each problem reported with
 * its path in the layout document and, for syntax errors, the line:column inside the rule.
 */
import { lintRule, substituteCelParams, unresolvedParams } from '../cel/rules.ts';
import type { AttestationStepPolicy } from './evaluate.ts';

export interface PredicateLintProblem {
  /** e.g. `steps[1].expectedPredicates[0].expectedAttributes[2].rule` */
  path: string;
  message: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the `expectedPredicates` of steps given as parsed layout data (custody's or
 * attestation-verifier's field names are the same here). `params`, when given, are substituted
 * first, as verify would, and a placeholder left is reported; without them `{name}`
 * placeholders are left in (inside string literals they compile as text).
 */
export function lintExpectedPredicates(
  steps: readonly unknown[],
  opts: { pathPrefix?: string; params?: Readonly<Record<string, string>>; knownFunctionaries?: ReadonlySet<string> } = {},
): PredicateLintProblem[] {
  const prefix = opts.pathPrefix ?? 'steps';
  const problems: PredicateLintProblem[] = [];
  steps.forEach((step, i) => {
    if (!isRecord(step) || step.expectedPredicates === undefined) return;
    const base = `${prefix}[${i}].expectedPredicates`;
    if (!Array.isArray(step.expectedPredicates)) {
      problems.push({ path: base, message: 'must be a list' });
      return;
    }
    const seen = new Set<string>();
    step.expectedPredicates.forEach((ep, j) => {
      const p = `${base}[${j}]`;
      if (!isRecord(ep)) {
        problems.push({ path: p, message: 'must be a mapping' });
        return;
      }
      if (typeof ep.predicateType !== 'string' || ep.predicateType === '') problems.push({ path: `${p}.predicateType`, message: 'is required (a predicate type URI)' });
      else if (seen.has(ep.predicateType)) problems.push({ path: `${p}.predicateType`, message: `${ep.predicateType} is listed twice for this step` });
      else seen.add(ep.predicateType);
      // absent functionaries default to the step's pubkeys (and its keyless functionaries)
      const stepDefault = Array.isArray(step.pubkeys) || Array.isArray(step.functionaries)
        ? [...(Array.isArray(step.pubkeys) ? step.pubkeys : []), ...(Array.isArray(step.functionaries) ? step.functionaries : [])]
        : undefined;
      const fs = ep.functionaries ?? stepDefault;
      if (!Array.isArray(fs) || fs.length === 0) problems.push({ path: `${p}.functionaries`, message: 'must list at least one functionary (or the step needs pubkeys)' });
      else if (opts.knownFunctionaries) {
        fs.forEach((f, k) => {
          if (typeof f === 'string' && !opts.knownFunctionaries!.has(f)) problems.push({ path: `${p}.functionaries[${k}]`, message: `unknown functionary ${f}` });
        });
      }
      const threshold = ep.threshold ?? 1;
      if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0) problems.push({ path: `${p}.threshold`, message: 'must be a non-negative integer' });
      else if (Array.isArray(fs) && fs.length > 0 && threshold > new Set(fs.map((f) => JSON.stringify(f))).size) {
        problems.push({ path: `${p}.threshold`, message: `threshold ${threshold} is more than the ${fs.length} functionaries listed` });
      }
      const attrs = ep.expectedAttributes ?? [];
      if (!Array.isArray(attrs)) {
        problems.push({ path: `${p}.expectedAttributes`, message: 'must be a list' });
        return;
      }
      attrs.forEach((a, k) => {
        const ap = `${p}.expectedAttributes[${k}]`;
        if (!isRecord(a) || typeof a.rule !== 'string') {
          problems.push({ path: `${ap}.rule`, message: 'is required (a CEL expression)' });
          return;
        }
        for (const flag of ['allowIfNoClaim', 'warn'] as const) {
          if (a[flag] !== undefined && typeof a[flag] !== 'boolean') problems.push({ path: `${ap}.${flag}`, message: 'must be true or false' });
        }
        let rule = a.rule;
        try {
          if (opts.params) rule = substituteCelParams(rule, opts.params);
        } catch (e) {
          problems.push({ path: `${ap}.rule`, message: (e as Error).message });
          return;
        }
        // with parameters given, a placeholder left is one missing (verify refuses it)
        const missing = opts.params ? unresolvedParams(rule) : [];
        if (missing.length > 0) {
          problems.push({ path: `${ap}.rule`, message: `parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not given` });
          return;
        }
        // Without parameters, a placeholder stands for a value verify will get (`>= {min}`):
        // compile it as one, so lint accepts what sign and verify accept.
        if (!opts.params) for (const name of unresolvedParams(rule)) rule = rule.split(`{${name}}`).join('0');
        for (const pr of lintRule(rule)) {
          problems.push({ path: `${ap}.rule`, message: pr.location ? `${pr.location.line}:${pr.location.column}: ${pr.message}` : pr.message });
        }
      });
    });
  });
  return problems;
}

/** Type guard for callers that already validated the document. */
export function asStepPolicies(steps: readonly unknown[]): AttestationStepPolicy[] {
  return steps.filter(isRecord) as unknown as AttestationStepPolicy[];
}
