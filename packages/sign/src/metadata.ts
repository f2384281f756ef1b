import {
  CustodyError, canonicalBytes, compareCodePoints, decodeBase64, pae, pythonJsonDumps,
  type DsseEnvelope, type Metablock, type Signature,
} from '@custody/core';
import type { Signer } from './keys.ts';

/**
 * Signs `body` as a legacy in-toto metablock: hex signature over the OLPC canonical JSON of
 * `body` (pass the body as the reference's model would hold it, e.g. `normalizeLink(...)`).
 * With `existing`, adds to its signatures; a signature by the same keyid is replaced.
 */
export async function signMetablock<T>(body: T, signer: Signer, existing?: Metablock<T>): Promise<Metablock<T>> {
  const data = canonicalBytes(body);
  if (existing && !canonicalBytes(existing.signed).equals(data)) {
    throw new CustodyError('USAGE', 'cannot add a signature: the body differs from what the existing signatures cover');
  }
  const sig = (await signer.sign(data)).toString('hex');
  const others: Signature[] = (existing?.signatures ?? []).filter((s) => s.keyid !== signer.keyid);
  return { signatures: [...others, { keyid: signer.keyid, sig }], signed: body };
}

/**
 * Signs `payload` as a DSSE envelope: base64 signature over PAE(payloadType, payload).
 * With `existing` (same payload and type), adds to its signatures, replacing the same keyid.
 */
export async function signDsse(payload: Buffer, payloadType: string, signer: Signer, existing?: DsseEnvelope): Promise<DsseEnvelope> {
  if (existing) {
    const old = decodeBase64(existing.payload);
    if (!old || !old.equals(payload) || existing.payloadType !== payloadType) {
      throw new CustodyError('USAGE', 'cannot add a signature: payload or payloadType differs from the existing envelope');
    }
  }
  const sig = (await signer.sign(pae(payloadType, payload))).toString('base64');
  const others = (existing?.signatures ?? []).filter((s) => s.keyid !== signer.keyid);
  return { payload: payload.toString('base64'), payloadType, signatures: [...others, { keyid: signer.keyid, sig }] };
}

/** A metablock as the reference writes it: `json.dumps(indent=1, sort_keys=True)`, no trailing newline. */
export function serializeMetablock<T>(mb: Metablock<T>): string {
  return pythonJsonDumps(mb);
}

/**
 * Python's `json.dumps(value, sort_keys=True)`: one line, `", "` and `": "` separators,
 * non-ASCII escaped — how in-toto 1.4 writes DSSE files and serializes DSSE link payloads.
 */
export function pythonJsonDumpsCompact(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumpsCompact).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareCodePoints);
    return `{${keys.map((k) => `${pythonJsonDumps(k)}: ${pythonJsonDumpsCompact(obj[k])}`).join(', ')}}`;
  }
  // scalars: pythonJsonDumps writes them exactly as json.dumps does
  return pythonJsonDumps(value);
}

/** The DSSE payload in-toto 1.4 puts in an envelope for a link or layout (`Envelope.from_signable`). */
export function inTotoDssePayload(body: unknown): Buffer {
  return Buffer.from(pythonJsonDumpsCompact(body), 'utf8');
}

/** A DSSE envelope as in-toto 1.4 writes it (`Metadata.dump`: `json.dumps(to_dict(), sort_keys=True)`). */
export function serializeDsse(env: DsseEnvelope): string {
  return pythonJsonDumpsCompact(env);
}
