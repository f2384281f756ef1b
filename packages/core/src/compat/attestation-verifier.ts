/**
 * Reading in-toto attestation-verifier (ITE-10/11 prototype) material: its YAML layouts
 * (`expires`, `functionaries{keyid: {keyType, scheme, keyIDHashAlgorithms, keyVal{public}, keyID}}`,
 * `steps[{name, command, expectedMaterials, expectedProducts, expectedPredicates[{predicateType,
 * expectedAttributes[{rule, allowIfNoClaim, warn, debug}], functionaries, threshold}]}]`,
 * `subjects`, `inspections`), its attestation folders (`<step>.<keyid[:8]>.json` DSSE envelopes)
 * and its parameter files (JSON string → string). Pure: callers pass file texts in.
 */
import { parse as parseYaml } from 'yaml';
import { CustodyError, type ErrorCode } from '../errors.ts';
import { IN_TOTO_PAYLOAD_TYPE, parseSignedFile, verifySignedFile } from '../envelope.ts';
import type { SignedFile } from '../envelope.ts';
import { computeKeyid, publicKeyFromSslib } from '../keys.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan, parseJson } from '../json.ts';
import type { PublicKey, SslibKey } from '../keys.ts';
import { validateStatement } from '../statement.ts';
import type { ClaimsByStep, VerifiedClaim } from '../attestations/artifact-rules.ts';
import { evaluateAttestationSteps } from '../attestations/evaluate.ts';
import type { AttestationFailure, AttestationStepPolicy, AttestationStepsReport, ExpectedAttribute, ExpectedPredicate } from '../attestations/evaluate.ts';

export interface CompatSubjectPolicy {
  subject: string[];
  expectedPredicates: ExpectedPredicate[];
}

export interface CompatInspection {
  name: string;
  command?: string;
  predicates?: string[];
  expectedMaterials?: string[];
  expectedProducts?: string[];
  expectedAttributes?: ExpectedAttribute[];
}

/** An attestation-verifier layout mapped to custody's names. */
export interface CompatLayout {
  format: 'attestation-verifier';
  expires: string;
  /** keyid → sslib key, as custody's layout `keys` holds them. */
  keys: Record<string, SslibKey>;
  steps: (AttestationStepPolicy & { command?: string })[];
  subjects: CompatSubjectPolicy[];
  inspections: CompatInspection[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when a parsed document looks like an attestation-verifier layout (not an in-toto v1 one). */
export function isAttestationVerifierLayout(doc: unknown): boolean {
  if (!isRecord(doc) || doc._type !== undefined) return false;
  if (isRecord(doc.functionaries)) return true;
  return Array.isArray(doc.steps) && doc.steps.some((s) => isRecord(s) && ('expectedPredicates' in s || 'expectedMaterials' in s));
}

class Reader {
  constructor(readonly file: string | undefined) {}
  fail(path: string, message: string): never {
    throw new CustodyError('SCHEMA_INVALID', `${path}: ${message}`, { file: this.file });
  }
  str(v: unknown, path: string, optional = false): string | undefined {
    if (v === undefined || v === null) return optional ? undefined : this.fail(path, 'is required');
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    return v as string;
  }
  strList(v: unknown, path: string): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(path, 'must be a list of strings');
    return v as string[];
  }
  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v as unknown[];
  }
  bool(v: unknown, path: string): boolean {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v as boolean;
  }
  obj(v: unknown, path: string): Record<string, unknown> {
    if (!isRecord(v)) this.fail(path, 'must be a mapping');
    return v as Record<string, unknown>;
  }
}

function readAttributes(r: Reader, v: unknown, path: string): ExpectedAttribute[] {
  return r.list(v, path).map((a, i) => {
    const p = `${path}[${i}]`;
    const o = r.obj(a, p);
    const out: ExpectedAttribute = { rule: r.str(o.rule, `${p}.rule`)!, allowIfNoClaim: r.bool(o.allowIfNoClaim, `${p}.allowIfNoClaim`), warn: r.bool(o.warn, `${p}.warn`) };
    const debug = r.str(o.debug, `${p}.debug`, true);
    if (debug) out.debug = debug;
    return out;
  });
}

function readExpectedPredicates(r: Reader, v: unknown, path: string): ExpectedPredicate[] {
  return r.list(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = r.obj(e, p);
    const threshold = o.threshold ?? 0;
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0) r.fail(`${p}.threshold`, 'must be a non-negative integer');
    return {
      predicateType: r.str(o.predicateType, `${p}.predicateType`)!,
      expectedAttributes: readAttributes(r, o.expectedAttributes, `${p}.expectedAttributes`),
      functionaries: r.strList(o.functionaries, `${p}.functionaries`),
      threshold: (threshold as number) || 1,
    };
  });
}

/** Maps an already parsed attestation-verifier layout document; SCHEMA_INVALID names the path. */
export function compatLayoutFromDocument(doc: unknown, file?: string): CompatLayout {
  const r = new Reader(file);
  const o = r.obj(doc, 'layout');
  const expires = r.str(o.expires, 'expires')!;
  if (Number.isNaN(Date.parse(expires)) || !/^\d{4}-\d{2}-\d{2}T/.test(expires)) r.fail('expires', `is not an RFC 3339 time: ${expires}`);
  const keys: Record<string, SslibKey> = {};
  for (const [id, f] of Object.entries(o.functionaries === undefined ? {} : r.obj(o.functionaries, 'functionaries'))) {
    const p = `functionaries.${id}`;
    const k = r.obj(f, p);
    const keyVal = r.obj(k.keyVal, `${p}.keyVal`);
    const sslib: SslibKey = {
      keytype: r.str(k.keyType, `${p}.keyType`)!,
      scheme: r.str(k.scheme, `${p}.scheme`)!,
      keyid_hash_algorithms: k.keyIDHashAlgorithms === undefined ? undefined : r.strList(k.keyIDHashAlgorithms, `${p}.keyIDHashAlgorithms`),
      keyval: { public: r.str(keyVal.public, `${p}.keyVal.public`)! },
      keyid: r.str(k.keyID, `${p}.keyID`, true) ?? id,
    };
    if (sslib.keyid !== id) r.fail(`${p}.keyID`, `does not match its map key ${id}`);
    // the keyid of the key material, never a label: one key cannot stand for two functionaries
    const computed = computeKeyid(sslib);
    if (computed !== id) r.fail(p, `is the key whose keyid is ${computed}, not ${id}`);
    keys[id] = sslib;
  }
  const names = new Set<string>();
  const steps = r.list(o.steps, 'steps').map((s, i) => {
    const p = `steps[${i}]`;
    const so = r.obj(s, p);
    const name = r.str(so.name, `${p}.name`)!;
    if (names.has(name)) r.fail(`${p}.name`, `duplicate step name ${name}`);
    names.add(name);
    const expectedPredicates = readExpectedPredicates(r, so.expectedPredicates, `${p}.expectedPredicates`);
    expectedPredicates.forEach((ep, j) => (ep.functionaries ?? []).forEach((k) => {
      if (typeof k === 'string' && !keys[k]) r.fail(`${p}.expectedPredicates[${j}].functionaries`, `key ${k} is not in functionaries`);
    }));
    return {
      name,
      command: r.str(so.command, `${p}.command`, true),
      expectedMaterials: r.strList(so.expectedMaterials, `${p}.expectedMaterials`),
      expectedProducts: r.strList(so.expectedProducts, `${p}.expectedProducts`),
      expectedPredicates,
    };
  });
  const subjects = r.list(o.subjects, 'subjects').map((s, i) => {
    const so = r.obj(s, `subjects[${i}]`);
    return { subject: r.strList(so.subject, `subjects[${i}].subject`), expectedPredicates: readExpectedPredicates(r, so.expectedPredicates, `subjects[${i}].expectedPredicates`) };
  });
  const inspections = r.list(o.inspections, 'inspections').map((s, i) => {
    const p = `inspections[${i}]`;
    const so = r.obj(s, p);
    return {
      name: r.str(so.name, `${p}.name`)!,
      command: r.str(so.command, `${p}.command`, true),
      predicates: r.strList(so.predicates, `${p}.predicates`),
      expectedMaterials: r.strList(so.expectedMaterials, `${p}.expectedMaterials`),
      expectedProducts: r.strList(so.expectedProducts, `${p}.expectedProducts`),
      expectedAttributes: readAttributes(r, so.expectedAttributes, `${p}.expectedAttributes`),
    };
  });
  return { format: 'attestation-verifier', expires, keys, steps, subjects, inspections };
}

export interface LoadedCompatLayout {
  layout: CompatLayout;
  /** The document as parsed (attestation-verifier field names), e.g. to sign it. */
  document: unknown;
  /** The signed wrapper when the layout came in a metablock or DSSE envelope; undefined = unsigned. */
  signedFile?: SignedFile<unknown>;
}

/**
 * Reads an attestation-verifier layout from YAML/JSON text. A layout wrapped in a metablock or
 * DSSE envelope is returned with its wrapper so its signatures get checked.
 */
export function loadCompatLayout(text: string, file?: string): LoadedCompatLayout {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, logLevel: 'error' });
  } catch (e) {
    throw new CustodyError('MALFORMED_YAML', (e as Error).message.split('\n')[0], { file, cause: e });
  }
  if (nestedDeeperThan(doc)) throw new CustodyError('MALFORMED_YAML', `YAML is nested more than ${MAX_JSON_DEPTH} levels deep`, { file });
  if (isRecord(doc) && (('signed' in doc && 'signatures' in doc) || ('payload' in doc && 'payloadType' in doc))) {
    const signedFile = parseSignedFile(text, file ?? 'layout');
    return { layout: compatLayoutFromDocument(signedFile.body, file), document: signedFile.body, signedFile };
  }
  return { layout: compatLayoutFromDocument(doc, file), document: doc };
}

/** Parameter file: a JSON object of string values (attestation-verifier `--substitute-parameters`). */
export function parseParameterFile(text: string, file?: string): Record<string, string> {
  let v: unknown;
  v = parseJson(text, { file, what: 'parameter file' });
  if (!isRecord(v)) throw new CustodyError('SCHEMA_INVALID', 'parameter file must be a JSON object of strings', { file });
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new CustodyError('SCHEMA_INVALID', `parameter ${k} must be a string`, { file });
    if (!/^[a-zA-Z0-9_-]+$/.test(k)) throw new CustodyError('SCHEMA_INVALID', `invalid parameter name ${JSON.stringify(k)}`, { file });
  }
  return v as Record<string, string>;
}

/** `<step>.<keyid[:8]>.json` → step (everything before the last dot-segment, as the prototype does). */
export function stepOfAttestationFile(fileName: string): string | undefined {
  const base = fileName.replace(/^.*\//, '');
  const m = /^(.+)\.([^.]+)\.json$/.exec(base);
  return m ? m[1] : undefined;
}

export interface RejectedAttestation {
  file: string;
  /** Why, as an error code (ENVELOPE_MALFORMED, PAYLOAD_TYPE, SIGNATURE_INVALID, STATEMENT_INVALID, ...). */
  code: ErrorCode;
  reason: string;
}

function rejectedFor(file: string, e: unknown, fallback: ErrorCode): RejectedAttestation {
  return { file, code: e instanceof CustodyError ? e.code : fallback, reason: (e as Error).message };
}

export interface CollectedClaims {
  claimsByStep: Record<string, VerifiedClaim[]>;
  rejected: RejectedAttestation[];
}

/**
 * Verifies attestation files (DSSE envelopes holding Statements) against the given keys and
 * returns them as claims per step: one claim per key whose signature verifies. Files that do not
 * verify with any key are listed in `rejected` and otherwise ignored (a claim by an unknown key
 * proves nothing), as the prototype does.
 */
export function collectClaims(files: readonly { name: string; text: string }[], keys: readonly PublicKey[]): CollectedClaims {
  const claimsByStep: Record<string, VerifiedClaim[]> = {};
  const rejected: RejectedAttestation[] = [];
  for (const f of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    const step = stepOfAttestationFile(f.name);
    if (!step) {
      rejected.push({ file: f.name, code: 'ENVELOPE_MALFORMED', reason: 'name is not <step>.<keyid>.json' });
      continue;
    }
    let signed: SignedFile<unknown>;
    try {
      signed = parseSignedFile(f.text, f.name);
    } catch (e) {
      rejected.push(rejectedFor(f.name, e, 'ENVELOPE_MALFORMED'));
      continue;
    }
    if (signed.format !== 'dsse') {
      rejected.push({ file: f.name, code: 'ENVELOPE_MALFORMED', reason: 'not a DSSE envelope' });
      continue;
    }
    if (signed.envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      rejected.push({ file: f.name, code: 'PAYLOAD_TYPE', reason: `payloadType is ${signed.envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}` });
      continue;
    }
    const signers = keys.filter((k) => verifySignedFile(signed, k));
    if (signers.length === 0) {
      rejected.push({ file: f.name, code: 'SIGNATURE_INVALID', reason: 'no valid signature by a layout functionary' });
      continue;
    }
    let statement;
    try {
      statement = validateStatement(signed.body, { file: f.name, lenient: true });
    } catch (e) {
      rejected.push(rejectedFor(f.name, e, 'STATEMENT_INVALID'));
      continue;
    }
    for (const k of signers) (claimsByStep[step] ??= []).push({ step, keyid: k.keyid, statement, source: f.name });
  }
  return { claimsByStep, rejected };
}

export interface CompatVerifyOptions {
  /** The verification time (core reads no clock). */
  now: Date;
  params?: Record<string, string>;
  /** Keys the layout must be signed by (`--layout-key`). */
  layoutKeys?: readonly PublicKey[];
  signedFile?: SignedFile<unknown>;
  /** Claims verified elsewhere (e.g. Sigstore bundles through @custody/sign's claimsFromBundles). */
  extraClaims?: ClaimsByStep;
}

export interface CompatVerifyReport extends Omit<AttestationStepsReport, 'failure'> {
  layoutSigned: boolean;
  rejected: RejectedAttestation[];
  failure: AttestationFailure | { code: 'LAYOUT_SIGNATURE' | 'LAYOUT_EXPIRED'; check: 'layout-signature' | 'layout-expiry'; step?: undefined; message: string } | null;
}

/**
 * The whole attestation-verifier flow, pure: layout signature (or a plain "layout is not signed"
 * warning), expiry, claims from the attestation files, then every step's artifact and predicate
 * rules. `subjects` and `inspections` are not evaluated (the prototype does not either); a
 * warning says so when the layout has them.
 */
export function verifyCompatLayout(layout: CompatLayout, files: readonly { name: string; text: string }[], opts: CompatVerifyOptions): CompatVerifyReport {
  const warnings: string[] = [];
  const base = (failure: CompatVerifyReport['failure']): CompatVerifyReport => ({
    verdict: 'fail', steps: [], warnings, failure, layoutSigned: opts.signedFile !== undefined, rejected: [],
  });
  const layoutKeys = opts.layoutKeys ?? [];
  if (!opts.signedFile) {
    if (layoutKeys.length > 0) return base({ code: 'LAYOUT_SIGNATURE', check: 'layout-signature', message: 'layout is not signed, but layout keys were given' });
    warnings.push('layout is not signed: its integrity and author are not checked');
  } else {
    if (layoutKeys.length === 0) {
      throw new CustodyError('USAGE', 'layout is signed: give the key(s) to check it with (--layout-key)');
    }
    for (const k of layoutKeys) {
      if (!verifySignedFile(opts.signedFile, k)) {
        return base({ code: 'LAYOUT_SIGNATURE', check: 'layout-signature', message: `layout has no valid signature by key ${k.keyid.slice(0, 8)}` });
      }
    }
  }
  if (Date.parse(layout.expires) <= opts.now.getTime()) {
    return base({ code: 'LAYOUT_EXPIRED', check: 'layout-expiry', message: `layout expired on ${layout.expires}` });
  }
  const keys = Object.values(layout.keys).map((k) => publicKeyFromSslib(k));
  const { claimsByStep, rejected } = collectClaims(files, keys);
  for (const [step, extra] of Object.entries(opts.extraClaims ?? {})) (claimsByStep[step] ??= []).push(...extra);
  for (const r of rejected) warnings.push(`ignored ${r.file}: ${r.reason}`);
  if (layout.subjects.length > 0) warnings.push('layout subjects are not evaluated (attestation-verifier does not either)');
  if (layout.inspections.length > 0) warnings.push('layout inspections are not evaluated (attestation-verifier does not either)');
  const report = evaluateAttestationSteps(layout, claimsByStep as ClaimsByStep, { params: opts.params, artifactRules: true, requireClaims: true, now: opts.now });
  return { ...report, warnings: [...warnings, ...report.warnings], layoutSigned: opts.signedFile !== undefined, rejected };
}
