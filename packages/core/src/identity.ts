/**
 * Keyless functionaries: an OIDC issuer plus a certificate subject (exact, or an anchored regular
 * expression). Pure matching only — certificate, SCT and tlog checks live in @custody/sign.
 * A layout names functionaries as keyids (strings) or as identity policies (objects); thresholds
 * count distinct functionary ids: the keyid, or `keylessFunctionaryId(identity)`.
 */
import { CustodyError } from './errors.ts';

/** A keyless functionary: the OIDC issuer and the certificate subject (SAN: URI or email). */
export type IdentityPolicy =
  | { issuer: string; subject: string }
  | { issuer: string; subjectPattern: string };

/** The identity a Fulcio certificate binds. */
export interface KeylessIdentity { issuer: string; subject: string }

/** What a layout lists as a functionary: a keyid, or an identity policy. */
export type FunctionaryRef = string | IdentityPolicy;

function fail(code: 'USAGE' | 'IDENTITY_MISMATCH', message: string, file?: string, cause?: unknown): never {
  throw new CustodyError(code, message, { file, cause });
}

const patternCache = new Map<string, RegExp>();

/** Compiles a subjectPattern: a JavaScript regex anchored at both ends. */
export function compileSubjectPattern(pattern: string, file?: string): RegExp {
  const hit = patternCache.get(pattern);
  if (hit) return hit;
  try {
    const re = new RegExp(`^(?:${pattern})$`, 'u');
    patternCache.set(pattern, re);
    return re;
  } catch (e) {
    fail('USAGE', `subjectPattern ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`, file, e);
  }
}

export function isIdentityPolicy(v: unknown): v is IdentityPolicy {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { issuer?: unknown }).issuer === 'string';
}

/** Checks a policy's shape (layouts, CLI); throws USAGE naming what is wrong. */
export function validateIdentityPolicy(value: unknown, where = 'identity', file?: string): IdentityPolicy {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('USAGE', `${where} must be an object with issuer and subject or subjectPattern`, file);
  if (typeof v.issuer !== 'string' || v.issuer === '') fail('USAGE', `${where}.issuer must be a non-empty string`, file);
  const hasSubject = v.subject !== undefined;
  const hasPattern = v.subjectPattern !== undefined;
  if (hasSubject === hasPattern) fail('USAGE', `${where} needs exactly one of subject and subjectPattern`, file);
  if (hasSubject) {
    if (typeof v.subject !== 'string' || v.subject === '') fail('USAGE', `${where}.subject must be a non-empty string`, file);
    return { issuer: v.issuer, subject: v.subject };
  }
  if (typeof v.subjectPattern !== 'string' || v.subjectPattern === '') fail('USAGE', `${where}.subjectPattern must be a non-empty string`, file);
  compileSubjectPattern(v.subjectPattern, file);
  return { issuer: v.issuer, subjectPattern: v.subjectPattern };
}

export function describePolicy(p: IdentityPolicy): string {
  return 'subject' in p ? `${p.subject} (issuer ${p.issuer})` : `/${p.subjectPattern}/ (issuer ${p.issuer})`;
}

/** Does `identity` satisfy `policy`? Issuer is compared exactly; subject exactly or by anchored regex. */
export function identityMatches(identity: KeylessIdentity, policy: IdentityPolicy): boolean {
  if (identity.issuer !== policy.issuer) return false;
  if ('subject' in policy) return identity.subject === policy.subject;
  return compileSubjectPattern(policy.subjectPattern).test(identity.subject);
}

/** The first policy `identity` satisfies, or IDENTITY_MISMATCH saying what was found. */
export function matchIdentity(identity: KeylessIdentity, policies: readonly IdentityPolicy[], file?: string): IdentityPolicy {
  const hit = policies.find((p) => identityMatches(identity, p));
  if (hit) return hit;
  const sameIssuer = policies.filter((p) => p.issuer === identity.issuer);
  const why = sameIssuer.length === 0
    ? `issuer ${identity.issuer} is not ${policies.map((p) => p.issuer).join(' or ')}`
    : `subject ${identity.subject} is not ${sameIssuer.map((p) => ('subject' in p ? p.subject : `/${p.subjectPattern}/`)).join(' or ')}`;
  fail('IDENTITY_MISMATCH', `certificate identity ${identity.subject} (issuer ${identity.issuer}) is not trusted: ${why}`, file);
}

/**
 * The functionary id of a keyless signer, for thresholds and reports: distinct (issuer, subject)
 * pairs are distinct functionaries. OIDC issuers are URLs without a fragment, so "#" separates.
 */
export function keylessFunctionaryId(identity: KeylessIdentity): string {
  return `oidc:${identity.issuer}#${identity.subject}`;
}

/** Does a claim by `signer` (its keyid / functionary id and, if keyless, its identity) satisfy `ref`? */
export function functionaryMatches(ref: FunctionaryRef, signer: { keyid: string; identity?: KeylessIdentity }): boolean {
  if (typeof ref === 'string') return ref === signer.keyid;
  return signer.identity !== undefined && identityMatches(signer.identity, ref);
}

/** A short label for reports: the keyid's first 8 characters, or the identity. */
export function functionaryLabel(ref: FunctionaryRef | KeylessIdentity): string {
  if (typeof ref === 'string') return ref.startsWith('oidc:') ? ref.slice(5) : ref.slice(0, 8);
  return 'subjectPattern' in ref ? describePolicy(ref) : `${ref.subject} (issuer ${ref.issuer})`;
}

/** Reads a layout's functionaries list: keyid strings and identity policies (USAGE names the bad entry). */
export function parseFunctionaryRefs(value: unknown, where: string, file?: string): FunctionaryRef[] {
  if (!Array.isArray(value)) throw new CustodyError('SCHEMA_INVALID', `${where} must be a list of keyids or {issuer, subject|subjectPattern}`, { file });
  return value.map((v, i) => {
    if (typeof v === 'string') {
      if (!/^[0-9a-fA-F]+$/.test(v) && !v.startsWith('oidc:')) throw new CustodyError('SCHEMA_INVALID', `${where}[${i}] is not a keyid: ${JSON.stringify(v)}`, { file });
      return v;
    }
    try {
      return validateIdentityPolicy(v, `${where}[${i}]`, file);
    } catch (e) {
      if (e instanceof CustodyError) throw new CustodyError('SCHEMA_INVALID', e.message, { file, cause: e });
      throw e;
    }
  });
}
