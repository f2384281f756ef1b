/**
 * OCI image manifests and indexes (referrers responses, tag-schema indexes) as a registry sends
 * them: untrusted JSON. Every field custody reads is checked for its type here, so a hostile
 * registry gets an error naming it (REGISTRY_ERROR), never an internal TypeError later.
 */
import { CustodyError, isPlainObject, parseJson } from '@custody/core';
import type { OciDescriptor, OciIndex, OciManifest } from './client.ts';

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function bad(message: string, where: string): never {
  throw new CustodyError('REGISTRY_ERROR', `${where}: ${message}`);
}

function stringMap(v: unknown, field: string, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v) || Object.values(v).some((x) => typeof x !== 'string')) bad(`${field} must be an object of strings`, where);
  return { ...(v as Record<string, string>) };
}

/** One OCI content descriptor: mediaType, digest (algorithm:encoded), a non-negative size. */
export function parseDescriptor(v: unknown, field: string, where: string): OciDescriptor {
  if (!isPlainObject(v)) bad(`${field} must be a descriptor object`, where);
  if (typeof v.mediaType !== 'string') bad(`${field}.mediaType must be a string`, where);
  if (typeof v.digest !== 'string' || !DIGEST.test(v.digest)) bad(`${field}.digest must be a digest like sha256:<hex>`, where);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) bad(`${field}.size must be a non-negative integer`, where);
  if (v.artifactType !== undefined && typeof v.artifactType !== 'string') bad(`${field}.artifactType must be a string`, where);
  if (v.data !== undefined && typeof v.data !== 'string') bad(`${field}.data must be a base64 string`, where);
  const annotations = stringMap(v.annotations, `${field}.annotations`, where);
  return {
    mediaType: v.mediaType, digest: v.digest, size: v.size,
    ...(v.artifactType !== undefined ? { artifactType: v.artifactType as string } : {}),
    ...(annotations ? { annotations } : {}),
    ...(v.data !== undefined ? { data: v.data as string } : {}),
  };
}

function jsonObject(text: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = parseJson(text, { code: 'REGISTRY_ERROR', what: where });
  } catch (e) {
    if (e instanceof CustodyError) throw new CustodyError('REGISTRY_ERROR', e.message, { cause: e });
    throw e;
  }
  if (!isPlainObject(v)) bad('not a JSON object', where);
  if (v.schemaVersion !== undefined && v.schemaVersion !== 2) bad('schemaVersion must be 2', where);
  if (v.mediaType !== undefined && typeof v.mediaType !== 'string') bad('mediaType must be a string', where);
  return v;
}

/**
 * An image manifest or an index, whichever the JSON is (a manifest has `layers`, an index
 * `manifests`); `where` names the registry, repository and reference in messages.
 */
export function parseManifestOrIndex(text: string, where: string): OciManifest & OciIndex {
  const v = jsonObject(text, where);
  const out: Record<string, unknown> = { schemaVersion: 2 };
  if (v.mediaType !== undefined) out.mediaType = v.mediaType;
  if (v.artifactType !== undefined) {
    if (typeof v.artifactType !== 'string') bad('artifactType must be a string', where);
    out.artifactType = v.artifactType;
  }
  if (v.config !== undefined) out.config = parseDescriptor(v.config, 'config', where);
  if (v.layers !== undefined) {
    if (!Array.isArray(v.layers)) bad('layers must be a list', where);
    out.layers = v.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`, where));
  }
  if (v.manifests !== undefined) {
    if (!Array.isArray(v.manifests)) bad('manifests must be a list', where);
    out.manifests = v.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`, where));
  }
  if (v.subject !== undefined) out.subject = parseDescriptor(v.subject, 'subject', where);
  const annotations = stringMap(v.annotations, 'annotations', where);
  if (annotations) out.annotations = annotations;
  return out as unknown as OciManifest & OciIndex;
}

/** A referrers response or tag-schema index: an OCI index whose `manifests` are descriptors. */
export function parseReferrersIndex(text: string, where: string): OciIndex {
  const parsed = parseManifestOrIndex(text, where);
  return { ...parsed, manifests: parsed.manifests ?? [] };
}
