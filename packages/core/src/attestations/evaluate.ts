/**
 * Step 10 of verification: per-step predicate rules (ITE-10 `expectedPredicates`). Pure: it gets
 * claims whose signatures were already checked and returns report entries; nothing throws except
 * a rule that does not compile (RULE_SYNTAX, bad input).
 *
 * Semantics:
 * - A claim counts for an expected predicate when its predicateType matches and its signer is
 *   one of the listed functionaries; the threshold (default 1) counts distinct keyids.
 * - A functionary is accepted when every one of its claims of that type passes (several claims
 *   from the same key must not contradict each other); the store normally resolves to one.
 * - Rules: false → failed rule (or a warning with `warn`); a CEL error → failed rule carrying the
 *   error text; an absent field with `allowIfNoClaim` → 'no-claim', which passes.
 * - No claim of the type at all: passes with a warning only if every rule says allowIfNoClaim.
 * - With `artifactRules: true` (attestation-verifier layouts) the step's expectedMaterials /
 *   expectedProducts are applied to each claim as well.
 */
import { CustodyError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { functionaryLabel, functionaryMatches } from '../identity.ts';
import type { FunctionaryRef } from '../identity.ts';
import { compileRule, evaluateRule, substituteCelParams, substituteParams, unresolvedParams } from '../cel/rules.ts';
import type { CompiledRule } from '../cel/rules.ts';
import { explainFalseRule } from '../cel/explain.ts';
import { createHash } from 'node:crypto';
import { linkSubject, statementArtifacts } from '../statement.ts';
import type { LinkLike } from '../statement.ts';
import type { ArtifactSource } from '../statement.ts';
import { applyClaimArtifactRules } from './artifact-rules.ts';
import type { ArtifactRuleEntry, ClaimsByStep, VerifiedClaim } from './artifact-rules.ts';

export interface ExpectedAttribute {
  rule: string;
  allowIfNoClaim?: boolean;
  warn?: boolean;
  /** Message shown instead of the generic one when the rule fails. */
  debug?: string;
  /** The MITRE ATLAS technique (or mitigation) the rule guards against, e.g. AML.T0011; shown in the report. */
  atlas?: string;
}

export interface ExpectedPredicate {
  predicateType: string;
  expectedAttributes?: ExpectedAttribute[];
  /**
   * Who may make this claim: keyids, or identity policies `{issuer, subject|subjectPattern}` for
   * keyless signers; absent = the step's `pubkeys` (custody layouts).
   */
  functionaries?: FunctionaryRef[];
  threshold?: number;
}

export interface AttestationStepPolicy {
  name: string;
  /** The step's functionaries in an in-toto layout (keyids, and identities); the default for expectedPredicates. */
  pubkeys?: FunctionaryRef[];
  expectedMaterials?: string[];
  expectedProducts?: string[];
  expectedPredicates?: ExpectedPredicate[];
  /** The approved trace profile (`custody trace learn`), bound as `profile` in this step's rules. */
  traceProfile?: Record<string, unknown>;
}

export interface AttestationLayoutLike {
  steps: readonly AttestationStepPolicy[];
}

export type PredicateRuleVerdict = 'pass' | 'fail' | 'warn' | 'no-claim';

export interface PredicateRuleEntry {
  /** The rule after parameter substitution. */
  rule: string;
  verdict: PredicateRuleVerdict;
  message?: string;
  /** CEL runtime error text, when the rule errored. */
  error?: string;
  /** The values the rule read, on failure/warning. */
  observed?: Record<string, unknown>;
  /** What decided a false rule: the compared values (`0.85 >= 0.9`), and which part of an `&&`. */
  decided?: string;
  /** The rule's ATLAS technique id, when the layout names one. */
  atlas?: string;
}

export interface ClaimEntry {
  functionary: string;
  source?: string;
  verdict: 'pass' | 'fail';
  artifactSource: ArtifactSource;
  artifactRules: ArtifactRuleEntry[];
  rules: PredicateRuleEntry[];
  message?: string;
}

export interface ExpectedPredicateEntry {
  predicateType: string;
  /** keyids, and identities as `subject (issuer …)` / `/pattern/ (issuer …)`. */
  functionaries: string[];
  threshold: number;
  verdict: 'pass' | 'fail' | 'skipped';
  /** Distinct keyids whose claims passed. */
  accepted: string[];
  claims: ClaimEntry[];
  message?: string;
}

export interface AttestationStepEntry {
  step: string;
  verdict: 'pass' | 'fail';
  predicates: ExpectedPredicateEntry[];
  message?: string;
}

export type AttestationCheck = 'links' | 'threshold' | 'artifact-rules' | 'predicate-rules';

export interface AttestationFailure {
  code: ErrorCode;
  check: AttestationCheck;
  step?: string;
  message: string;
}

export interface AttestationStepsReport {
  verdict: 'pass' | 'fail';
  steps: AttestationStepEntry[];
  warnings: string[];
  failure: AttestationFailure | null;
}

export interface EvaluateOptions {
  /** `{name}` parameters substituted into rules (and artifact rules). */
  params?: Readonly<Record<string, string>>;
  /** Apply expectedMaterials/expectedProducts to every claim (attestation-verifier layouts). */
  artifactRules?: boolean;
  /** Fail a step that has no claims at all (attestation-verifier does). Default: same as artifactRules. */
  requireClaims?: boolean;
  /** The verification time, bound as `now` in rules. */
  now?: Date;
  /**
   * Each step's verified links by functionary; a claim whose subject is the digest of its
   * functionary's link (run-level evidence) gets that link bound as `link`.
   */
  links?: Readonly<Record<string, readonly { keyid: string; link: LinkLike }[]>>;
}

/** The link bound for a claim: its functionary's link, if the claim's subject is that link's digest. */
function boundLink(claim: VerifiedClaim, links: EvaluateOptions['links']): Record<string, unknown> | null {
  const candidates = (links?.[claim.step] ?? []).filter((l) => l.keyid === claim.keyid);
  for (const { link } of candidates) {
    const want = linkSubject(link, (t) => createHash('sha256').update(t, 'utf8').digest('hex')).digest!.sha256;
    if (claim.statement.subject.some((s) => s.digest?.sha256 === want)) {
      return { name: link.name, command: link.command, materials: link.materials, products: link.products };
    }
  }
  return null;
}

/**
 * `{name}` parameters substituted into a predicate rule. One that is not given is bad input
 * (USAGE, naming it and the step), as a parameter missing from a command is: a rule that
 * compares with the placeholder text would only fail later, for the wrong reason.
 */
export function substituteRuleParams(rule: string, params: Readonly<Record<string, string>>, where: string): string {
  const out = substituteCelParams(rule, params);
  const missing = unresolvedParams(out);
  if (missing.length > 0) {
    throw new CustodyError('USAGE', `${where}: parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not given (${missing.map((m) => `--param ${m}=VALUE`).join(' ')})`);
  }
  return out;
}

/**
 * `{name}` parameters in an artifact rule string: a value stays inside the word it replaces —
 * one with whitespace would add words (a prefix, another rule form) and is refused (USAGE).
 */
export function substituteRuleTokens(rule: string, params: Readonly<Record<string, string>>): string {
  for (const [name, value] of Object.entries(params)) {
    if (/\s/.test(value) && rule.includes(`{${name}}`)) {
      throw new CustodyError('USAGE', `parameter "${name}" holds whitespace, which would change the structure of the artifact rule ${JSON.stringify(rule)}`);
    }
  }
  return substituteParams(rule, params);
}

function ruleLocation(step: { name: string }, ep: ExpectedPredicate, i: number): string {
  return `step "${step.name}" predicate ${ep.predicateType} rule ${i + 1}`;
}

/** Every predicate rule's parameters are given (USAGE otherwise); verify checks this before any link. */
export function checkRuleParams(layout: AttestationLayoutLike, params: Readonly<Record<string, string>>): void {
  for (const step of layout.steps) {
    for (const ep of step.expectedPredicates ?? []) {
      (ep.expectedAttributes ?? []).forEach((a, i) => substituteRuleParams(a.rule, params, ruleLocation(step, ep, i)));
    }
  }
}

/** Compiles every rule of a layout up front (RULE_SYNTAX names the step and predicate). */
function compileAll(layout: AttestationLayoutLike, params: Readonly<Record<string, string>>): Map<ExpectedAttribute, CompiledRule> {
  const out = new Map<ExpectedAttribute, CompiledRule>();
  for (const step of layout.steps) {
    for (const ep of step.expectedPredicates ?? []) {
      (ep.expectedAttributes ?? []).forEach((a, i) => {
        const where = ruleLocation(step, ep, i);
        out.set(a, compileRule(substituteRuleParams(a.rule, params, where), where));
      });
    }
  }
  return out;
}

function evaluateClaim(
  step: AttestationStepPolicy,
  ep: ExpectedPredicate,
  claim: VerifiedClaim,
  compiled: Map<ExpectedAttribute, CompiledRule>,
  claimsByStep: ClaimsByStep,
  opts: Required<Pick<EvaluateOptions, 'artifactRules'>> & { params: Readonly<Record<string, string>>; now?: Date; links?: EvaluateOptions['links'] },
  warnings: string[],
): ClaimEntry {
  const entry: ClaimEntry = {
    functionary: claim.keyid,
    source: claim.source,
    verdict: 'pass',
    artifactSource: statementArtifacts(claim.statement).source,
    artifactRules: [],
    rules: [],
  };
  if (opts.artifactRules) {
    const sub = (r: string): string => substituteRuleTokens(r, opts.params);
    const res = applyClaimArtifactRules(claim.statement, (step.expectedMaterials ?? []).map(sub), (step.expectedProducts ?? []).map(sub), claimsByStep);
    entry.artifactRules = res.entries;
    if (!res.ok) {
      entry.verdict = 'fail';
      entry.message = res.entries[res.entries.length - 1].message;
    }
  }
  const input = {
    subject: claim.statement.subject as unknown[],
    predicateType: claim.statement.predicateType,
    predicate: (claim.statement.predicate ?? {}) as Record<string, unknown>,
    now: opts.now,
    link: boundLink(claim, opts.links),
    profile: step.traceProfile ?? null,
  };
  for (const attr of ep.expectedAttributes ?? []) {
    const rule = compiled.get(attr)!;
    const outcome = evaluateRule(rule, input);
    const re: PredicateRuleEntry = { rule: rule.source, verdict: 'pass', ...(attr.atlas ? { atlas: attr.atlas } : {}) };
    if (outcome.verdict === 'error' && outcome.missingAttribute && attr.allowIfNoClaim) {
      re.verdict = 'no-claim';
      re.message = `the claim does not state it (${outcome.error}); allowed by allowIfNoClaim`;
    } else if (outcome.verdict !== 'pass') {
      const decided = outcome.verdict === 'fail' ? explainFalseRule(rule.source, input) : undefined;
      const what = outcome.verdict === 'error' ? `rule errored: ${outcome.error}` : 'rule is false';
      // the author's words with the parameters the rule was given ({MIN_ACCURACY} → 0.9)
      const debug = attr.debug ? substituteParams(attr.debug, opts.params) : undefined;
      re.message = `${debug ? `${debug} (${what})` : what}${attr.atlas ? ` [ATLAS ${attr.atlas}]` : ''}`;
      if (outcome.error) re.error = outcome.error;
      if (outcome.observed) re.observed = outcome.observed;
      if (decided) re.decided = decided;
      if (attr.warn) {
        re.verdict = 'warn';
        warnings.push(`step ${step.name}: ${ep.predicateType} by ${functionaryLabel(claim.keyid)}: ${rule.source}: ${re.message}`);
      } else {
        re.verdict = 'fail';
        if (entry.verdict === 'pass') {
          entry.verdict = 'fail';
          // the values that decided it, not every value the rule read (a predicate can be kilobytes)
          entry.message = `${rule.source}: ${re.message}${re.observed ? ` (saw ${shortJson(re.observed)})` : ''}${decided ? `; compared: ${decided}` : ''}`;
        }
      }
    }
    entry.rules.push(re);
  }
  return entry;
}

function shortJson(v: unknown, max = 300): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/**
 * Evaluates every step's expectedPredicates against the verified claims, in layout order.
 * `claimsByStep[step]` holds the verified claims of that step (any predicate type, any signer).
 */
export function evaluateAttestationSteps(
  layout: AttestationLayoutLike,
  claimsByStep: ClaimsByStep,
  options: EvaluateOptions = {},
): AttestationStepsReport {
  const params = options.params ?? {};
  const artifactRules = options.artifactRules ?? false;
  const requireClaims = options.requireClaims ?? artifactRules;
  const compiled = compileAll(layout, params);
  const warnings: string[] = [];
  const steps: AttestationStepEntry[] = [];
  let failure: AttestationFailure | null = null;
  const fail = (f: AttestationFailure): void => { failure ??= f; };

  for (const step of layout.steps) {
    const claims = claimsByStep[step.name] ?? [];
    const stepEntry: AttestationStepEntry = { step: step.name, verdict: 'pass', predicates: [] };
    steps.push(stepEntry);
    if (requireClaims && claims.length === 0) {
      stepEntry.verdict = 'fail';
      stepEntry.message = `no attestations found for step ${step.name}`;
      fail({ code: 'LINK_NOT_FOUND', check: 'links', step: step.name, message: stepEntry.message });
      continue;
    }
    for (const ep of step.expectedPredicates ?? []) {
      const threshold = ep.threshold && ep.threshold > 0 ? ep.threshold : 1;
      const refs: FunctionaryRef[] = [...(ep.functionaries ?? step.pubkeys ?? [])];
      const functionaries = refs.map((f) => (typeof f === 'string' ? f : functionaryLabel(f)));
      const entry: ExpectedPredicateEntry = { predicateType: ep.predicateType, functionaries, threshold, verdict: 'pass', accepted: [], claims: [] };
      stepEntry.predicates.push(entry);
      const ofType = claims.filter((c) => c.statement.predicateType === ep.predicateType);
      const authorized = (c: VerifiedClaim): boolean => refs.some((f) => functionaryMatches(f, c));
      const unauthorized = [...new Set(ofType.filter((c) => !authorized(c)).map((c) => c.keyid))];
      if (unauthorized.length > 0) {
        warnings.push(`step ${step.name}: ignored ${ep.predicateType} claims by keys not listed as functionaries: ${unauthorized.map((k) => functionaryLabel(k)).join(', ')}`);
      }
      // distinct functionary ids (keyid, or issuer+subject) in layout order, their claims in a fixed order
      const byKey = new Map<string, VerifiedClaim[]>();
      for (const f of refs) {
        const mine = ofType.filter((c) => !byKey.has(c.keyid) && functionaryMatches(f, c)).sort((a, b) => (a.keyid.localeCompare(b.keyid)) || (a.source ?? '').localeCompare(b.source ?? ''));
        for (const c of mine) {
          const list = byKey.get(c.keyid);
          if (list) list.push(c);
          else byKey.set(c.keyid, [c]);
        }
      }
      const attrs = ep.expectedAttributes ?? [];
      if (byKey.size === 0 && attrs.length > 0 && attrs.every((a) => a.allowIfNoClaim)) {
        entry.verdict = 'skipped';
        entry.message = `no ${ep.predicateType} attestation from the functionaries; allowed because every rule sets allowIfNoClaim`;
        warnings.push(`step ${step.name}: ${entry.message}`);
        continue;
      }
      if (byKey.size < threshold) {
        entry.verdict = 'fail';
        entry.message = byKey.size === 0
          ? `no ${ep.predicateType} attestation for step ${step.name} from its functionaries (${refs.map((k) => functionaryLabel(k)).join(', ') || 'none listed'})`
          : `threshold not met for step ${step.name}: ${byKey.size} of ${threshold} functionaries attested ${ep.predicateType}`;
        stepEntry.verdict = 'fail';
        fail({ code: 'THRESHOLD', check: 'threshold', step: step.name, message: entry.message });
        // still evaluate what is there, so the report shows it
      }
      let firstFailure: { artifact: boolean; message: string } | undefined;
      for (const [keyid, mine] of byKey) {
        const results = mine.map((c) => evaluateClaim(step, ep, c, compiled, claimsByStep, { artifactRules, params, now: options.now, links: options.links }, warnings));
        entry.claims.push(...results);
        const bad = results.find((r) => r.verdict === 'fail');
        if (!bad) entry.accepted.push(keyid);
        else firstFailure ??= { artifact: bad.artifactRules.some((a) => a.verdict === 'fail'), message: `claim by ${functionaryLabel(keyid)}${bad.source ? ` (${bad.source})` : ''}: ${bad.message}` };
      }
      if (entry.verdict !== 'fail' && entry.accepted.length < threshold) {
        entry.verdict = 'fail';
        stepEntry.verdict = 'fail';
        entry.message = `step ${step.name}: ${entry.accepted.length} of ${threshold} required ${ep.predicateType} claims passed; ${firstFailure?.message ?? ''}`.trim();
        fail({
          code: firstFailure?.artifact ? 'ARTIFACT_RULE' : 'PREDICATE_RULE',
          check: firstFailure?.artifact ? 'artifact-rules' : 'predicate-rules',
          step: step.name,
          message: entry.message,
        });
      }
    }
  }
  return { verdict: failure ? 'fail' : 'pass', steps, warnings, failure };
}
