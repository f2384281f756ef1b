/**
 * Keyless layouts: a layout's DSSE envelope inside a Sigstore bundle v0.3, signed with a Fulcio
 * certificate. Pure part only: recognising the bundle and reading its envelope as the DSSE
 * SignedFile the verifier expects. Certificate chain, SCTs, tlog and signing time are checked by
 * the caller (the CLI, through @custody/sign), which hands the outcome in as data
 * (`VerifyInput.layoutIdentities`).
 */
import { CustodyError } from '../errors.ts';
import { parseSignedFile, type SignedFile } from '../envelope.ts';
import { isPlainObject } from '../model/layout.ts';

const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/** Is this parsed JSON a Sigstore bundle (any version)? */
export function isSigstoreBundleDocument(doc: unknown): boolean {
  return isPlainObject(doc) && typeof doc.mediaType === 'string' && doc.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX);
}

/**
 * The DSSE envelope of a layout bundle as a SignedFile (format 'dsse', the payload bytes exactly
 * as signed). The bundle's one signature has no keyid, so no `--layout-key` can match it.
 * ENVELOPE_MALFORMED when the bundle holds no DSSE envelope or not exactly one signature.
 */
export function signedFileFromBundle(bundle: unknown, fileName: string): SignedFile<unknown> {
  if (!isSigstoreBundleDocument(bundle)) throw new CustodyError('ENVELOPE_MALFORMED', 'not a Sigstore bundle (no bundle mediaType)', { file: fileName });
  const b = bundle as Record<string, unknown>;
  if (!isPlainObject(b.dsseEnvelope)) {
    const what = isPlainObject(b.messageSignature) ? 'a message signature' : 'no DSSE envelope';
    throw new CustodyError('ENVELOPE_MALFORMED', `Sigstore bundle holds ${what}: a signed layout is a DSSE envelope`, { file: fileName });
  }
  const env = b.dsseEnvelope;
  if (!Array.isArray(env.signatures) || env.signatures.length !== 1) {
    throw new CustodyError('ENVELOPE_MALFORMED', `a Sigstore bundle's DSSE envelope must carry exactly one signature, found ${Array.isArray(env.signatures) ? env.signatures.length : 'none'}`, { file: fileName });
  }
  return parseSignedFile(JSON.stringify(env), fileName);
}
