// Keyless (Sigstore: Fulcio certificate + Rekor entry, optionally an RFC 3161 timestamp) signing
// and verification of OpenSSF model_signing `model.sig` files, built on @custody/sign's keyless
// signer and bundle verifier. The manifest/Statement side is shared with key-based signing
// (model-signing.ts): only the ModelBundleSigner/ModelBundleVerifier differ.
import type {
  BundleSigner, IdentityPolicy, KeylessIdentity, KeylessSignerOptions, KeylessVerified, TrustMaterial,
} from '@custody/sign';
import { CustodyError } from '@custody/core';
import type { ModelBundleSigner, ModelBundleVerifier } from './model-signing.ts';

/**
 * Splits DSSE pre-authentication encoding ("DSSEv1 LEN TYPE LEN PAYLOAD") back into payload type
 * and payload. signModel hands signers the PAE; a Sigstore signer needs the parts, because the
 * transparency-log entry it writes records the envelope, not just a signature.
 */
export function splitDssePae(pae: Buffer): { payloadType: string; payload: Buffer } {
  const bad = () => new CustodyError('MODEL_SIGNATURE_MALFORMED', 'not a DSSE pre-authentication encoding');
  const readLength = (from: number): [number, number] => {
    const space = pae.indexOf(0x20, from);
    if (space < 0) throw bad();
    const digits = pae.subarray(from, space).toString('latin1');
    if (!/^(0|[1-9][0-9]*)$/.test(digits)) throw bad();
    return [Number(digits), space + 1];
  };
  const prefix = Buffer.from('DSSEv1 ');
  if (!pae.subarray(0, prefix.length).equals(prefix)) throw bad();
  const [typeLength, typeStart] = readLength(prefix.length);
  const typeEnd = typeStart + typeLength;
  if (pae[typeEnd] !== 0x20) throw bad();
  const [payloadLength, payloadStart] = readLength(typeEnd + 1);
  if (payloadStart + payloadLength !== pae.length) throw bad();
  return { payloadType: pae.subarray(typeStart, typeEnd).toString('utf8'), payload: pae.subarray(payloadStart) };
}

interface DsseBundleJson {
  verificationMaterial?: Record<string, unknown>;
  dsseEnvelope?: { payload?: string; payloadType?: string; signatures?: { sig?: string }[] };
}

/**
 * Adapts a Sigstore BundleSigner (keyless, or anything with `signDsse`) to model signing: the
 * signer produces the whole bundle (certificate, tlog entry, timestamps) for the exact payload
 * signModel built, and its signature and verification material become model.sig's.
 * One adapter signs one model (verificationMaterial() answers for the last signature).
 */
export function sigstoreModelBundleSigner(signer: Pick<BundleSigner, 'signDsse'>): ModelBundleSigner {
  let last: DsseBundleJson | undefined;
  return {
    async sign(pae) {
      const { payloadType, payload } = splitDssePae(pae);
      const bundle = await signer.signDsse(payload, payloadType) as unknown as DsseBundleJson;
      const env = bundle.dsseEnvelope;
      const sig = env?.signatures?.[0]?.sig;
      // The bundle must be for exactly this envelope, or model.sig would not verify.
      if (!env || env.payloadType !== payloadType || env.payload !== payload.toString('base64') || typeof sig !== 'string' || env.signatures!.length !== 1) {
        throw new CustodyError('MODEL_SIGNATURE_INVALID', 'the Sigstore signer returned a bundle for a different DSSE envelope');
      }
      if (!bundle.verificationMaterial) throw new CustodyError('MODEL_SIGNATURE_INVALID', 'the Sigstore signer returned a bundle without verification material');
      last = bundle;
      return Buffer.from(sig, 'base64');
    },
    verificationMaterial() {
      if (!last?.verificationMaterial) throw new CustodyError('USAGE', 'verificationMaterial() asked before sign()');
      return last.verificationMaterial;
    },
  };
}

export interface KeylessModelSigner {
  signer: ModelBundleSigner;
  /** The certificate's identity, known after the first signature. */
  identity(): KeylessIdentity | undefined;
}

/**
 * A keyless model signer: ephemeral key, Fulcio certificate for the OIDC identity token, Rekor
 * entry (and TSA timestamp when configured). Nothing is contacted until signModel signs.
 * Errors from the services: IDENTITY_TOKEN_INVALID, NETWORK (naming the URL), USAGE.
 */
export async function keylessModelBundleSigner(opts: KeylessSignerOptions = {}): Promise<KeylessModelSigner> {
  // Loaded on demand: the sigstore stack is heavy and the model plugin is often used without it.
  const { createKeylessSigner } = await import('@custody/sign');
  const keyless = createKeylessSigner(opts);
  return { signer: sigstoreModelBundleSigner(keyless), identity: () => keyless.identity() };
}

export interface KeylessModelVerifierOptions {
  /** Trust material, or the parsed JSON of a trusted_root.json. */
  trustedRoot: TrustMaterial | unknown;
  /** Accepted signer identities (any may match): exact issuer, exact subject or anchored regex. */
  identity: IdentityPolicy | readonly IdentityPolicy[];
  /** For the "signing time not in the future" check. */
  now?: Date;
  /** The signature file, named in errors. */
  file?: string;
  /** Called with what verified (identity, signing times) before the folder is hashed. */
  onVerified?: (result: KeylessVerified) => void;
}

/**
 * Verifier for keyless model.sig files: certificate chain to the trusted root's CA, SCT, tlog
 * inclusion proof / SET (or TSA), signing time within the certificate's validity, the DSSE
 * signature, and the certificate identity against the expected issuer and subject.
 * Errors: CERTIFICATE_INVALID, TLOG_INVALID, SIGNATURE_INVALID, IDENTITY_MISMATCH,
 * BUNDLE_MALFORMED, TRUSTED_ROOT_INVALID.
 */
export function keylessModelBundleVerifier(opts: KeylessModelVerifierOptions): ModelBundleVerifier {
  return async (bundle) => {
    const { verifyKeylessBundle } = await import('@custody/sign');
    const result = verifyKeylessBundle(bundle, { trustedRoot: opts.trustedRoot, identity: opts.identity, now: opts.now, file: opts.file });
    // verifyModel reads the payload from the same JSON; make sure both views agree.
    if (result.payloadBytes.toString('base64') !== Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('base64')) {
      throw new CustodyError('MODEL_SIGNATURE_INVALID', 'the verified DSSE payload differs from the envelope payload', { file: opts.file });
    }
    opts.onVerified?.(result);
  };
}
