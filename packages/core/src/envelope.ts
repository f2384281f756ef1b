import { canonicalBytes } from './canonical.ts';
import { CustodyError } from './errors.ts';
import { parseJson, parseJsonWithFacts } from './json.ts';
import { verifyRaw, type PublicKey } from './keys.ts';
import { normalizeLink } from './model/link.ts';

export interface Signature { keyid: string; sig: string }
/** Legacy in-toto signed wrapper; `sig` is hex over the OLPC canonical JSON of `signed`. */
export interface Metablock<T> { signatures: Signature[]; signed: T }
/** DSSE JSON envelope (in-toto 1.4 style); `payload` and `sig` are base64. */
export interface DsseEnvelope { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] }

export type SignedFile<T> =
  | { format: 'metablock'; metablock: Metablock<T>; body: T }
  | { format: 'dsse'; envelope: DsseEnvelope; payloadBytes: Buffer; body: T };

/** payloadType of in-toto metadata (links, layouts, Statements) inside DSSE. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

const BASE64 = /^(?:[A-Za-z0-9+/]*={0,2}|[A-Za-z0-9_-]*={0,2})$/;
const HEX_EVEN = /^(?:[0-9a-fA-F]{2})*$/;

function malformed(message: string, fileName: string, cause?: unknown): never {
  throw new CustodyError('ENVELOPE_MALFORMED', message, { file: fileName, cause });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes standard or URL-safe base64 (DSSE allows both); undefined if it is not base64. */
export function decodeBase64(s: string): Buffer | undefined {
  const t = s.trim();
  if (!BASE64.test(t) || t.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
}

function parseSignatures(v: unknown, fileName: string, what: string, keyidOptional = false): Signature[] {
  if (!Array.isArray(v)) malformed(`${what}: \`signatures\` must be a list`, fileName);
  return v.map((s, i) => {
    // DSSE makes keyid an optional hint; a signature without one matches no key.
    const keyid = isPlainObject(s) && s.keyid === undefined && keyidOptional ? '' : isPlainObject(s) ? s.keyid : undefined;
    if (!isPlainObject(s) || typeof keyid !== 'string' || typeof s.sig !== 'string') {
      malformed(`${what}: signature ${i} needs string \`keyid\` and \`sig\``, fileName);
    }
    return { keyid, sig: s.sig };
  });
}

/**
 * Reads a signed file: a legacy metablock (`{signatures, signed}`) or a DSSE envelope
 * (`{payload, payloadType, signatures}`). The DSSE body is the JSON-decoded payload.
 */
export function parseSignedFile(text: string, fileName: string): SignedFile<unknown> {
  const { value: data, facts } = parseJsonWithFacts(text, { file: fileName, code: 'ENVELOPE_MALFORMED', what: 'signed metadata' });
  if (!isPlainObject(data)) malformed('expected a JSON object (metablock or DSSE envelope)', fileName);
  if ('payload' in data || 'payloadType' in data) {
    const { payload, payloadType } = data;
    if (typeof payload !== 'string') malformed('DSSE envelope: `payload` must be a base64 string', fileName);
    if (typeof payloadType !== 'string') malformed('DSSE envelope: `payloadType` must be a string', fileName);
    const signatures = parseSignatures(data.signatures, fileName, 'DSSE envelope', true);
    for (const s of signatures) {
      if (decodeBase64(s.sig) === undefined) malformed(`DSSE envelope: signature for keyid ${s.keyid} is not base64`, fileName);
    }
    const payloadBytes = decodeBase64(payload);
    if (!payloadBytes) malformed('DSSE envelope: `payload` is not base64', fileName);
    const body = parseJson(payloadBytes.toString('utf8'), { file: fileName, code: 'ENVELOPE_MALFORMED', what: 'DSSE envelope: payload' });
    return { format: 'dsse', envelope: { payload, payloadType, signatures }, payloadBytes, body };
  }
  if ('signed' in data) {
    if (!isPlainObject(data.signed)) malformed('metablock: `signed` must be an object', fileName);
    const signatures = parseSignatures(data.signatures ?? [], fileName, 'metablock');
    // JS reads 1.0 as 1; the reference reads a float, which canonical JSON cannot encode.
    if (facts.floatToken !== undefined) {
      throw new CustodyError('CANONICAL_JSON', `metablock holds the number ${facts.floatToken}: canonical JSON (what its signatures cover) allows integers only`, { file: fileName });
    }
    const metablock: Metablock<unknown> = { signatures, signed: data.signed };
    return { format: 'metablock', metablock, body: data.signed };
  }
  malformed('neither an in-toto metablock (`signed`, `signatures`) nor a DSSE envelope (`payload`, `payloadType`, `signatures`)', fileName);
}

/**
 * DSSE layouts and links carry in-toto's payloadType; any other type means the signer signed
 * something else (PAE binds the type), so its payload is not in-toto metadata.
 */
export function requireInTotoPayloadType(file: SignedFile<unknown>, fileName: string): void {
  if (file.format === 'dsse' && file.envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new CustodyError('PAYLOAD_TYPE', `DSSE payloadType is ${JSON.stringify(file.envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`, { file: fileName });
  }
}

/** DSSE v1 pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(payload)> <payload>" (byte lengths). */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
  ]);
}

/**
 * The bytes a metablock signature covers: OLPC canonical JSON of the body as the reference's
 * model re-serializes it. Links are normalized with `normalizeLink` unless `normalize` is given;
 * other bodies (layouts) are used as given unless the caller passes their normalizer.
 */
export function metablockSignedBytes(signed: unknown, normalize?: (body: unknown) => unknown): Buffer {
  const norm = normalize ?? ((b: unknown) => (isPlainObject(b) && b._type === 'link' ? normalizeLink(b) : b));
  return canonicalBytes(norm(signed));
}

/**
 * True when the file carries a valid signature by `key`. Only signatures whose keyid equals
 * `key.keyid` count. Metablock: like the reference (`Metablock.verify_signature`), the *first*
 * signature with that keyid decides. DSSE: any signature with that keyid may verify (as
 * securesystemslib's `Envelope.verify`), over PAE of the raw payload bytes — never a re-serialization.
 */
export function verifySignedFile(file: SignedFile<unknown>, key: PublicKey, normalize?: (body: unknown) => unknown): boolean {
  if (file.format === 'metablock') {
    const signature = file.metablock.signatures.find((s) => s.keyid === key.keyid);
    if (!signature || !HEX_EVEN.test(signature.sig)) return false;
    const data = metablockSignedBytes(file.metablock.signed, normalize);
    return verifyRaw(key, data, Buffer.from(signature.sig, 'hex'));
  }
  const data = pae(file.envelope.payloadType, file.payloadBytes);
  return file.envelope.signatures.some((s) => {
    if (!s.keyid || s.keyid !== key.keyid) return false;
    const sig = decodeBase64(s.sig);
    return sig !== undefined && verifyRaw(key, data, sig);
  });
}
