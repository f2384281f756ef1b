/**
 * in-toto Statements as Sigstore bundles v0.3 (`*.sigstore.json`): a DSSE envelope plus the
 * verification material. Built with @sigstore/sign's DSSEBundleBuilder and verified with
 * @sigstore/verify; custody adds what sigstore-js leaves out: the payloadType, the Statement
 * itself, the DSSE signature keyid against the key hint, and the right hash for P-384/P-521
 * keys (sigstore-js verifies every EC signature over SHA-256).
 */
import { constants, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DSSEBundleBuilder } from '@sigstore/sign';
import type { Signer as SigstoreSigner, Witness } from '@sigstore/sign';
import { BUNDLE_V03_MEDIA_TYPE, ValidationError, bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import type { Bundle, SerializedBundle } from '@sigstore/bundle';
import { PolicyError, VerificationError, Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import type { TrustMaterial, VerificationPolicy } from '@sigstore/verify';
import { CustodyError, IN_TOTO_PAYLOAD_TYPE, pae, parseJson, parseStatement, validateStatement } from '@custody/core';
import type { ErrorCode, PublicKey, Statement } from '@custody/core';

export { BUNDLE_V03_MEDIA_TYPE };
export type { Bundle, SerializedBundle, TrustMaterial, VerificationPolicy };

/** What the bundle code needs of a custody key signer (structurally @custody/sign's Signer). */
export interface KeySigner {
  keyid: string;
  publicKey: PublicKey;
  /** Raw signature bytes over `data` (ed25519 raw, ecdsa DER, rsa PSS). */
  sign(data: Uint8Array): Promise<Buffer>;
}

/** Adapts a custody key signer to sigstore-js: key material is the public key with hint = keyid. */
export function toSigstoreSigner(signer: KeySigner): SigstoreSigner {
  const publicKeyPem = signer.publicKey.keyObject.export({ type: 'spki', format: 'pem' }).toString();
  return {
    sign: async (data: Buffer) => ({
      signature: await signer.sign(data),
      key: { $case: 'publicKey', publicKey: publicKeyPem, hint: signer.keyid },
    }),
  };
}

export interface BuildBundleOptions {
  /** Transparency log / TSA witnesses (keyless signing adds them); none for key-based bundles. */
  witnesses?: Witness[];
}

/**
 * Signs arbitrary DSSE payload bytes into a bundle. Lower level than signAttestationBundle: no
 * Statement check (keyless signing reuses it with a Fulcio signer).
 */
export async function buildDsseBundle(payload: Uint8Array, payloadType: string, signer: SigstoreSigner, opts: BuildBundleOptions = {}): Promise<SerializedBundle> {
  const builder = new DSSEBundleBuilder({ signer, witnesses: opts.witnesses ?? [] });
  const bundle = await builder.create({ data: Buffer.from(payload), type: payloadType });
  return bundleToJSON(bundle);
}

/** Validates a Statement v1 and signs it into a Sigstore bundle v0.3 with a custody key. */
export async function signAttestationBundle(statement: Statement, signer: KeySigner, opts: BuildBundleOptions = {}): Promise<SerializedBundle> {
  const checked = validateStatement(statement);
  const payload = Buffer.from(JSON.stringify(checked), 'utf8');
  return buildDsseBundle(payload, IN_TOTO_PAYLOAD_TYPE, toSigstoreSigner(signer), opts);
}

/** The bundle as file text (`*.sigstore.json`). */
export function serializeBundle(bundle: SerializedBundle): string {
  return `${JSON.stringify(bundle)}\n`;
}

export interface VerifyBundleOptions {
  file?: string;
  /** Defaults: 0 with keys (key-based bundles need no log), 1 with trust material. */
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
  /** Certificate identity policy (keyless). */
  policy?: VerificationPolicy;
  /** Accept a payload that is not an in-toto Statement (verify-bundle of arbitrary DSSE). */
  anyPayload?: boolean;
  /**
   * Do not read the payload as a Statement, whatever its payloadType (implies anyPayload): a
   * keyless layout is in-toto metadata but not a Statement; the caller parses payloadBytes.
   */
  rawPayload?: boolean;
}

export interface VerifiedBundle {
  /** The Statement (undefined only with `anyPayload` and a non in-toto payloadType). */
  statement?: Statement;
  payloadType: string;
  payloadBytes: Buffer;
  /** The key hint (= custody keyid) for key-based bundles; '' for certificates. */
  keyid: string;
  /** The custody key that verified, for key-based bundles. */
  key?: PublicKey;
  /** The signing key and, for certificates, the identity sigstore-js extracted. */
  signer: { key: KeyObject; identity?: unknown };
  bundle: Bundle;
}

function fail(code: ErrorCode, message: string, file?: string, cause?: unknown): never {
  throw new CustodyError(code, message, { file, cause });
}

/** sigstore-js error codes → custody's (shared with keyless verification). */
export const SIGSTORE_CODES: Record<string, ErrorCode> = {
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  PUBLIC_KEY_ERROR: 'SIGNATURE_INVALID',
  CERTIFICATE_ERROR: 'CERTIFICATE_INVALID',
  TLOG_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROOF_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'TLOG_INVALID',
  TLOG_MISSING_INCLUSION_ERROR: 'TLOG_INVALID',
  TLOG_BODY_ERROR: 'TLOG_INVALID',
  TIMESTAMP_ERROR: 'TLOG_INVALID',
  UNTRUSTED_SIGNER_ERROR: 'IDENTITY_MISMATCH',
  NOT_IMPLEMENTED_ERROR: 'BUNDLE_MALFORMED',
};

/**
 * A signature check with the hash the key's scheme demands: ed25519 pure, ECDSA by curve
 * (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512; DER), RSA PSS (any salt) or PKCS#1 v1.5 with SHA-256.
 */
export function verifySignatureWithKey(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ed25519':
        return cryptoVerify(null, data, key, sig);
      case 'ec': {
        const hash = ({ prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' } as Record<string, string>)[key.asymmetricKeyDetails?.namedCurve ?? ''];
        return hash !== undefined && cryptoVerify(hash, data, { key, dsaEncoding: 'der' }, sig);
      }
      case 'rsa':
        return cryptoVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)
          || cryptoVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** sigstore-js's own check is right only for ed25519 and P-256 keys. */
function sigstoreHashIsRight(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ed25519' || (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
}

const EMPTY_TRUSTED_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

function isTrustMaterial(v: unknown): v is TrustMaterial {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as TrustMaterial).publicKey === 'function';
}

/**
 * Verifies a Sigstore bundle holding a DSSE-wrapped in-toto Statement, offline.
 * `keys`: custody public keys (key-based; the bundle's hint must be one's keyid) or sigstore
 * trust material (keyless). Errors: BUNDLE_MALFORMED, PAYLOAD_TYPE, KEYID_MISMATCH,
 * SIGNATURE_INVALID, STATEMENT_INVALID (and CERTIFICATE_INVALID, TLOG_INVALID, IDENTITY_MISMATCH
 * from sigstore-js for keyless bundles).
 */
export function verifyAttestationBundle(bundleJson: unknown, keys: readonly PublicKey[] | TrustMaterial, opts: VerifyBundleOptions = {}): VerifiedBundle {
  const file = opts.file;
  let json = bundleJson;
  if (typeof json === 'string' || json instanceof Uint8Array) {
    json = parseJson(Buffer.from(json as string | Uint8Array).toString('utf8'), { file, code: 'BUNDLE_MALFORMED', what: 'bundle' });
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    const fields = e instanceof ValidationError && e.fields.length ? ` (${e.fields.join(', ')})` : '';
    fail('BUNDLE_MALFORMED', `not a valid Sigstore bundle: ${(e as Error).message}${fields}`, file, e);
  }
  if (bundle.content.$case !== 'dsseEnvelope') fail('BUNDLE_MALFORMED', 'bundle holds a message signature, not a DSSE envelope', file);
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.signatures.length !== 1) fail('BUNDLE_MALFORMED', `a bundle's DSSE envelope must carry exactly one signature, found ${envelope.signatures.length}`, file);
  const payloadType = envelope.payloadType;
  const payloadBytes = Buffer.from(envelope.payload);
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE && !opts.anyPayload && !opts.rawPayload) {
    fail('PAYLOAD_TYPE', `payloadType is ${JSON.stringify(payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`, file);
  }
  const material = bundle.verificationMaterial.content;
  const hint = material.$case === 'publicKey' ? material.publicKey.hint : '';
  const sigKeyid = envelope.signatures[0].keyid;
  if (material.$case === 'publicKey' && sigKeyid !== '' && sigKeyid !== hint) {
    fail('KEYID_MISMATCH', `DSSE signature keyid ${sigKeyid} differs from the bundle's key hint ${hint}`, file);
  }

  let trust: TrustMaterial;
  let usedKey: PublicKey | undefined;
  const keyBased = !isTrustMaterial(keys);
  if (keyBased) {
    if (material.$case !== 'publicKey') fail('SIGNATURE_INVALID', 'bundle is signed with a certificate, but only public keys were given', file);
    const byId = new Map((keys as readonly PublicKey[]).map((k) => [k.keyid, k]));
    trust = toTrustMaterial(EMPTY_TRUSTED_ROOT as never, (h: string) => {
      const k = byId.get(h);
      if (!k) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `bundle is signed by key ${h || '(no hint)'}, which is not among the trusted keys` });
      usedKey = k;
      return { publicKey: k.keyObject.type === 'private' ? createPublicKey(k.keyObject) : k.keyObject, validFor: () => true };
    });
  } else {
    trust = keys as TrustMaterial;
  }
  const threshold = (v: number | undefined): number => v ?? (keyBased ? 0 : 1);
  const verifier = new Verifier(trust, {
    tlogThreshold: threshold(opts.tlogThreshold),
    ctlogThreshold: threshold(opts.ctlogThreshold),
    timestampThreshold: threshold(opts.timestampThreshold),
  });
  let signer: { key: KeyObject; identity?: unknown };
  try {
    const entity = toSignedEntity(bundle);
    const sigstoreCheck = entity.signature.verifySignature.bind(entity.signature);
    const signedBytes = pae(payloadType, payloadBytes);
    const sig = envelope.signatures[0].sig;
    // sigstore-js hashes every EC key with SHA-256: decide with the scheme's own hash instead
    entity.signature.verifySignature = (key: KeyObject) =>
      verifySignatureWithKey(key, signedBytes, sig) && (!sigstoreHashIsRight(key) || sigstoreCheck(key));
    signer = verifier.verify(entity, opts.policy);
  } catch (e) {
    if (e instanceof VerificationError || e instanceof PolicyError) {
      fail(SIGSTORE_CODES[e.code] ?? 'VERIFICATION_FAILED', `bundle verification failed: ${e.message}`, file, e);
    }
    if (e instanceof CustodyError) throw e;
    fail('BUNDLE_MALFORMED', `bundle cannot be verified: ${(e as Error).message}`, file, e);
  }

  let statement: Statement | undefined;
  if (payloadType === IN_TOTO_PAYLOAD_TYPE && !opts.rawPayload) statement = parseStatement(payloadBytes, { file });
  return { statement, payloadType, payloadBytes, keyid: hint, key: usedKey, signer, bundle };
}
