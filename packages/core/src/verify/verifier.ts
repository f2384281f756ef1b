/**
 * `verifySupplyChain`: in-toto 1.3.1's `in_toto_verify`, step by step, as a pure function.
 * Files, keys, `now` and inspection results come in; a report comes out. Verification
 * failures end the run with a report (verdict 'fail', the first failure in the reference's
 * words); bad input (malformed files, bad rules, missing parameters) throws a CustodyError.
 *
 *  1 layout signatures   2 expiry          3 parameter substitution   4 load links
 *  5 link signatures + thresholds          6 sublayouts (recursive)   7 command alignment (warning)
 *  8 threshold agreement 9 step rules      10 predicate rules (expectedPredicates, CEL)
 *  11 inspections        12 inspection rules
 *
 * Attestations (Sigstore bundles, DSSE Statements) come from the caller's collector, verified
 * against the keys and identities the layout lists for their step: link Statements count as the
 * step's links (keyless functionaries have no other way to sign one), every claim feeds step 10.
 */
import { CustodyError, type ErrorCode } from '../errors.ts';
import { parseSignedFile, requireInTotoPayloadType, verifySignedFile, type SignedFile } from '../envelope.ts';
import { publicKeyFromSslib, type PublicKey } from '../keys.ts';
import { normalizeLink, linkFileName, setOwn, type ArtifactMap, type LinkBody } from '../model/link.ts';
import { normalizeLayout, parseExpires, isPlainObject, stepExtensionFields, type LayoutBody } from '../model/layout.ts';
import { applyArtifactRules, hashDictEqual, type RuleLink } from '../rules/engine.ts';
import { pythonListRepr } from '../rules/parse.ts';
import type {
  AttestationRequest, Check, CheckName, CollectedAttestations, LinkSource, AttestationRejection, SignerEntry, VerificationReport, VerifyInput, InspectionRunner,
  LayoutKeylessVerification, ProvenArtifacts,
} from './types.ts';
import { LINK_PREDICATE_TYPE, statementToLink } from '../statement.ts';
import {
  describePolicy, functionaryLabel, functionaryMatches, identityMatches, isIdentityPolicy, type FunctionaryRef, type IdentityPolicy, type KeylessIdentity,
} from '../identity.ts';
import type { VerifiedClaim } from '../attestations/artifact-rules.ts';
import type { AttestationStepPolicy } from '../attestations/evaluate.ts';
import { readLayoutExtensions, type LayoutExtensions } from './extensions.ts';
import { bindingProblem } from './binding.ts';
import { checkArtifactInHand, checkSubjectInHand } from './in-hand.ts';

// Predicate rules need CEL (~0.5 MB bundled): loaded only for layouts that have some.
let predicateRules: typeof import('../attestations/evaluate.ts') | undefined;
const loadPredicateRules = async () => (predicateRules ??= await import('../attestations/evaluate.ts'));

/** A verification failure on its way up to the report. */
class Failed extends Error {
  /** The failure in the user's terms (the message keeps the reference's words). */
  hint?: string;
  constructor(readonly code: ErrorCode, readonly check: CheckName, message: string, readonly step?: string, hint?: string) {
    super(message);
    if (hint) this.hint = hint;
  }
}

/** The body a link file carries: a link, or a layout (a sublayout). */
type LoadedBody = { kind: 'link'; body: LinkBody } | { kind: 'layout'; body: LayoutBody };

interface LoadedLink {
  keyid: string;
  file: string;
  /** A link file (checked at step 5) … */
  signed?: SignedFile<unknown>;
  /** … or a link Statement the attestation collector already verified. */
  claim?: VerifiedClaim;
  loaded: LoadedBody;
}

/** Attestations and custody extensions of the root layout (none for sublayouts). */
interface Attestations {
  ext: LayoutExtensions;
  collected: CollectedAttestations;
}

/** What a step ends up with after sublayouts are summarized. */
interface StepLink { keyid: string; file: string; link: LinkBody }

interface RunContext {
  now: Date;
  runInspection?: InspectionRunner;
  skipInspections?: boolean;
  /** Names of the inspections not run (skipInspections). */
  skipped: string[];
  warnings: string[];
  params?: Record<string, string>;
  strictCommand?: boolean;
}

/** `<step>.<keyid[:8]>` — the reference's SUBLAYOUT_LINK_DIR_FORMAT. */
export function sublayoutLinkDir(step: string, keyid: string): string {
  return `${step}.${keyid.slice(0, 8)}`;
}

function prefixed(source: LinkSource, dir: string): LinkSource {
  return { read: (rel) => source.read(`${dir}/${rel}`) };
}

/** Python `str.format(**params)` for `{name}` fields, `{{` and `}}`. */
export function substituteParameter(s: string, params: Record<string, string>, where: string): string {
  return s.replace(/\{\{|\}\}|\{([^{}]*)\}|[{}]/g, (m, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    if (name === undefined) throw new CustodyError('USAGE', `${where}: single '${m}' in ${JSON.stringify(s)} (write '${m}${m}' for a literal brace)`);
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) throw new CustodyError('USAGE', `${where}: unsupported parameter field {${name}} in ${JSON.stringify(s)}`);
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      throw new CustodyError('USAGE', `${where}: parameter ${name} is not given (--param ${name}=VALUE)`);
    }
    return params[name];
  });
}

/** Step 3: every rule token, expected command and inspection run, as `substitute_parameters` does. */
export function substituteLayoutParameters(layout: LayoutBody, params: Record<string, string>): LayoutBody {
  const sub = (list: string[], where: string) => list.map((s) => substituteParameter(s, params, where));
  const rules = (rs: string[][], where: string) => rs.map((r, i) => sub(r, `${where}[${i}]`));
  return {
    ...layout,
    steps: layout.steps.map((s, i) => ({
      ...s,
      expected_command: sub(s.expected_command, `steps[${i}].expected_command`),
      expected_materials: rules(s.expected_materials, `steps[${i}].expected_materials`),
      expected_products: rules(s.expected_products, `steps[${i}].expected_products`),
    })),
    inspect: layout.inspect.map((s, i) => ({
      ...s,
      run: sub(s.run, `inspect[${i}].run`),
      expected_materials: rules(s.expected_materials, `inspect[${i}].expected_materials`),
      expected_products: rules(s.expected_products, `inspect[${i}].expected_products`),
    })),
  };
}

const LINK_PREDICATE_V03 = 'https://in-toto.io/attestation/link/v0.3';

/** ResourceDescriptors (`name`, `digest`) → an artifact map. */
function descriptorsToArtifacts(list: unknown, file: string): ArtifactMap {
  if (list === undefined) return {};
  if (!Array.isArray(list)) throw new CustodyError('SCHEMA_INVALID', 'link predicate: materials/subject must be lists of resource descriptors', { file });
  const out: ArtifactMap = {};
  for (const d of list) {
    const name = isPlainObject(d) ? d.name ?? d.uri : undefined;
    if (typeof name !== 'string' || !isPlainObject(d) || (d.digest !== undefined && !isPlainObject(d.digest))) {
      throw new CustodyError('SCHEMA_INVALID', 'link predicate: a resource descriptor needs a name and a digest object', { file });
    }
    setOwn(out, name, { ...(d.digest as Record<string, string> | undefined) }); // __proto__ is a file name too
  }
  return out;
}

function loadBody(signed: SignedFile<unknown>, file: string): LoadedBody {
  requireInTotoPayloadType(signed, file);
  const body = signed.body;
  if (isPlainObject(body) && body._type === 'layout') return { kind: 'layout', body: normalizeLayout(body, file) };
  if (isPlainObject(body) && body._type === 'link') return { kind: 'link', body: normalizeLink(body, file) };
  // A DSSE Statement with the in-toto link predicate (ITE-6 form): signed over the raw payload,
  // read as the equivalent legacy link (products = subject).
  if (signed.format === 'dsse' && isPlainObject(body) && typeof body._type === 'string' && body._type.startsWith('https://in-toto.io/Statement/')
    && body.predicateType === LINK_PREDICATE_V03 && isPlainObject(body.predicate)) {
    const p = body.predicate;
    return {
      kind: 'link',
      body: normalizeLink({
        _type: 'link', name: p.name, command: p.command ?? [], materials: descriptorsToArtifacts(p.materials, file),
        products: descriptorsToArtifacts(body.subject, file), byproducts: p.byproducts ?? {}, environment: p.environment ?? {},
      }, file),
    };
  }
  throw new CustodyError('SCHEMA_INVALID', `not in-toto link or layout metadata (_type ${JSON.stringify(isPlainObject(body) ? body._type ?? null : typeof body)})`, { file });
}

/** The signed body as the model holds it — already normalized when the file was loaded. */
function normalizerFor(loaded: LoadedBody): (b: unknown) => unknown {
  return () => loaded.body;
}

function keyFromLayout(layout: LayoutBody, keyid: string): PublicKey | undefined {
  const k = layout.keys[keyid];
  if (!k) return undefined;
  try {
    return publicKeyFromSslib(k, `layout keys.${keyid}`);
  } catch (e) {
    if (e instanceof CustodyError && e.code === 'KEY_UNSUPPORTED') return undefined;
    throw e;
  }
}

function subkeyIds(layout: LayoutBody, keyid: string): string[] {
  const subkeys = (layout.keys[keyid] as Record<string, unknown> | undefined)?.subkeys;
  return isPlainObject(subkeys) ? Object.keys(subkeys) : [];
}

function commandRepr(cmd: readonly unknown[]): string {
  return pythonListRepr(cmd);
}

function artifactsEqual(a: ArtifactMap, b: ArtifactMap): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hashDictEqual(a[k], b[k])) return false;
  return true;
}

/** Why `signer` does not satisfy `policy`, in a few words. */
function identityMismatchReason(signer: KeylessIdentity, policy: IdentityPolicy): string {
  if (signer.issuer !== policy.issuer) return `issuer ${signer.issuer} is not ${policy.issuer}`;
  return 'subject' in policy ? `subject ${signer.subject} is not ${policy.subject}` : `subject ${signer.subject} does not match /${policy.subjectPattern}/`;
}

/**
 * Steps 1–2: every given key verifies the layout, every given keyless identity signed it (the
 * caller verified the bundle; see LayoutKeylessVerification); the layout has not expired.
 */
function checkLayout(
  signed: SignedFile<unknown>, layout: LayoutBody, keys: PublicKey[], now: Date, file: string, checks: Check[], keyless?: LayoutKeylessVerification,
): void {
  const keyids = [...new Set(keys.map((k) => k.keyid))];
  const policies = keyless?.policies ?? [];
  const base = { keyids, ...(policies.length ? { identities: policies.map(describePolicy) } : {}) };
  if (keyids.length === 0 && policies.length === 0) {
    checks.push({ check: 'layout-signature', verdict: 'fail', ...base, message: 'Layout signature verification requires at least one key.' });
    throw new Failed('LAYOUT_SIGNATURE', 'layout-signature', 'Layout signature verification requires at least one key.');
  }
  const signatures = signed.format === 'metablock' ? signed.metablock.signatures : signed.envelope.signatures;
  for (const key of keys) {
    if (verifySignedFile(signed, key, (b) => normalizeLayout(b, file))) continue;
    const message = signatures.some((s) => s.keyid === key.keyid)
      ? `Invalid signature for keyid '${key.keyid}'`
      : `No signature found for key '${key.keyid}'`;
    checks.push({ check: 'layout-signature', verdict: 'fail', ...base, message });
    throw new Failed('LAYOUT_SIGNATURE', 'layout-signature', message);
  }
  const signer = keyless?.signer;
  for (const policy of policies) {
    let message: string | undefined;
    if (!signer) {
      message = keyless?.failure
        ? `No valid keyless signature by ${describePolicy(policy)}: ${keyless.failure.code}: ${keyless.failure.reason}`
        : `No keyless signature found for ${describePolicy(policy)} (the layout is not a Sigstore bundle)`;
    } else if (!identityMatches(signer, policy)) {
      message = `Layout is signed by ${functionaryLabel(signer)}, not by ${describePolicy(policy)}: ${identityMismatchReason(signer, policy)}`;
    }
    if (message === undefined) continue;
    checks.push({ check: 'layout-signature', verdict: 'fail', ...base, message });
    throw new Failed('LAYOUT_SIGNATURE', 'layout-signature', message);
  }
  const by = [...keyids.map((k) => k.slice(0, 8)), ...(signer && policies.length ? [`${functionaryLabel(signer)} (keyless)`] : [])];
  checks.push({ check: 'layout-signature', verdict: 'pass', ...base, message: `signed by ${by.join(', ')}` });
  const expires = parseExpires(layout.expires)!;
  if (expires < now) {
    checks.push({ check: 'layout-expiry', verdict: 'fail', expires: layout.expires, message: 'Layout expired' });
    throw new Failed('LAYOUT_EXPIRED', 'layout-expiry', 'Layout expired');
  }
  checks.push({ check: 'layout-expiry', verdict: 'pass', expires: layout.expires, message: `expires ${layout.expires}` });
}

/** A step's functionaries: its pubkeys, plus the keyids and identities of the `functionaries` extension. */
function stepFunctionaries(step: { name: string; pubkeys: string[] }, att?: Attestations): FunctionaryRef[] {
  const extra = att?.ext.steps.get(step.name)?.functionaries ?? [];
  return [...step.pubkeys, ...extra.filter((f) => typeof f !== 'string' || !step.pubkeys.includes(f))];
}

function rejectedOf(att: Attestations | undefined, step: string): AttestationRejection[] {
  return (att?.collected.rejected ?? []).filter((r) => r.step === step);
}

/**
 * A failure of a step whose attestation files were rejected says why they were: with one reason
 * for all of them (a wrong identity, a bad signature) that reason's code is the failure's code.
 */
function failWithRejections(code: ErrorCode, check: CheckName, message: string, step: string, rejected: AttestationRejection[]): Failed {
  if (rejected.length === 0) return new Failed(code, check, message, step);
  const codes = [...new Set(rejected.map((r) => r.code))];
  const verificationCodes: string[] = [
    'SIGNATURE_INVALID', 'IDENTITY_MISMATCH', 'CERTIFICATE_INVALID', 'TLOG_INVALID', 'KEYID_MISMATCH', 'PAYLOAD_TYPE', 'STATEMENT_INVALID',
    'EVIDENCE_UNBOUND', 'EVIDENCE_WRONG_STEP', 'EVIDENCE_OTHER_RUN', 'EVIDENCE_SUBJECT_MISMATCH',
  ];
  const finalCode = codes.length === 1 && verificationCodes.includes(codes[0]) ? codes[0] as ErrorCode : code;
  const why = rejected.map((r) => `${r.file}: ${r.reason}`).join('; ');
  return new Failed(finalCode, check, `${message} (rejected ${why})`, step);
}

function signerFormat(claim: VerifiedClaim): 'sigstore' | 'dsse' {
  return /\.sigstore\.json$/.test(claim.source ?? '') ? 'sigstore' : 'dsse';
}

/** A step's functionaries as a person reads them: keyid prefixes and keyless identities. */
function functionaryList(refs: FunctionaryRef[]): string {
  return refs.map((f) => (typeof f === 'string' ? f.slice(0, 8) : describePolicy(f))).join(', ') || '(none)';
}

interface UnauthorizedSigner { file: string; keyid: string }

/**
 * Link files of a step that a key of the layout signed validly although it is not one of the
 * step's functionaries: not evidence (the reference ignores them too), but the reason a step
 * lacks links in the user's terms. Unreadable files are skipped: they are not evidence either.
 */
async function unauthorizedLinks(layout: LayoutBody, source: LinkSource, step: string, authorized: ReadonlySet<string>): Promise<UnauthorizedSigner[]> {
  const out: UnauthorizedSigner[] = [];
  for (const keyid of Object.keys(layout.keys)) {
    if (authorized.has(keyid)) continue;
    const file = linkFileName(step, keyid);
    const text = await source.read(file);
    if (text === undefined) continue;
    try {
      const signed = parseSignedFile(text, file);
      const loaded = loadBody(signed, file);
      const key = keyFromLayout(layout, keyid);
      if (key && loaded.kind === 'link' && verifySignedFile(signed, key, normalizerFor(loaded))) out.push({ file, keyid });
    } catch (e) {
      if (!(e instanceof CustodyError)) throw e;
    }
  }
  return out;
}

function unauthorizedFailure(check: 'links' | 'threshold', message: string, step: string, functionaries: FunctionaryRef[], found: UnauthorizedSigner[]): Failed {
  const who = [...new Set(found.map((u) => u.keyid.slice(0, 8)))];
  const files = found.map((u) => `${u.file} is validly signed by ${u.keyid.slice(0, 8)}`).join('; ');
  const expected = functionaryList(functionaries);
  return new Failed('UNAUTHORIZED_SIGNER', check,
    `${message} ${files}, a key of this layout that is not a functionary of step '${step}' (its functionaries: ${expected}).`, step,
    `What to do: have a functionary of ${step} (${expected}) run and sign the step, or — if ${who.join(', ')} should sign it — the layout owner adds ${who.length === 1 ? 'that key' : 'those keys'} to ${step}'s pubkeys and signs the layout again.`);
}

/**
 * Step 4: `<step>.<keyid8>.link` for every authorized keyid (and subkey), then verified link
 * Statements by functionaries without a link file; fewer than threshold → LinkNotFound.
 */
async function loadLinks(layout: LayoutBody, source: LinkSource, checks: Check[], att?: Attestations): Promise<Map<string, LoadedLink[]>> {
  const out = new Map<string, LoadedLink[]>();
  for (const step of layout.steps) {
    const byKeyid = new Map<string, LoadedLink>();
    const refs = stepFunctionaries(step, att);
    const keyids = refs.filter((f): f is string => typeof f === 'string');
    for (const authorized of keyids) {
      for (const keyid of [authorized, ...subkeyIds(layout, authorized)]) {
        if (byKeyid.has(keyid)) continue;
        const file = linkFileName(step.name, keyid);
        const text = await source.read(file);
        if (text === undefined) continue;
        const signed = parseSignedFile(text, file);
        byKeyid.set(keyid, { keyid, file, signed, loaded: loadBody(signed, file) });
      }
    }
    const rejected = rejectedOf(att, step.name);
    const linkClaims = (att?.collected.claimsByStep[step.name] ?? [])
      .filter((c) => c.statement.predicateType === LINK_PREDICATE_TYPE)
      .sort((a, b) => (a.source ?? '').localeCompare(b.source ?? ''));
    for (const claim of linkClaims) {
      if (byKeyid.has(claim.keyid)) continue; // a link file by the same functionary wins
      if (!refs.some((f) => functionaryMatches(f, claim))) continue; // reported by step 10, if anywhere
      const file = claim.source ?? `${step.name} link statement`;
      try {
        const body = normalizeLink(statementToLink(claim.statement, file), file);
        if (body.name !== step.name) throw new CustodyError('STATEMENT_INVALID', `link statement names step ${JSON.stringify(body.name)}, not ${JSON.stringify(step.name)}`, { file });
        byKeyid.set(claim.keyid, { keyid: claim.keyid, file, claim, loaded: { kind: 'link', body } });
      } catch (e) {
        if (!(e instanceof CustodyError)) throw e;
        rejected.push({ file, step: step.name, code: e.code, reason: e.message });
        att!.collected.rejected.push({ file, step: step.name, code: e.code, reason: e.message });
      }
    }
    const files = [...byKeyid.values()].map((l) => l.file);
    const base = { step: step.name, threshold: step.threshold, files, ...(rejected.length ? { rejected } : {}) };
    if (byKeyid.size < step.threshold) {
      const message = `Step '${step.name}' requires '${step.threshold}' link metadata file(s), found '${byKeyid.size}'.`;
      const authorized = new Set(keyids.flatMap((k) => [k, ...subkeyIds(layout, k)]));
      const unauthorized = await unauthorizedLinks(layout, source, step.name, authorized);
      const failure = unauthorized.length ? unauthorizedFailure('links', message, step.name, refs, unauthorized) : failWithRejections('LINK_NOT_FOUND', 'links', message, step.name, rejected);
      checks.push({ check: 'links', verdict: 'fail', ...base, message: unauthorized.length ? failure.message : message });
      throw failure;
    }
    checks.push({ check: 'links', verdict: 'pass', ...base, message: `found ${files.length} link file(s)` });
    out.set(step.name, [...byKeyid.values()]);
  }
  return out;
}

/** Step 5: keep links validly signed by an authorized key; count distinct (main) keys and identities against the threshold. */
function checkSignatures(layout: LayoutBody, loaded: Map<string, LoadedLink[]>, checks: Check[], att?: Attestations): Map<string, LoadedLink[]> {
  const mainForSubkey = new Map<string, string>();
  for (const [keyid] of Object.entries(layout.keys)) for (const sub of subkeyIds(layout, keyid)) mainForSubkey.set(sub, keyid);
  const verified = new Map<string, LoadedLink[]>();
  for (const step of layout.steps) {
    const good: LoadedLink[] = [];
    const signers: SignerEntry[] = [];
    const usedMain: string[] = [];
    const unauthorized: UnauthorizedSigner[] = [];
    for (const link of loaded.get(step.name) ?? []) {
      if (link.claim) {
        // verified by the collector against this step's keys and identities
        signers.push({
          keyid: link.keyid, file: link.file, format: signerFormat(link.claim), kind: 'link', valid: true,
          ...(link.claim.identity ? { identity: functionaryLabel(link.claim.identity) } : {}),
        });
        usedMain.push(link.keyid);
        good.push(link);
        continue;
      }
      const signedFile = link.signed!;
      const entry: SignerEntry = { keyid: link.keyid, file: link.file, format: signedFile.format, kind: link.loaded.kind, valid: false };
      signers.push(entry);
      let verifyKeyid: string | undefined;
      for (const authorized of step.pubkeys) {
        const hasKey = Object.prototype.hasOwnProperty.call(layout.keys, authorized);
        if (hasKey && link.keyid === authorized) { verifyKeyid = authorized; break; }
        if (mainForSubkey.has(authorized) && link.keyid === authorized) { verifyKeyid = mainForSubkey.get(authorized); break; }
        if (hasKey && subkeyIds(layout, authorized).includes(link.keyid)) { verifyKeyid = authorized; break; }
      }
      if (!verifyKeyid) { entry.reason = 'keyid not authorized for this step'; continue; }
      const key = keyFromLayout(layout, verifyKeyid);
      if (!key) { entry.reason = 'key type not supported'; continue; }
      if (!verifySignedFile(signedFile, key, normalizerFor(link.loaded))) {
        const sigs = signedFile.format === 'metablock' ? signedFile.metablock.signatures : signedFile.envelope.signatures;
        const by = sigs.map((x) => x.keyid.slice(0, 8) || '(no keyid)');
        // signed validly by another key of the layout: a known signer, just not this step's
        const other = sigs.map((x) => x.keyid).find((k) => k !== key.keyid && !step.pubkeys.includes(k) && (() => {
          const otherKey = keyFromLayout(layout, k);
          return otherKey !== undefined && verifySignedFile(signedFile, otherKey, normalizerFor(link.loaded));
        })());
        if (other) {
          entry.reason = `validly signed by ${other.slice(0, 8)}, a key of this layout that is not a functionary of this step`;
          unauthorized.push({ file: link.file, keyid: other });
          continue;
        }
        entry.reason = sigs.some((x) => x.keyid === key.keyid)
          ? `signature by ${key.keyid.slice(0, 8)} does not verify (edited after signing?)`
          : `not signed by ${key.keyid.slice(0, 8)}${by.length ? ` (signed by ${by.join(', ')})` : ' (no signatures)'}`;
        continue;
      }
      entry.valid = true;
      usedMain.push(key.keyid);
      good.push(link);
    }
    const counted = good.length - (usedMain.length - new Set(usedMain).size);
    const base = { step: step.name, threshold: step.threshold, signers, counted };
    if (counted < step.threshold) {
      const message = `Step '${step.name}' requires at least '${step.threshold}' links validly signed by different authorized functionaries. Only found '${counted}'`;
      const failure = unauthorized.length
        ? unauthorizedFailure('threshold', message, step.name, stepFunctionaries(step, att), unauthorized)
        : failWithRejections('THRESHOLD', 'threshold', message, step.name, rejectedOf(att, step.name));
      checks.push({ check: 'threshold', verdict: 'fail', ...base, message: unauthorized.length ? failure.message : message });
      throw failure;
    }
    checks.push({ check: 'threshold', verdict: 'pass', ...base, message: `${counted} of ${step.threshold} required signer(s)` });
    verified.set(step.name, good);
  }
  return verified;
}

/** The reference's `get_summary_link`: first step's materials, last step's products/byproducts/command. */
function summaryLink(layout: LayoutBody, reduced: Map<string, LinkBody>, name: string): LinkBody {
  const link: LinkBody = { _type: 'link', name, command: [], materials: {}, products: {}, byproducts: {}, environment: {} };
  if (layout.steps.length === 0) return link;
  const first = reduced.get(layout.steps[0].name)!;
  const last = reduced.get(layout.steps[layout.steps.length - 1].name)!;
  return { ...link, materials: first.materials, products: last.products, byproducts: last.byproducts, command: last.command };
}

interface LayoutRun { summary: LinkBody; reduced: Map<string, LinkBody> }

/** Steps 4–11 for one (sub)layout whose signatures and expiry were checked. */
async function verifyLayoutBody(layout: LayoutBody, source: LinkSource, stepName: string, ctx: RunContext, checks: Check[], att?: Attestations): Promise<LayoutRun> {
  const loaded = await loadLinks(layout, source, checks, att);
  const verified = checkSignatures(layout, loaded, checks, att);

  // 6: sublayouts, verified with the key that signed them, links in <step>.<keyid8>/
  const stepLinks = new Map<string, StepLink[]>();
  for (const step of layout.steps) {
    const list: StepLink[] = [];
    for (const l of verified.get(step.name) ?? []) {
      if (l.loaded.kind === 'link') { list.push({ keyid: l.keyid, file: l.file, link: l.loaded.body }); continue; }
      const key = keyFromLayout(layout, l.keyid)!;
      const sublayoutFile = l.signed!;
      const dir = sublayoutLinkDir(step.name, l.keyid);
      const subChecks: Check[] = [];
      const entry: Check = { check: 'sublayout', verdict: 'pass', step: step.name, keyid: l.keyid, linkDir: dir, checks: subChecks, message: '' };
      checks.push(entry);
      try {
        checkLayout(sublayoutFile, l.loaded.body, [key], ctx.now, l.file, subChecks);
        const run = await verifyLayoutBody(l.loaded.body, prefixed(source, dir), step.name, ctx, subChecks);
        entry.message = `sublayout signed by ${l.keyid.slice(0, 8)} verified (links in ${dir}/)`;
        list.push({ keyid: l.keyid, file: l.file, link: run.summary });
      } catch (e) {
        if (!(e instanceof Failed)) throw e;
        entry.verdict = 'fail';
        entry.message = `sublayout ${step.name} (links in ${dir}/): ${e.message}`;
        throw new Failed(e.code, e.check, `in sublayout ${step.name} (${dir}/): ${e.message}`, e.step ?? step.name, e.hint);
      }
    }
    stepLinks.set(step.name, list);
  }

  // 7: command alignment is a warning only (in-toto's rule), an error with strictCommand
  for (const step of layout.steps) {
    for (const l of stepLinks.get(step.name)!) {
      if (l.link.command.length !== step.expected_command.length || l.link.command.some((c, i) => c !== step.expected_command[i])) {
        const message = `Step '${step.name}' (${l.file}): run command '${commandRepr(l.link.command)}' differs from expected command '${commandRepr(step.expected_command)}'`;
        if (ctx.strictCommand) {
          checks.push({ check: 'command-alignment', verdict: 'fail', step: step.name, command: l.link.command, message });
          throw new Failed('COMMAND_MISMATCH', 'command-alignment', message, step.name);
        }
        ctx.warnings.push(message);
      }
    }
  }

  // 8: with threshold > 1 every link of a step reports the same artifacts
  for (const step of layout.steps) {
    if (step.threshold <= 1) continue;
    const list = stepLinks.get(step.name)!;
    const ref = list[0];
    for (const l of list) {
      if (!artifactsEqual(ref.link.materials, l.link.materials) || !artifactsEqual(ref.link.products, l.link.products)) {
        const message = `Links '${ref.file}' and '${l.file}' have different artifacts!`;
        checks.push({ check: 'threshold-agreement', verdict: 'fail', step: step.name, files: list.map((x) => x.file), message });
        throw new Failed('LINKS_DISAGREE', 'threshold-agreement', message, step.name);
      }
    }
    checks.push({ check: 'threshold-agreement', verdict: 'pass', step: step.name, files: list.map((x) => x.file), message: `${list.length} links agree on materials and products` });
  }

  const reduced = new Map<string, LinkBody>();
  for (const step of layout.steps) {
    const first = stepLinks.get(step.name)![0];
    if (!first) {
      // Only reachable with threshold < 1; the reference crashes here (IndexError).
      throw new Failed('LINK_NOT_FOUND', 'links', `Step '${step.name}' has no link metadata (threshold ${step.threshold})`, step.name);
    }
    reduced.set(step.name, first.link);
  }

  // 9: step rules, materials then products, in layout order
  const ruleLinks = new Map<string, RuleLink>(reduced);
  for (const step of layout.steps) applyItemRules(step.name, step, ruleLinks, 'artifact-rules', checks);

  // 10: predicate rules (custody DSSE layouts with expectedPredicates), over bound evidence only
  if (att) {
    bindEvidence(layout, stepLinks, att, ctx);
    await checkPredicateRules(layout, att, ctx, checks, stepLinks);
  }

  // 11: inspections (run by the caller), all before any inspection rule
  for (const inspection of layout.inspect) {
    if (ctx.skipInspections) {
      checks.push({ check: 'inspection', verdict: 'skipped', step: inspection.name, command: inspection.run, message: 'not run: the caller skipped inspections' });
      ctx.skipped.push(inspection.name);
      continue;
    }
    if (!ctx.runInspection) throw new CustodyError('USAGE', `layout has inspection ${inspection.name} but no inspection runner was given`);
    const result = await ctx.runInspection(inspection);
    const base = { step: inspection.name, command: inspection.run, exitCode: result.exitCode };
    if (result.exitCode !== 0) {
      const message = `Got non-zero return value '${result.exitCode}' from command '${commandRepr(inspection.run)}'.`;
      checks.push({ check: 'inspection', verdict: 'fail', ...base, message });
      throw new Failed('INSPECTION_FAILED', 'inspection', message, inspection.name);
    }
    checks.push({ check: 'inspection', verdict: 'pass', ...base, message: `exit 0, ${Object.keys(result.products).length} product(s)` });
    ruleLinks.set(inspection.name, { materials: result.materials, products: result.products });
  }
  // 12: inspection rules may MATCH against steps and inspections
  for (const inspection of layout.inspect) {
    if (ctx.skipInspections) {
      checks.push({ check: 'inspection-rules', verdict: 'skipped', step: inspection.name, message: 'not evaluated: the inspection was not run' });
      continue;
    }
    applyItemRules(inspection.name, inspection, ruleLinks, 'inspection-rules', checks);
  }

  return { summary: summaryLink(layout, reduced, stepName), reduced };
}

/**
 * Before step 10: a claim counts for its step only when its signed content binds it to that
 * step's verified run (binding.ts); the others join the step's rejected attestations with
 * their reason. Link Statements were counted as links already (steps 4–5).
 */
function bindEvidence(layout: LayoutBody, stepLinks: Map<string, StepLink[]>, att: Attestations, ctx: RunContext): void {
  for (const step of layout.steps) {
    const claims = att.collected.claimsByStep[step.name];
    if (!claims?.length) continue;
    const links = (stepLinks.get(step.name) ?? []).map((l) => l.link);
    const kept: VerifiedClaim[] = [];
    for (const c of claims) {
      if (c.statement.predicateType === LINK_PREDICATE_V03 || c.statement.predicateType === LINK_PREDICATE_TYPE) { kept.push(c); continue; }
      const problem = bindingProblem(c.statement, step.name, links);
      if (!problem) { kept.push(c); continue; }
      const file = c.source ?? '(attestation)';
      // one file can hold a claim per signer: reject it once
      if (!att.collected.rejected.some((r) => r.file === file && r.step === step.name && r.code === problem.code)) {
        att.collected.rejected.push({ file, step: step.name, code: problem.code, reason: problem.reason });
        ctx.warnings.push(`ignored ${file}: ${problem.code}: ${problem.reason}`);
      }
    }
    att.collected.claimsByStep[step.name] = kept;
  }
}

/** Step 10: every step's expectedPredicates over the verified claims; one check per step that has them. */
async function checkPredicateRules(layout: LayoutBody, att: Attestations, ctx: RunContext, checks: Check[], stepLinks: Map<string, StepLink[]>): Promise<void> {
  const policies: AttestationStepPolicy[] = [];
  for (const step of layout.steps) {
    const ext = att.ext.steps.get(step.name);
    if (!ext?.expectedPredicates?.length) continue;
    policies.push({ name: step.name, pubkeys: stepFunctionaries(step, att), expectedPredicates: ext.expectedPredicates, ...(ext.traceProfile ? { traceProfile: ext.traceProfile } : {}) });
  }
  if (policies.length === 0) return;
  const { evaluateAttestationSteps } = await loadPredicateRules();
  const links = Object.fromEntries([...stepLinks].map(([name, list]) => [name, list.map((l) => ({ keyid: l.keyid, link: l.link }))]));
  const report = evaluateAttestationSteps({ steps: policies }, att.collected.claimsByStep, { params: ctx.params, now: ctx.now, links });
  ctx.warnings.push(...report.warnings);
  for (const entry of report.steps) {
    const rejected = rejectedOf(att, entry.step);
    const failed = entry.predicates.find((p) => p.verdict === 'fail');
    const passed = entry.predicates.filter((p) => p.verdict === 'pass').length;
    checks.push({
      check: 'predicate-rules', verdict: entry.verdict, step: entry.step, predicates: entry.predicates,
      ...(rejected.length ? { rejected } : {}),
      message: failed?.message ?? entry.message ?? `${passed} of ${entry.predicates.length} expected predicate(s) attested and their rules passed`,
    });
  }
  const f = report.failure;
  if (!f) return;
  // A missing or short claim keeps its code (THRESHOLD) and, like a failed rule, is a predicate-rules failure.
  const code: ErrorCode = f.code === 'LINK_NOT_FOUND' ? 'THRESHOLD' : f.code;
  if (code === 'THRESHOLD') throw failWithRejections(code, 'predicate-rules', f.message, f.step ?? '', rejectedOf(att, f.step ?? ''));
  throw new Failed(code, 'predicate-rules', f.message, f.step);
}

/** What the collector must verify: per step, the keys and identities allowed to attest it. */
function attestationRequest(layout: LayoutBody, ext: LayoutExtensions): AttestationRequest {
  const steps = layout.steps.map((step) => {
    const se = ext.steps.get(step.name);
    const refs: FunctionaryRef[] = [...step.pubkeys, ...(se?.functionaries ?? [])];
    for (const ep of se?.expectedPredicates ?? []) refs.push(...(ep.functionaries ?? []));
    const keyids = new Set<string>();
    const identities: IdentityPolicy[] = [];
    for (const r of refs) {
      if (typeof r === 'string') { keyids.add(r); for (const sub of subkeyIds(layout, r)) keyids.add(sub); }
      else if (isIdentityPolicy(r) && !identities.some((x) => JSON.stringify(x) === JSON.stringify(r))) identities.push(r);
    }
    const keys: PublicKey[] = [];
    for (const id of keyids) {
      const k = keyFromLayout(layout, id);
      if (k) keys.push(k);
    }
    return { name: step.name, keys, identities };
  });
  return { steps, ...(ext.trustedRoot ? { trustedRoot: ext.trustedRoot } : {}) };
}

function applyItemRules(
  name: string, item: { expected_materials: string[][]; expected_products: string[][] },
  links: Map<string, RuleLink>, check: 'artifact-rules' | 'inspection-rules', checks: Check[],
): void {
  for (const side of ['materials', 'products'] as const) {
    const rules = side === 'materials' ? item.expected_materials : item.expected_products;
    const r = applyArtifactRules(name, side, rules, links);
    const entry: Check = {
      check, verdict: r.verdict, step: name, side, rules: r.rules, unconsumed: r.unconsumed,
      message: r.failure ? r.failure.message : `${rules.length} rule(s) passed`,
    };
    checks.push(entry);
    if (r.failure) throw new Failed('ARTIFACT_RULE', check, r.failure.message, name, r.failure.hint);
  }
}

/**
 * Step 13 (custody): the artifacts in hand are what the step produced — every file of
 * `--artifact PATH` a recorded product with the same digest, none missing, none extra; every
 * `--subject` digest a product (or a bound evidence subject) of the step.
 */
function checkInHand(input: VerifyInput, layout: LayoutBody, run: LayoutRun, att: Attestations | undefined, checks: Check[]): ProvenArtifacts | undefined {
  const artifacts = input.artifacts ?? [];
  const subjects = input.subjects ?? [];
  const stepName = input.artifactStep ?? layout.steps.at(-1)?.name;
  if (artifacts.length === 0 && subjects.length === 0) return undefined;
  if (stepName === undefined) throw new CustodyError('USAGE', 'the layout has no steps: there is nothing an artifact could be a product of');
  const link = run.reduced.get(stepName);
  if (!link) throw new CustodyError('USAGE', `--artifact-step ${JSON.stringify(stepName)}: the layout has no such step (steps: ${layout.steps.map((s) => s.name).join(', ')})`);
  const proven: ProvenArtifacts = { step: stepName, artifacts: [], subjects: [] };
  for (const a of artifacts) {
    const r = checkArtifactInHand(a, stepName, link);
    if ('failure' in r) {
      checks.push({ check: 'artifact-in-hand', verdict: 'fail', step: stepName, message: r.failure.message });
      throw new Failed(r.failure.code, 'artifact-in-hand', r.failure.message, stepName);
    }
    proven.artifacts.push(r.proof);
    checks.push({ check: 'artifact-in-hand', verdict: 'pass', step: stepName, message: `${a.path}: ${r.proof.files} file(s) exactly as '${stepName}' produced them${r.proof.recordedAs ? ` (${r.proof.recordedAs})` : ''}` });
  }
  for (const hex of subjects) {
    const r = checkSubjectInHand(hex, stepName, link, att?.collected.claimsByStep[stepName] ?? []);
    if ('code' in r) {
      checks.push({ check: 'artifact-in-hand', verdict: 'fail', step: stepName, message: r.message });
      throw new Failed(r.code, 'artifact-in-hand', r.message, stepName);
    }
    proven.subjects.push({ digest: { sha256: hex.toLowerCase() }, recordedAs: r.name });
    checks.push({ check: 'artifact-in-hand', verdict: 'pass', step: stepName, message: `sha256:${hex.toLowerCase()} is ${r.name}, produced by '${stepName}'` });
  }
  return proven;
}

/**
 * The complete in-toto verification of `input.layout` against its links. Resolves to a report
 * (verdict pass/fail); rejects with a CustodyError only for bad input.
 */
export async function verifySupplyChain(input: VerifyInput): Promise<VerificationReport> {
  const checks: Check[] = [];
  const ctx: RunContext = { now: input.now, runInspection: input.runInspection, skipInspections: input.skipInspections === true, skipped: [], warnings: [], params: input.params, strictCommand: input.strictCommand };
  const file = input.layoutFile ?? 'layout';
  try {
    if (!isPlainObject(input.layout.body) || input.layout.body._type !== 'layout') {
      throw new CustodyError('SCHEMA_INVALID', `not an in-toto layout (_type ${JSON.stringify(isPlainObject(input.layout.body) ? input.layout.body._type ?? null : typeof input.layout.body)})`, { file });
    }
    requireInTotoPayloadType(input.layout, file);
    let layout = normalizeLayout(input.layout.body, file);
    checkLayout(input.layout, layout, input.layoutKeys, input.now, file, checks, input.layoutIdentities);
    if (input.layout.format === 'metablock') {
      // The reference's model drops unknown step fields before checking signatures, so in a
      // metablock they are unsigned: say so, and never act on them.
      for (const [i, fields] of Object.entries(stepExtensionFields(input.layout.body))) {
        ctx.warnings.push(`steps[${i}]: field(s) ${fields.join(', ')} of a legacy layout are not covered by its signature and were ignored`);
      }
    }
    let ext: LayoutExtensions = { steps: new Map() };
    if (input.layout.format === 'dsse') {
      ext = readLayoutExtensions(input.layout.body, file);
      for (const name of ext.steps.keys()) if (!layout.steps.some((s) => s.name === name)) ext.steps.delete(name);
    } else if (isPlainObject(input.layout.body) && input.layout.body.trustedRoot !== undefined) {
      ctx.warnings.push('trustedRoot of a legacy layout is not covered by its signature and was ignored');
    }
    if (input.params !== undefined) layout = substituteLayoutParameters(layout, input.params);
    // a predicate rule's missing parameter is bad input before any link is read
    if ([...ext.steps.values()].some((e) => e.expectedPredicates?.length)) (await loadPredicateRules()).checkRuleParams({ steps: [...ext.steps].map(([name, e]) => ({ name, expectedPredicates: e.expectedPredicates ?? [] })) }, input.params ?? {});
    let att: Attestations | undefined;
    if (input.attestations) {
      const collected = await input.attestations(attestationRequest(layout, ext));
      att = { ext, collected: { claimsByStep: { ...collected.claimsByStep }, rejected: [...collected.rejected] } };
      const known = new Set(layout.steps.map((s) => s.name));
      for (const r of collected.rejected) {
        if (r.step === undefined || known.has(r.step)) ctx.warnings.push(`ignored ${r.file}: ${r.code}: ${r.reason}`);
      }
    } else if ([...ext.steps.values()].some((e) => e.expectedPredicates?.length || e.functionaries.length)) {
      att = { ext, collected: { claimsByStep: {}, rejected: [] } };
    }
    const run = await verifyLayoutBody(layout, input.links, '', ctx, checks, att);
    const proven = checkInHand(input, layout, run, att, checks);
    return { verdict: 'pass', failure: null, warnings: ctx.warnings, checks, ...(ctx.skipped.length ? { inspectionsSkipped: ctx.skipped } : {}), ...(proven ? { proven } : {}) };
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
    return {
      verdict: 'fail',
      failure: { code: e.code, check: e.check, ...(e.step !== undefined ? { step: e.step } : {}), message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
      warnings: ctx.warnings,
      checks,
      ...(ctx.skipped.length ? { inspectionsSkipped: ctx.skipped } : {}),
    };
  }
}
