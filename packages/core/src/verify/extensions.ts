/**
 * custody's layout extensions as the verifier reads them from a DSSE layout's signed payload
 * (a metablock signature does not cover them: the reference's model drops unknown fields).
 *
 *   trustedRoot: { path: trusted_root.json, sha256: <hex> } | <the trusted_root.json document>
 *   steps[i].functionaries: [keyid | {issuer, subject} | {issuer, subjectPattern}]   (besides pubkeys)
 *   steps[i].expectedPredicates: [{ predicateType, expectedAttributes[{rule, allowIfNoClaim, warn, debug}],
 *                                   functionaries?, threshold? }]
 */
import { CustodyError } from '../errors.ts';
import { isPlainObject } from '../model/layout.ts';
import { parseFunctionaryRefs, type FunctionaryRef } from '../identity.ts';
import type { ExpectedAttribute, ExpectedPredicate } from '../attestations/evaluate.ts';
import type { TrustedRootRef } from './types.ts';

export interface StepExtensions {
  /** Extra functionaries (identities, keyids) besides `pubkeys`. */
  functionaries: FunctionaryRef[];
  expectedPredicates?: ExpectedPredicate[];
  /** The approved trace profile (`custody trace learn`), inlined by `layout sign`. */
  traceProfile?: Record<string, unknown>;
}

export interface LayoutExtensions {
  steps: Map<string, StepExtensions>;
  trustedRoot?: TrustedRootRef;
}

function invalid(message: string, file?: string): never {
  throw new CustodyError('SCHEMA_INVALID', `invalid layout: ${message}`, { file });
}

function readAttributes(v: unknown, where: string, file?: string): ExpectedAttribute[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) invalid(`${where} must be a list`, file);
  return v.map((a, i) => {
    const p = `${where}[${i}]`;
    if (!isPlainObject(a) || typeof a.rule !== 'string' || a.rule.trim() === '') invalid(`${p}.rule must be a CEL expression`, file);
    for (const flag of ['allowIfNoClaim', 'warn'] as const) {
      if (a[flag] !== undefined && typeof a[flag] !== 'boolean') invalid(`${p}.${flag} must be true or false`, file);
    }
    if (a.debug !== undefined && typeof a.debug !== 'string') invalid(`${p}.debug must be a string`, file);
    if (a.atlas !== undefined && (typeof a.atlas !== 'string' || !/^AML\.[TM]\d{4}(\.\d{3})?$/.test(a.atlas))) invalid(`${p}.atlas must be a MITRE ATLAS id such as AML.T0011 or AML.M0005`, file);
    const out: ExpectedAttribute = { rule: a.rule };
    if (a.allowIfNoClaim !== undefined) out.allowIfNoClaim = a.allowIfNoClaim as boolean;
    if (a.warn !== undefined) out.warn = a.warn as boolean;
    if (a.debug !== undefined) out.debug = a.debug as string;
    if (a.atlas !== undefined) out.atlas = a.atlas as string;
    return out;
  });
}

function readExpectedPredicates(v: unknown, where: string, file?: string): ExpectedPredicate[] {
  if (!Array.isArray(v)) invalid(`${where} must be a list`, file);
  return v.map((e, i) => {
    const p = `${where}[${i}]`;
    if (!isPlainObject(e)) invalid(`${p} must be an object`, file);
    if (typeof e.predicateType !== 'string' || e.predicateType === '') invalid(`${p}.predicateType must be a predicate type URI`, file);
    const threshold = e.threshold ?? 1;
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1) invalid(`${p}.threshold must be a positive integer`, file);
    const out: ExpectedPredicate = {
      predicateType: e.predicateType,
      expectedAttributes: readAttributes(e.expectedAttributes, `${p}.expectedAttributes`, file),
      threshold,
    };
    if (e.functionaries !== undefined) out.functionaries = parseFunctionaryRefs(e.functionaries, `${p}.functionaries`, file);
    return out;
  });
}

function readTrustedRoot(v: unknown, file?: string): TrustedRootRef {
  if (typeof v === 'string') invalid('trustedRoot must pin the file: { path, sha256 }', file);
  if (!isPlainObject(v)) invalid('trustedRoot must be { path, sha256 } or the trusted_root.json document', file);
  if (typeof v.mediaType === 'string') return { inline: v };
  if (typeof v.path !== 'string' || v.path === '') invalid('trustedRoot.path must name a trusted_root.json', file);
  if (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256)) invalid('trustedRoot.sha256 must be the file\'s SHA-256 (64 hex digits)', file);
  return { path: v.path, sha256: v.sha256 };
}

/** The extensions of a raw layout body (a DSSE layout's payload); SCHEMA_INVALID names the place. */
export function readLayoutExtensions(raw: unknown, file?: string): LayoutExtensions {
  const out: LayoutExtensions = { steps: new Map() };
  if (!isPlainObject(raw)) return out;
  if (raw.trustedRoot !== undefined) out.trustedRoot = readTrustedRoot(raw.trustedRoot, file);
  const steps = Array.isArray(raw.steps) ? raw.steps : [];
  steps.forEach((s, i) => {
    if (!isPlainObject(s) || typeof s.name !== 'string') return;
    const ext: StepExtensions = { functionaries: [] };
    if (s.functionaries !== undefined) ext.functionaries = parseFunctionaryRefs(s.functionaries, `steps[${i}].functionaries`, file);
    if (s.expectedPredicates !== undefined) ext.expectedPredicates = readExpectedPredicates(s.expectedPredicates, `steps[${i}].expectedPredicates`, file);
    if (s.traceProfile !== undefined) {
      if (!isPlainObject(s.traceProfile) || !Array.isArray(s.traceProfile.executables)) invalid(`steps[${i}].traceProfile must be a trace profile (custody trace learn) inlined by layout sign`, file);
      ext.traceProfile = s.traceProfile as Record<string, unknown>;
    }
    out.steps.set(s.name, ext);
  });
  return out;
}
