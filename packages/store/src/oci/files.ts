// Attestation files as they come out of a registry: under the names they were pushed with —
// attestation file names only (`<step>.<keyid8>….link|.sigstore.json|.att.json`), never a path,
// a layout or a key — and the newest push of a name when it was pushed more than once.
import { CustodyError } from '@custody/core';
import { ANNOTATIONS, isAttestationFileName, type OciRegistryStore } from './attestations.ts';

export interface RegistryAttestationFile {
  name: string;
  bytes: Buffer;
  /** The artifact manifest it came from. */
  manifestDigest: string;
  /** `oci://HOST/REPO@sha256:…`, for reports and VSAs. */
  origin: string;
}

/**
 * True for a file that is a trust anchor rather than evidence: an in-toto layout (metablock,
 * DSSE, or a Sigstore bundle around one) or a key (PEM, securesystemslib JSON). Pull never
 * writes one and never writes over one.
 */
export function isTrustAnchorFile(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes).toString('utf8');
  if (/-----BEGIN [A-Z ]*(PUBLIC|PRIVATE) KEY-----|-----BEGIN CERTIFICATE-----/.test(text)) return true;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return false;
  }
  const isLayout = (v: unknown): boolean => !!v && typeof v === 'object' && (v as { _type?: unknown })._type === 'layout';
  const payloadIsLayout = (env: unknown): boolean => {
    const p = env && typeof env === 'object' ? (env as { payload?: unknown }).payload : undefined;
    if (typeof p !== 'string') return false;
    try {
      return isLayout(JSON.parse(Buffer.from(p, 'base64').toString('utf8')));
    } catch {
      return false;
    }
  };
  if (!json || typeof json !== 'object') return false;
  const o = json as Record<string, unknown>;
  if (isLayout(o.signed) || isLayout(o)) return true;
  if (payloadIsLayout(o) || payloadIsLayout(o.dsseEnvelope)) return true;
  if (o.keyval && typeof o.keyval === 'object' && typeof o.keytype === 'string') return true;
  return false;
}

/**
 * Every attestation file attached to subjectDigest, checked before anything is written: each
 * name is an attestation file name and no content is a layout or a key (REGISTRY_ERROR naming
 * the registry and the manifest otherwise). `superseded` lists names pushed more than once.
 */
export async function fetchAttestationFiles(store: OciRegistryStore, subjectDigest: string): Promise<{ files: RegistryAttestationFile[]; superseded: string[]; via: 'referrers-api' | 'tag-schema' }> {
  const where = `registry ${store.client.host}`;
  const { via } = await store.listReferrers(subjectDigest);
  const pulled = await store.pullAttestations(subjectDigest);
  const byName = new Map<string, { file: RegistryAttestationFile; created: string; order: number }>();
  const superseded = new Set<string>();
  for (const [order, p] of pulled.entries()) {
    const name = p.annotations[ANNOTATIONS.fileName];
    if (name === undefined) throw new CustodyError('REGISTRY_ERROR', `${where}: attestation ${p.manifestDigest} has no file name annotation`);
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name) || name.includes('..') || name.startsWith('.')) {
      throw new CustodyError('REGISTRY_ERROR', `${where}: attestation ${p.manifestDigest} is named ${JSON.stringify(name)}: refusing a file name that is a path`);
    }
    if (!isAttestationFileName(name)) {
      throw new CustodyError('REGISTRY_ERROR', `${where}: attestation ${p.manifestDigest} is named ${JSON.stringify(name)}: not an attestation file name (<step>.<keyid8>….link|.sigstore.json|.att.json)`);
    }
    if (isTrustAnchorFile(p.bytes)) {
      throw new CustodyError('REGISTRY_ERROR', `${where}: attestation ${p.manifestDigest} (${name}) is a layout or a key, not evidence: refusing it`);
    }
    const entry = { file: { name, bytes: p.bytes, manifestDigest: p.manifestDigest, origin: `oci://${store.client.host}/${store.repository}@${p.manifestDigest}` }, created: p.annotations[ANNOTATIONS.created] ?? '', order };
    const seen = byName.get(name);
    if (seen && seen.file.manifestDigest !== p.manifestDigest) superseded.add(name);
    // the newest push of a name wins (a step re-run and pushed again); verification judges it
    if (!seen || entry.created > seen.created || (entry.created === seen.created && entry.order > seen.order)) byName.set(name, entry);
  }
  const files = [...byName.values()].map((e) => e.file).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, superseded: [...superseded].sort(), via };
}
