/**
 * Verification of keyless (Fulcio certificate) Sigstore bundles against a `trusted_root.json`,
 * and the general bundle check behind `custody verify-bundle` (message signatures or DSSE, with a
 * public key or a certificate identity).
 *
 * @sigstore/verify checks the certificate chain to a trusted CA at every verified signing time
 * (tlog SET integrated time or RFC 3161 time), the SCTs, the tlog inclusion proof/SET and the tlog
 * body. custody adds: the identity policy (exact subject or anchored regex, exact issuer), signing
 * times that lie in the future, the message digest against the artifact, in-toto subjects
 * against the artifact, and the right hash for P-384/P-521 keys.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ValidationError, bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { RFC3161Timestamp, X509Certificate } from '@sigstore/core';
import { HashAlgorithm, TrustedRoot } from '@sigstore/protobuf-specs';
import { PolicyError, VerificationError, Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import type { TrustMaterial } from '@sigstore/verify';
import { CustodyError, IN_TOTO_PAYLOAD_TYPE, pae, parseStatement } from '@custody/core';
import type { ErrorCode, PublicKey, Statement } from '@custody/core';
import { matchIdentity, keylessFunctionaryId } from '@custody/core';
import type { IdentityPolicy, KeylessIdentity } from '@custody/core';
// The pure identity functions moved to @custody/core (layouts name identities as functionaries).
export { compileSubjectPattern, describePolicy, identityMatches, keylessFunctionaryId, matchIdentity, validateIdentityPolicy } from '@custody/core';
export type { IdentityPolicy, KeylessIdentity } from '@custody/core';
import { SIGSTORE_CODES, verifyAttestationBundle, verifySignatureWithKey } from '../sigstore/bundle.ts';
import type { VerifiedBundle } from '../sigstore/bundle.ts';

const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
/** Clock skew tolerated before a signing time counts as "in the future". */
const FUTURE_SKEW_MS = 60_000;

function fail(code: ErrorCode, message: string, file?: string, cause?: unknown): never {
  throw new CustodyError(code, message, { file, cause });
}

// ---------------------------------------------------------------------------------------------
// trust root

/**
 * Parses a Sigstore `trusted_root.json` (media types v0.1 and v0.2) into trust material.
 * Every authority must say from when it is valid: an open start would let an old key vouch for
 * any time.
 */
export function trustMaterialFromJSON(json: unknown, file?: string): TrustMaterial {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('TRUSTED_ROOT_INVALID', 'trusted root is not a JSON object', file);
  const obj = json as Record<string, unknown>;
  if (typeof obj.mediaType !== 'string' || !obj.mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')) {
    fail('TRUSTED_ROOT_INVALID', `not a Sigstore trusted root (mediaType ${JSON.stringify(obj.mediaType)})`, file);
  }
  for (const field of ['tlogs', 'certificateAuthorities', 'ctlogs', 'timestampAuthorities']) {
    if (obj[field] !== undefined && !Array.isArray(obj[field])) fail('TRUSTED_ROOT_INVALID', `trusted root field ${field} is not a list`, file);
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(obj);
  } catch (e) {
    fail('TRUSTED_ROOT_INVALID', `trusted root cannot be parsed: ${(e as Error).message}`, file, e);
  }
  const starts: [string, { validFor?: { start?: Date } } | undefined][] = [
    ...root.tlogs.map((t, i) => [`tlogs[${i}].publicKey`, t.publicKey] as [string, { validFor?: { start?: Date } } | undefined]),
    ...root.ctlogs.map((t, i) => [`ctlogs[${i}].publicKey`, t.publicKey] as [string, { validFor?: { start?: Date } } | undefined]),
    ...root.certificateAuthorities.map((c, i) => [`certificateAuthorities[${i}]`, c] as [string, { validFor?: { start?: Date } }]),
    ...root.timestampAuthorities.map((c, i) => [`timestampAuthorities[${i}]`, c] as [string, { validFor?: { start?: Date } }]),
  ];
  for (const [where, item] of starts) {
    if (!item?.validFor?.start) fail('TRUSTED_ROOT_INVALID', `trusted root ${where} has no validFor.start`, file);
  }
  try {
    return toTrustMaterial(root);
  } catch (e) {
    fail('TRUSTED_ROOT_INVALID', `trusted root holds an unusable key or certificate: ${(e as Error).message}`, file, e);
  }
}

/** Reads and parses a `trusted_root.json` file. */
export async function loadTrustedRoot(path: string): Promise<TrustMaterial> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
    throw new CustodyError(code, `cannot read the trusted root: ${(e as Error).message}`, { file: path, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail('MALFORMED_JSON', `trusted root is not JSON: ${(e as Error).message}`, path, e);
  }
  return trustMaterialFromJSON(json, path);
}

function isTrustMaterial(v: unknown): v is TrustMaterial {
  return typeof v === 'object' && v !== null && typeof (v as TrustMaterial).publicKey === 'function' && Array.isArray((v as TrustMaterial).certificateAuthorities);
}

// ---------------------------------------------------------------------------------------------
// identity

/** The issuer and subject a Fulcio certificate binds (as sigstore-js reads them). */
export function certificateIdentity(cert: X509Certificate): KeylessIdentity | undefined {
  let issuer: string | undefined;
  const v2 = cert.extension(OID_FULCIO_ISSUER_V2);
  if (v2) issuer = v2.valueObj.subs?.[0]?.value.toString('utf8');
  else issuer = cert.extension(OID_FULCIO_ISSUER_V1)?.value.toString('utf8');
  const subject = cert.subjectAltName;
  if (!issuer || !subject) return undefined;
  return { issuer, subject };
}

function identityFromSigner(identity: unknown): KeylessIdentity | undefined {
  const id = identity as { subjectAlternativeName?: string; extensions?: { issuer?: string } } | undefined;
  const issuer = id?.extensions?.issuer;
  const subject = id?.subjectAlternativeName;
  return issuer && subject ? { issuer, subject } : undefined;
}

// ---------------------------------------------------------------------------------------------
// signing times

/** The verifiable signing times of a bundle: tlog integrated times with a SET, and TSA times. */
export function bundleSigningTimes(bundle: Bundle): Date[] {
  const times: Date[] = [];
  for (const e of bundle.verificationMaterial.tlogEntries) {
    if (e.inclusionPromise && e.integratedTime && e.integratedTime !== '0') times.push(new Date(Number(e.integratedTime) * 1000));
  }
  for (const ts of bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? []) {
    try {
      times.push(RFC3161Timestamp.parse(Buffer.from(ts.signedTimestamp)).signingTime);
    } catch {
      // unparseable timestamps are rejected by the verifier itself
    }
  }
  return times;
}

/**
 * sigstore-js proves inclusion against the checkpoint's root hash and ignores the proof's own
 * rootHash field; a bundle whose two root hashes differ has been edited, so refuse it.
 */
function checkProofRootHashes(bundle: Bundle, file?: string): void {
  for (const e of bundle.verificationMaterial.tlogEntries) {
    const proof = e.inclusionProof;
    if (!proof?.checkpoint?.envelope) continue;
    const line = proof.checkpoint.envelope.split('\n')[2] ?? '';
    const checkpointRoot = Buffer.from(line, 'base64');
    if (!equalBytes(checkpointRoot, Buffer.from(proof.rootHash))) {
      fail('TLOG_INVALID', `tlog entry ${e.logIndex}: the inclusion proof's root hash differs from its checkpoint's`, file);
    }
  }
}

function checkNotInFuture(times: readonly Date[], now: Date, file?: string): void {
  for (const t of times) {
    if (t.getTime() > now.getTime() + FUTURE_SKEW_MS) fail('TLOG_INVALID', `signing time ${t.toISOString()} lies in the future (now ${now.toISOString()})`, file);
  }
}

// ---------------------------------------------------------------------------------------------
// keyless attestation bundles

export interface VerifyKeylessOptions {
  /** Trust material or the parsed JSON of a trusted_root.json. */
  trustedRoot: TrustMaterial | unknown;
  /** One functionary identity or several (any may match). */
  identity: IdentityPolicy | readonly IdentityPolicy[];
  /** For the "signing time not in the future" check; default the current time. */
  now?: Date;
  file?: string;
  /** Accept a DSSE payload that is not an in-toto Statement. */
  anyPayload?: boolean;
  /** Never read the payload as a Statement (a keyless layout); the caller parses payloadBytes. */
  rawPayload?: boolean;
  /** Minimum tlog entries (default 1), SCTs (default 1), verified timestamps (default 1). */
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
}

export interface KeylessVerified extends VerifiedBundle {
  identity: KeylessIdentity;
  /** The policy entry that matched. */
  matched: IdentityPolicy;
  signingTimes: Date[];
}

function parseBundle(bundleJson: unknown, file?: string): Bundle {
  let json = bundleJson;
  if (typeof json === 'string' || json instanceof Uint8Array) {
    try {
      json = JSON.parse(Buffer.from(json as string | Uint8Array).toString('utf8'));
    } catch (e) {
      fail('BUNDLE_MALFORMED', `bundle is not JSON: ${(e as Error).message}`, file, e);
    }
  }
  try {
    return bundleFromJSON(json);
  } catch (e) {
    const fields = e instanceof ValidationError && e.fields.length ? ` (${e.fields.join(', ')})` : '';
    fail('BUNDLE_MALFORMED', `not a valid Sigstore bundle: ${(e as Error).message}${fields}`, file, e);
  }
}

function hasCertificate(bundle: Bundle): boolean {
  const c = bundle.verificationMaterial.content.$case;
  return c === 'x509CertificateChain' || c === 'certificate';
}

/**
 * Verifies a keyless DSSE attestation bundle (an in-toto Statement signed with a Fulcio
 * certificate) offline against a trusted root and checks the signer's identity. Returns the
 * identity so thresholds can count distinct identities. Errors: BUNDLE_MALFORMED, PAYLOAD_TYPE,
 * STATEMENT_INVALID, SIGNATURE_INVALID, CERTIFICATE_INVALID (chain, SCT, signing time outside the
 * certificate's validity), TLOG_INVALID (missing entry, bad proof/SET, time in the future),
 * IDENTITY_MISMATCH.
 */
export function verifyKeylessBundle(bundleJson: unknown, opts: VerifyKeylessOptions): KeylessVerified {
  const file = opts.file;
  const bundle = parseBundle(bundleJson, file);
  if (!hasCertificate(bundle)) fail('CERTIFICATE_INVALID', 'bundle is signed with a public key, not a Fulcio certificate', file);
  const trust = isTrustMaterial(opts.trustedRoot) ? opts.trustedRoot : trustMaterialFromJSON(opts.trustedRoot, file);
  const policies = Array.isArray(opts.identity) ? opts.identity as IdentityPolicy[] : [opts.identity as IdentityPolicy];
  if (policies.length === 0) fail('USAGE', 'no functionary identity to verify against', file);
  let verified: VerifiedBundle;
  try {
    verified = verifyAttestationBundle(bundleJson, trust, {
      file,
      anyPayload: opts.anyPayload,
      rawPayload: opts.rawPayload,
      tlogThreshold: opts.tlogThreshold ?? 1,
      ctlogThreshold: opts.ctlogThreshold ?? 1,
      timestampThreshold: opts.timestampThreshold ?? 1,
    });
  } catch (e) {
    // sigstore-js puts the specific reason ("certificate is not valid or expired at the
    // specified date") in the cause; the one-line message should carry it.
    const inner = (e as { cause?: { cause?: { message?: string } } }).cause?.cause?.message;
    if (e instanceof CustodyError && inner && !e.message.includes(inner)) {
      throw new CustodyError(e.code, `${e.message} (${inner})`, { file: e.file, cause: e });
    }
    throw e;
  }
  checkProofRootHashes(bundle, file);
  const signingTimes = bundleSigningTimes(bundle);
  checkNotInFuture(signingTimes, opts.now ?? new Date(), file);
  const identity = identityFromSigner(verified.signer.identity);
  if (!identity) fail('CERTIFICATE_INVALID', 'certificate carries no OIDC issuer or subject alternative name', file);
  const matched = matchIdentity(identity, policies, file);
  return { ...verified, identity, matched, signingTimes };
}

// ---------------------------------------------------------------------------------------------
// any bundle (custody verify-bundle)

export type ArtifactInput = { bytes: Uint8Array } | { sha256: string };

export interface VerifySigstoreBundleOptions {
  /** Public key trust (any key hint maps to this key) … */
  key?: PublicKey | KeyObject;
  /** … and/or a trusted root (required for certificates; with a key it also checks tlog entries). */
  trustedRoot?: TrustMaterial;
  /** Required with certificates. */
  identity?: IdentityPolicy | readonly IdentityPolicy[];
  /** Message signature: the signed artifact. DSSE in-toto: an artifact that must be a subject. */
  artifact?: ArtifactInput;
  now?: Date;
  file?: string;
}

export interface SigstoreBundleVerified {
  content: 'messageSignature' | 'dsseEnvelope';
  identity?: KeylessIdentity;
  payloadType?: string;
  statement?: Statement;
  signingTimes: Date[];
}

const EMPTY_TRUSTED_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
};

const NODE_HASH: Partial<Record<HashAlgorithm, string>> = {
  [HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED]: 'sha256',
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};


function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function keyObjectOf(key: PublicKey | KeyObject): KeyObject {
  return 'keyObject' in key ? key.keyObject : key;
}

/**
 * Verifies one Sigstore bundle of either kind, offline. With `key`: the bundle's signature must
 * verify with it (tlog entries and timestamps are required only when a trusted root is also
 * given). With a certificate: `trustedRoot` and `identity` are required, and the chain, SCTs,
 * tlog and signing times are checked as in verifyKeylessBundle.
 */
export function verifySigstoreBundle(bundleJson: unknown, opts: VerifySigstoreBundleOptions): SigstoreBundleVerified {
  const file = opts.file;
  const bundle = parseBundle(bundleJson, file);
  const certificate = hasCertificate(bundle);
  if (certificate) {
    if (!opts.trustedRoot) fail('USAGE', 'bundle is signed with a certificate: give --trusted-root and the expected identity', file);
    if (!opts.identity) fail('USAGE', 'bundle is signed with a certificate: give --certificate-identity and --certificate-oidc-issuer', file);
  } else if (!opts.key) {
    fail('SIGNATURE_INVALID', 'bundle is signed with a public key, but no key was given (--key)', file);
  }
  let trust: TrustMaterial;
  if (certificate) {
    trust = opts.trustedRoot!;
  } else {
    const base = opts.trustedRoot ?? toTrustMaterial(EMPTY_TRUSTED_ROOT as never);
    const keyObject = keyObjectOf(opts.key!);
    // The key given on the command line is the trusted key whatever hint the bundle carries.
    trust = { ...base, publicKey: () => ({ publicKey: keyObject, validFor: () => true }) };
  }
  const required = certificate || opts.trustedRoot !== undefined ? 1 : 0;
  const verifier = new Verifier(trust, { tlogThreshold: required, ctlogThreshold: certificate ? 1 : 0, timestampThreshold: required });

  let content: SigstoreBundleVerified['content'];
  let payloadType: string | undefined;
  let statement: Statement | undefined;
  let artifactBytes: Buffer | undefined;
  const signedData: { data: Buffer; sig: Buffer } = { data: Buffer.alloc(0), sig: Buffer.alloc(0) };
  if (bundle.content.$case === 'messageSignature') {
    content = 'messageSignature';
    const ms = bundle.content.messageSignature;
    if (!opts.artifact) fail('USAGE', 'a message-signature bundle needs the signed artifact (--artifact FILE or sha256:HEX)', file);
    if (!ms.messageDigest) fail('BUNDLE_MALFORMED', 'message signature has no messageDigest', file);
    const hash = NODE_HASH[ms.messageDigest.algorithm];
    if (!hash) fail('BUNDLE_MALFORMED', `unsupported messageDigest algorithm ${HashAlgorithm[ms.messageDigest.algorithm] ?? ms.messageDigest.algorithm}`, file);
    let digest: Buffer;
    if ('bytes' in opts.artifact) {
      artifactBytes = Buffer.from(opts.artifact.bytes);
      digest = createHash(hash).update(artifactBytes).digest();
    } else {
      if (hash !== 'sha256') fail('USAGE', `the bundle's digest is ${hash}; give the artifact file instead of a sha256 digest`, file);
      digest = Buffer.from(opts.artifact.sha256, 'hex');
    }
    if (!equalBytes(digest, Buffer.from(ms.messageDigest.digest))) fail('DIGEST_MISMATCH', 'the artifact does not match the bundle\'s message digest', file);
    signedData.sig = Buffer.from(ms.signature);
  } else {
    content = 'dsseEnvelope';
    const env = bundle.content.dsseEnvelope;
    if (env.signatures.length !== 1) fail('BUNDLE_MALFORMED', `a bundle's DSSE envelope must carry exactly one signature, found ${env.signatures.length}`, file);
    payloadType = env.payloadType;
    signedData.data = pae(env.payloadType, env.payload);
    signedData.sig = Buffer.from(env.signatures[0].sig);
  }

  let signer: { identity?: unknown };
  try {
    const entity = toSignedEntity(bundle, artifactBytes);
    if (content === 'dsseEnvelope') {
      entity.signature.verifySignature = (key: KeyObject) => verifySignatureWithKey(key, signedData.data, signedData.sig);
      // Rekor v2 logs DSSE as hashedrekord over SHA-256(PAE); sigstore-js 3.1 compares only the
      // payload hash. The PAE hash commits to payloadType and payload, so either may match.
      const payloadDigest = entity.signature.compareDigest.bind(entity.signature);
      const paeDigest = createHash('sha256').update(signedData.data).digest();
      entity.signature.compareDigest = (digest: Buffer) => payloadDigest(digest) || equalBytes(digest, paeDigest);
    } else if (artifactBytes) {
      const sigstoreCheck = entity.signature.verifySignature.bind(entity.signature);
      // sigstore-js hashes with the digest algorithm; P-384/P-521 keys sign with their own hash.
      entity.signature.verifySignature = (key: KeyObject) => sigstoreCheck(key) || verifySignatureWithKey(key, artifactBytes!, signedData.sig);
    } else {
      const digest = Buffer.from((opts.artifact as { sha256: string }).sha256, 'hex');
      entity.signature.verifySignature = (key: KeyObject) => verifyPrehashed(key, digest, signedData.sig);
    }
    signer = verifier.verify(entity);
  } catch (e) {
    if (e instanceof VerificationError || e instanceof PolicyError) {
      fail(SIGSTORE_CODES[e.code] ?? 'VERIFICATION_FAILED', `bundle verification failed: ${e.message}${causeText(e)}`, file, e);
    }
    if (e instanceof CustodyError) throw e;
    fail('BUNDLE_MALFORMED', `bundle cannot be verified: ${(e as Error).message}`, file, e);
  }
  checkProofRootHashes(bundle, file);
  const signingTimes = bundleSigningTimes(bundle);
  checkNotInFuture(signingTimes, opts.now ?? new Date(), file);

  let identity: KeylessIdentity | undefined;
  if (certificate) {
    identity = identityFromSigner(signer.identity);
    if (!identity) fail('CERTIFICATE_INVALID', 'certificate carries no OIDC issuer or subject alternative name', file);
    const policies = Array.isArray(opts.identity) ? opts.identity as IdentityPolicy[] : [opts.identity as IdentityPolicy];
    matchIdentity(identity, policies, file);
  }

  if (content === 'dsseEnvelope' && payloadType === IN_TOTO_PAYLOAD_TYPE) {
    const env = (bundle.content as { dsseEnvelope: { payload: Buffer } }).dsseEnvelope;
    statement = parseStatement(env.payload, { file });
    if (opts.artifact) checkSubject(statement, opts.artifact, file);
  } else if (content === 'dsseEnvelope' && opts.artifact) {
    fail('PAYLOAD_TYPE', `payloadType is ${JSON.stringify(payloadType)}: the artifact cannot be matched against an in-toto subject`, file);
  }
  return { content, identity, payloadType, statement, signingTimes };
}

function causeText(e: { cause?: unknown }): string {
  const c = e.cause as { message?: string } | undefined;
  return c?.message ? ` (${c.message})` : '';
}

/** The artifact must be one of the Statement's subjects (by any digest algorithm both name). */
function checkSubject(statement: Statement, artifact: ArtifactInput, file?: string): void {
  // Only the SHA-2 digests a subject may name are computed; others cannot match.
  const computed = new Map<string, string>();
  const digestOf = (alg: string): string | undefined => {
    if ('sha256' in artifact) return alg === 'sha256' ? artifact.sha256.toLowerCase() : undefined;
    if (alg !== 'sha256' && alg !== 'sha384' && alg !== 'sha512') return undefined;
    if (!computed.has(alg)) computed.set(alg, createHash(alg).update(artifact.bytes).digest('hex'));
    return computed.get(alg);
  };
  for (const s of statement.subject) {
    for (const [alg, value] of Object.entries(s.digest ?? {})) {
      if (typeof value === 'string' && digestOf(alg) === value.toLowerCase()) return;
    }
  }
  fail('DIGEST_MISMATCH', 'the artifact is not a subject of the in-toto statement', file);
}

// ---------------------------------------------------------------------------------------------
// ECDSA over a precomputed digest (verify-bundle with sha256:HEX and no artifact file). Node's
// crypto hashes the message itself, so the curve arithmetic is done here: it only verifies.

interface Curve { p: bigint; n: bigint; a: bigint; gx: bigint; gy: bigint; size: number }
const CURVES: Record<string, Curve> = {
  prime256v1: {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    size: 32,
  },
  secp384r1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    a: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffcn,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    size: 48,
  },
};

type Point = { x: bigint; y: bigint } | null;

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function inverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}

function add(c: Curve, P: Point, Q: Point): Point {
  if (!P) return Q;
  if (!Q) return P;
  if (P.x === Q.x) {
    if (mod(P.y + Q.y, c.p) === 0n) return null;
    const l = mod((3n * P.x * P.x + c.a) * inverse(2n * P.y, c.p), c.p);
    const x = mod(l * l - 2n * P.x, c.p);
    return { x, y: mod(l * (P.x - x) - P.y, c.p) };
  }
  const l = mod((Q.y - P.y) * inverse(Q.x - P.x, c.p), c.p);
  const x = mod(l * l - P.x - Q.x, c.p);
  return { x, y: mod(l * (P.x - x) - P.y, c.p) };
}

function multiply(c: Curve, k: bigint, P: Point): Point {
  let result: Point = null;
  let addend = P;
  while (k > 0n) {
    if (k & 1n) result = add(c, result, addend);
    addend = add(c, addend, addend);
    k >>= 1n;
  }
  return result;
}

function readDerInt(buf: Buffer, off: number): [bigint, number] {
  if (buf[off] !== 0x02) throw new Error('not an INTEGER');
  const len = buf[off + 1];
  if (len & 0x80) throw new Error('long INTEGER');
  const v = buf.subarray(off + 2, off + 2 + len);
  return [BigInt(`0x${v.toString('hex') || '0'}`), off + 2 + len];
}

/** ECDSA (P-256/P-384) verification of a DER signature over a given digest. */
export function verifyPrehashed(key: KeyObject, digest: Uint8Array, sig: Uint8Array): boolean {
  try {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (key.asymmetricKeyType !== 'ec' || !curve) return false;
    const jwk = key.export({ format: 'jwk' });
    const Q = { x: BigInt(`0x${Buffer.from(jwk.x!, 'base64url').toString('hex')}`), y: BigInt(`0x${Buffer.from(jwk.y!, 'base64url').toString('hex')}`) };
    const der = Buffer.from(sig);
    if (der[0] !== 0x30) return false;
    const start = der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2;
    const [r, next] = readDerInt(der, start);
    const [s] = readDerInt(der, next);
    if (r <= 0n || r >= curve.n || s <= 0n || s >= curve.n) return false;
    let e = BigInt(`0x${Buffer.from(digest).toString('hex') || '0'}`);
    const excess = digest.length * 8 - curve.size * 8;
    if (excess > 0) e >>= BigInt(excess);
    const w = inverse(s, curve.n);
    const R = add(curve, multiply(curve, mod(e * w, curve.n), { x: curve.gx, y: curve.gy }), multiply(curve, mod(r * w, curve.n), Q));
    return R !== null && mod(R.x, curve.n) === r;
  } catch {
    return false;
  }
}


// ---------------------------------------------------------------------------------------------
// functionaries: keys or identities

export interface FunctionaryTrust {
  /** Key functionaries (the bundle's key hint must be one's keyid). */
  keys?: readonly PublicKey[];
  /** Keyless functionaries, checked against `trustedRoot`. */
  identities?: readonly IdentityPolicy[];
  trustedRoot?: TrustMaterial;
  now?: Date;
  file?: string;
}

export interface VerifiedFunctionaryBundle {
  /** keyid for key-signed bundles, keylessFunctionaryId(identity) for certificates. */
  functionary: string;
  keyid?: string;
  identity?: KeylessIdentity;
  statement: Statement;
}

/**
 * Verifies an attestation bundle from either kind of functionary: key-signed bundles against
 * `keys` (offline, no tlog), certificate-signed ones against `trustedRoot` and `identities`.
 * What `custody verify` calls per stored bundle before handing claims to the pure evaluator.
 */
export function verifyFunctionaryBundle(bundleJson: unknown, trust: FunctionaryTrust): VerifiedFunctionaryBundle {
  const file = trust.file;
  const bundle = parseBundle(bundleJson, file);
  if (hasCertificate(bundle)) {
    if (!trust.trustedRoot) fail('CERTIFICATE_INVALID', 'bundle is signed with a certificate, but no trusted root was given for keyless functionaries', file);
    if (!trust.identities?.length) fail('IDENTITY_MISMATCH', 'bundle is signed with a certificate, but the step names no keyless functionaries', file);
    const v = verifyKeylessBundle(bundleJson, { trustedRoot: trust.trustedRoot, identity: trust.identities, now: trust.now, file });
    return { functionary: keylessFunctionaryId(v.identity), identity: v.identity, statement: v.statement! };
  }
  const v = verifyAttestationBundle(bundleJson, trust.keys ?? [], { file });
  return { functionary: v.keyid, keyid: v.keyid, statement: v.statement! };
}
