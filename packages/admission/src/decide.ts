/**
 * One admission decision: the artifacts of the reviewed object, the policies each matches, the
 * digest each tag names now, the final verify of that digest per matching policy (cached,
 * collapsed), and the answer. Fails closed: anything that cannot be read, resolved, pulled or
 * verified before the deadline denies, with the reason in status.message.
 */
import { CustodyError, isCustodyError } from '@custody/core/errors';
import type { LoadedConfig, LoadedPolicy } from './config.ts';
import type { AdmissionMetrics } from './metrics.ts';
import { SingleFlight, TtlCache } from './cache.ts';
import { describeImage, globMatch, parseImageReference, parseOciUri, type ImageReference } from './reference.ts';
import type { RegistryAccess } from './registry.ts';
import { envelope, findArtifacts, parseReview, reviewUid, type AdmissionResponse, type FoundArtifact, type ReviewEnvelope, type ReviewRequest } from './review.ts';
import type { VerifyFunction, VerifyInputRead } from './verify.ts';

/** The outcome of verifying one digest against one policy. */
export interface Verdict {
  ok: boolean;
  /** Error code of the first failing check (or of the error); 'VERIFIED' on a pass. */
  code: string;
  check?: string;
  step?: string;
  message: string;
  inspectionsSkipped: string[];
  /** A failure that is about the world (registry, deadline), not the evidence: never cached. */
  transient?: boolean;
}

/** What the VSA writer needs of a finished verification. */
export interface VerdictRecord {
  policy: LoadedPolicy;
  subjectDigest: string;
  reference: string;
  verdict: Verdict;
  report: import('@custody/core').VerificationReport;
  inputsRead: VerifyInputRead[];
  now: Date;
}

export interface VsaHooks {
  /** A still-valid PASSED VSA for (digest, policy) written earlier: reused instead of verifying again. */
  reuse(policy: LoadedPolicy, subjectDigest: string, now: Date): Promise<boolean>;
  record(r: VerdictRecord): Promise<void>;
}

export interface AdmissionDeps {
  registry: RegistryAccess;
  verify: VerifyFunction;
  metrics: AdmissionMetrics;
  now?: () => Date;
  log?: (entry: Record<string, unknown>) => void;
  vsa?: VsaHooks;
}

interface ArtifactOutcome {
  artifact: FoundArtifact;
  description: string;
  digest?: string;
  denial?: { code: string; message: string };
  warnings: string[];
  /** policy → result, for the log */
  results: { policy: string; mode: string; ok: boolean; code: string; cached: boolean }[];
}

const NOT_CHECKED_OPERATIONS = new Set(['DELETE', 'CONNECT']);

export class AdmissionController {
  private readonly verdicts: TtlCache<Verdict>;
  private readonly flights = new SingleFlight<Verdict>();
  private readonly tags: TtlCache<{ digest: string; at: number }>;
  private readonly tagFlights = new SingleFlight<string>();
  private readonly now: () => Date;
  private readonly log: (entry: Record<string, unknown>) => void;

  constructor(public config: LoadedConfig, private readonly deps: AdmissionDeps) {
    this.verdicts = new TtlCache<Verdict>({ maxEntries: config.cache.maxEntries, now: () => this.now().getTime() });
    this.tags = new TtlCache<{ digest: string; at: number }>({ maxEntries: config.cache.maxEntries, now: () => this.now().getTime() });
    this.now = deps.now ?? (() => new Date());
    this.log = deps.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
    deps.metrics.gauge('custody_admission_verdict_cache_entries', 'Verdicts in the cache', () => this.verdicts.size);
    deps.metrics.gauge('custody_admission_verifications_in_flight', 'Verifications running now', () => this.flights.inFlight);
  }

  /** Forgets every cached verdict and tag (the next review of each image verifies again). */
  clearCaches(): void {
    this.verdicts.clear();
    this.tags.clear();
  }

  /** Answers one AdmissionReview body (already parsed JSON, or undefined when it was not JSON). */
  async review(body: unknown): Promise<ReviewEnvelope> {
    const started = process.hrtime.bigint();
    const m = this.deps.metrics;
    let req: ReviewRequest | undefined;
    let response: AdmissionResponse;
    let reason = 'VERIFIED';
    let outcomes: ArtifactOutcome[] = [];
    try {
      req = parseReview(body);
      m.requests.inc({ kind: req.kind.kind });
      const r = await this.decide(req);
      response = r.response;
      reason = r.reason;
      outcomes = r.outcomes;
    } catch (e) {
      m.requests.inc({ kind: req?.kind.kind ?? 'unknown' });
      if (!isCustodyError(e)) this.log({ level: 'error', msg: 'unexpected error', error: (e as Error)?.stack ?? String(e) });
      reason = isCustodyError(e) ? e.code : 'INTERNAL_ERROR';
      const message = isCustodyError(e) ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
      response = deny(reviewUid(body), `custody: ${reason}: ${message}`);
    }
    const result = !response.allowed ? 'denied' : response.warnings?.length ? 'warned' : 'allowed';
    m.decisions.inc({ result, reason });
    m.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.log({
      time: this.now().toISOString(), uid: response.uid, namespace: req?.namespace, kind: req?.kind.kind, name: req?.name,
      operation: req?.operation, allowed: response.allowed, reason,
      ...(response.status ? { message: response.status.message } : {}), ...(response.warnings ? { warnings: response.warnings } : {}),
      artifacts: outcomes.map((o) => ({ reference: o.artifact.reference, field: o.artifact.field, digest: o.digest, results: o.results })),
    });
    return envelope(response);
  }

  private async decide(req: ReviewRequest): Promise<{ response: AdmissionResponse; reason: string; outcomes: ArtifactOutcome[] }> {
    const cfg = this.config;
    const allow = (reason: string, warnings: string[] = []) => ({ response: { uid: req.uid, allowed: true, ...(warnings.length ? { warnings } : {}) }, reason, outcomes: [] as ArtifactOutcome[] });
    if (NOT_CHECKED_OPERATIONS.has(req.operation)) return allow('NOT_CHECKED_OPERATION');
    // The webhook configuration excludes these namespaces too; this keeps the cluster's own
    // namespaces working even when that selector is edited wrongly.
    if (req.namespace && cfg.excludeNamespaces.some((g) => globMatch(g, req.namespace))) return allow('EXCLUDED_NAMESPACE');
    const artifacts = findArtifacts(req, cfg.customResources);
    if (artifacts.length === 0) return allow('NO_ARTIFACTS');
    // Identical references in one object are one verification.
    const unique = new Map<string, FoundArtifact>();
    for (const a of artifacts) if (!unique.has(`${a.kind} ${a.reference}`)) unique.set(`${a.kind} ${a.reference}`, a);
    const pending = new Set<string>(unique.keys());
    const deadline = this.now().getTime() + cfg.deadlineMs;
    const work = Promise.all([...unique].map(async ([key, a]) => {
      const o = await this.evaluate(a, req.namespace, deadline);
      pending.delete(key);
      return o;
    }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'deadline'>((res) => { timer = setTimeout(() => res('deadline'), cfg.deadlineMs); });
    const raced = await Promise.race([work, timeout]).finally(() => clearTimeout(timer));
    if (raced === 'deadline') {
      const waiting = [...pending].map((k) => unique.get(k)!.reference);
      return {
        response: deny(req.uid, `custody: DEADLINE_EXCEEDED: ${waiting.join(', ')}: verification did not finish within ${cfg.deadlineMs} ms (the internal deadline below the webhook's timeoutSeconds ${cfg.timeoutSeconds})`),
        reason: 'DEADLINE_EXCEEDED', outcomes: [],
      };
    }
    const outcomes = raced;
    const denials = outcomes.filter((o) => o.denial);
    const warnings = outcomes.flatMap((o) => o.warnings);
    if (denials.length) {
      const message = denials.map((o) => o.denial!.message).join('; ');
      return { response: { ...deny(req.uid, capMessage(message)), ...(warnings.length ? { warnings: capWarnings(warnings) } : {}) }, reason: denials[0].denial!.code, outcomes };
    }
    const r = allow('VERIFIED', capWarnings(warnings));
    return { ...r, outcomes };
  }

  private async evaluate(a: FoundArtifact, namespace: string, deadline: number): Promise<ArtifactOutcome> {
    const cfg = this.config;
    const what = a.kind === 'model' ? 'model' : 'image';
    const out: ArtifactOutcome = { artifact: a, description: `${what} ${a.reference}`, warnings: [], results: [] };
    let ref: ImageReference;
    try {
      ref = a.reference.startsWith('oci://') || a.kind === 'model' ? parseOciUri(a.reference) : parseImageReference(a.reference);
    } catch (e) {
      if (!isCustodyError(e)) throw e;
      out.denial = { code: e.code, message: `custody: ${e.code}: ${a.field}: ${e.message}` };
      return out;
    }
    const policies = cfg.policies.filter((p) => p.images.some((g) => globMatch(g, ref.name)) && (!p.namespaces || p.namespaces.some((g) => globMatch(g, namespace))));
    if (policies.length === 0) {
      const message = `${what} ${ref.original} (${ref.name}) matches no policy${namespace ? ` for namespace ${namespace}` : ''}`;
      if (cfg.noMatch === 'deny') out.denial = { code: 'NO_MATCHING_POLICY', message: `custody: NO_MATCHING_POLICY: ${message} (noMatch: deny)` };
      else if (cfg.noMatch === 'warn') out.warnings.push(`custody: ${message}; admitted unverified (noMatch: warn)`);
      return out;
    }
    for (const policy of policies) {
      let digest: string;
      try {
        digest = await this.resolve(ref, policy, deadline);
      } catch (e) {
        if (!isCustodyError(e)) throw e;
        // Enforce and warn alike: a policy in warn mode says so, but unreadable stays unreadable.
        this.apply(out, policy, ref, undefined, { ok: false, code: e.code, message: e.message, inspectionsSkipped: [], transient: true }, false);
        continue;
      }
      out.digest = digest;
      const { verdict, cached } = await this.verdictFor(policy, ref, digest);
      this.apply(out, policy, ref, digest, verdict, cached);
    }
    return out;
  }

  /** Records one policy's verdict on the outcome according to the policy's mode. */
  private apply(out: ArtifactOutcome, policy: LoadedPolicy, ref: ImageReference, digest: string | undefined, v: Verdict, cached: boolean): void {
    const m = this.deps.metrics;
    const subject = `${out.artifact.kind === 'model' ? 'model' : 'image'} ${describeImage(ref, digest)}`;
    out.results.push({ policy: policy.name, mode: policy.mode, ok: v.ok, code: v.code, cached });
    let ok = v.ok;
    let code = v.code;
    let message = v.message;
    let check = v.check;
    let step = v.step;
    if (ok && v.inspectionsSkipped.length) {
      m.inspectionsSkipped.inc({ policy: policy.name }, v.inspectionsSkipped.length);
      if (policy.inspections === 'require') {
        ok = false;
        code = 'INSPECTIONS_NOT_RUN';
        check = 'inspection';
        step = v.inspectionsSkipped[0];
        message = `inspection(s) ${v.inspectionsSkipped.join(', ')} cannot run at admission and the policy says inspections: require`;
      } else {
        out.warnings.push(`custody: ${subject}: policy ${policy.name}: inspection(s) ${v.inspectionsSkipped.join(', ')} NOT run at admission (not verified); every step check passed`);
      }
    }
    if (ok) return;
    const failed = `${check ? `check ${check}${step ? ` (${step})` : ''} failed` : 'failed'}`;
    const text = `custody: ${subject} denied by policy ${policy.name}: ${failed} [${code}]: ${message}`;
    if (policy.mode === 'enforce') {
      if (!out.denial) out.denial = { code, message: text };
    } else if (policy.mode === 'warn') {
      out.warnings.push(`${text.replace(' denied by ', ' would be denied by ')} (mode: warn)`);
    } else {
      m.decisions.inc({ result: 'audited', reason: code });
      this.log({ level: 'audit', policy: policy.name, reference: ref.original, digest, code, message: text });
    }
  }

  /**
   * The digest a reference names: pinned digests as they are, tags at the registry. A tag's
   * digest is kept `tagTtlSeconds` (never longer); past half of that, the next review starts a
   * refresh in the background, so a busy tag never makes reviews wait for the registry.
   */
  private async resolve(ref: ImageReference, policy: LoadedPolicy, deadline: number): Promise<string> {
    if (ref.digest) return ref.digest;
    const key = `${policy.plainHttp ? 'http' : 'https'} ${ref.name}:${ref.tag}`;
    const ttl = this.config.cache.tagTtlSeconds * 1000;
    const fetchDigest = (until: number) => this.tagFlights.run(key, async () => {
      const started = this.now().getTime();
      const signal = AbortSignal.timeout(Math.max(1, until - started));
      const d = await this.deps.registry.resolve(ref, { plainHttp: policy.plainHttp, signal });
      // kept from when it was asked for: the answer is at most ttl old when it is last used
      this.tags.set(key, { digest: d.digest, at: started }, ttl - (this.now().getTime() - started));
      return d.digest;
    });
    const hit = this.tags.get(key);
    if (hit) {
      if (this.now().getTime() - hit.at > ttl / 2) fetchDigest(this.now().getTime() + this.config.deadlineMs).catch(() => undefined);
      return hit.digest;
    }
    return fetchDigest(deadline);
  }

  private async verdictFor(policy: LoadedPolicy, ref: ImageReference, digest: string): Promise<{ verdict: Verdict; cached: boolean }> {
    const m = this.deps.metrics;
    const key = `${digest} ${policy.layoutDigest} ${policy.trustDigest}`;
    const hit = this.verdicts.get(key);
    if (hit) {
      m.cache.inc({ result: 'hit' });
      return { verdict: hit, cached: true };
    }
    const joined = this.flights.collapsed;
    const p = this.flights.run(key, () => this.verifyNow(policy, ref, digest, key));
    m.cache.inc({ result: this.flights.collapsed > joined ? 'collapsed' : 'miss' });
    return { verdict: await p, cached: false };
  }

  /** Pulls the digest's attestations and runs the final verify; caches by outcome. */
  private async verifyNow(policy: LoadedPolicy, ref: ImageReference, digest: string, key: string): Promise<Verdict> {
    const m = this.deps.metrics;
    const cfg = this.config;
    const now = this.now();
    if (this.deps.vsa && (await this.deps.vsa.reuse(policy, digest, now).catch(() => false))) {
      m.cache.inc({ result: 'vsa' });
      const v: Verdict = { ok: true, code: 'VERIFIED', message: 'a valid PASSED VSA for this digest and policy', inspectionsSkipped: policy.inspectionNames };
      this.verdicts.set(key, v, this.passTtl(policy, now));
      return v;
    }
    // A flight has its own deadline: a waiting request may give up, the verification finishes
    // and fills the cache for the API server's retry.
    const signal = AbortSignal.timeout(cfg.deadlineMs);
    let verdict: Verdict;
    try {
      const files = await this.deps.registry.attestations(ref, digest, { plainHttp: policy.plainHttp, signal });
      const r = await this.deps.verify({ policy, subjectDigest: digest, attestations: files, now });
      const f = r.report.failure;
      verdict = r.report.verdict === 'pass'
        ? { ok: true, code: 'VERIFIED', message: 'verified', inspectionsSkipped: r.inspectionsSkipped }
        : {
          ok: false, code: f?.code ?? 'VERIFICATION_FAILED', ...(f?.check ? { check: f.check } : {}), ...(f?.step ? { step: f.step } : {}),
          message: (f?.message ?? 'verification failed') + (files.length === 0 ? ' (no attestations are attached to this digest)' : ''), inspectionsSkipped: [],
        };
      m.verifications.inc({ result: verdict.ok ? 'pass' : 'fail' });
      if (this.deps.vsa) {
        await this.deps.vsa.record({ policy, subjectDigest: digest, reference: ref.original, verdict, report: r.report, inputsRead: r.inputsRead, now }).catch((e) => {
          this.log({ level: 'error', msg: 'could not write the VSA', error: (e as Error).message });
        });
      }
    } catch (e) {
      if (!isCustodyError(e)) throw e;
      m.verifications.inc({ result: 'error' });
      return { ok: false, code: e.code, message: e.message + (e.file ? ` (${e.file})` : ''), inspectionsSkipped: [], transient: true };
    }
    this.verdicts.set(key, verdict, verdict.ok ? this.passTtl(policy, now) : cfg.cache.failureTtlSeconds * 1000);
    return verdict;
  }

  /** A pass is cached for the TTL, never past the layout's expiry. */
  private passTtl(policy: LoadedPolicy, now: Date): number {
    const ttl = this.config.cache.ttlSeconds * 1000;
    return policy.layoutExpires ? Math.min(ttl, policy.layoutExpires.getTime() - now.getTime()) : ttl;
  }
}

export function deny(uid: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message } };
}

/** The API server stores the message in events; keep it readable. */
function capMessage(m: string): string {
  return m.length > 2000 ? `${m.slice(0, 1997)}...` : m;
}

function capWarnings(w: string[]): string[] {
  // Kubernetes prints each warning; many identical ones help nobody.
  return [...new Set(w)].slice(0, 20).map((x) => (x.length > 500 ? `${x.slice(0, 497)}...` : x));
}

export { CustodyError };
