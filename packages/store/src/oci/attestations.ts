// Attestations in an OCI registry, attached to the image they are about: each attestation is an
// artifact manifest (empty config, one layer = the attestation file) whose `subject` is the
// image manifest. Found again through the referrers API, or, on registries without it, through
// the referrers tag schema: an image index tagged `sha256-<hex of subject>` that lists them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { parseAttestationFileName } from '../names.ts';
import { checkRepository, EMPTY_CONFIG, OCI_MEDIA_TYPES, RegistryClient, sha256Digest, type OciDescriptor, type OciIndex, type OciManifest, type RegistryClientOptions } from './client.ts';
import { parseManifestOrIndex, parseReferrersIndex } from './parse.ts';

/** Media/artifact types custody uses for attestation layers. */
export const ATTESTATION_MEDIA_TYPES = {
  /** Sigstore bundle holding a DSSE in-toto Statement (what `custody run` writes by default). */
  sigstoreBundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  /** A bare DSSE envelope. */
  dsse: 'application/vnd.dsse.envelope.v1+json',
  /** A legacy in-toto metablock (`<step>.<keyid8>.link`, `root.layout`). */
  inTotoMetablock: 'application/vnd.in-toto+json',
} as const;

export const ANNOTATIONS = {
  step: 'dev.custody.step',
  predicateType: 'dev.custody.predicate-type',
  fileName: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
} as const;

/**
 * Attestation files custody writes (`<step>.<keyid8>[.<more>].link|.sigstore.json|.att.json`,
 * named by ../names.ts): the only names push sends and pull writes.
 */
function writtenAttestationName(name: string) {
  const parsed = parseAttestationFileName(name);
  return parsed && parsed.ext !== 'json' && !name.includes('..') ? parsed : undefined;
}

export function isAttestationFileName(name: string): boolean {
  return writtenAttestationName(name) !== undefined;
}

/** How an attestation file is stored in a registry: media type, step and file-name annotations. */
export function attestationInput(name: string, bytes: Buffer, file = name): AttestationInput & { annotations: Record<string, string> } {
  const parsed = writtenAttestationName(name);
  if (!parsed) throw new CustodyError('USAGE', `${name} is not an attestation file name (<step>.<keyid8>….link|.sigstore.json|.att.json)`, { file });
  const { step, ext } = parsed;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CustodyError('MALFORMED_JSON', 'not a JSON attestation', { file });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CustodyError('MALFORMED_JSON', 'not a JSON object', { file });
  const envelope = (ext === 'sigstore.json' ? json.dsseEnvelope : json) as { payloadType?: unknown; payload?: unknown } | undefined;
  const mediaType = ext === 'sigstore.json' ? ATTESTATION_MEDIA_TYPES.sigstoreBundle
    : typeof envelope?.payloadType === 'string' ? ATTESTATION_MEDIA_TYPES.dsse : ATTESTATION_MEDIA_TYPES.inTotoMetablock;
  const annotations: Record<string, string> = { [ANNOTATIONS.step]: step, [ANNOTATIONS.fileName]: name };
  if (typeof envelope?.payload === 'string') {
    try {
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType?: unknown };
      if (typeof statement.predicateType === 'string') annotations[ANNOTATIONS.predicateType] = statement.predicateType;
    } catch {
      // a payload that is not a Statement: stored without the predicate-type annotation
    }
  }
  return { bytes, mediaType, annotations };
}

export interface AttestationInput {
  bytes: Uint8Array;
  /** Media type of the attestation file (layer); also the manifest's artifactType unless given. */
  mediaType: string;
  artifactType?: string;
  /** Annotations on the artifact manifest (e.g. ANNOTATIONS.step, ANNOTATIONS.fileName). */
  annotations?: Record<string, string>;
}

export interface PushedAttestation {
  descriptor: OciDescriptor;
  /** 'referrers-api' when the registry indexed the subject itself (OCI-Subject header), else 'tag-schema'. */
  indexedBy: 'referrers-api' | 'tag-schema';
}

export interface PulledAttestation {
  manifestDigest: string;
  artifactType?: string;
  annotations: Record<string, string>;
  mediaType: string;
  bytes: Buffer;
}

export interface OciStoreOptions extends RegistryClientOptions {
  repository: string;
}

/** An attestation file larger than this is refused on download (bundles are kilobytes). */
export const MAX_ATTESTATION_BYTES = 64 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function referrersTag(subjectDigest: string): string {
  const [alg, hex] = subjectDigest.split(':');
  return `${alg}-${hex}`;
}

/**
 * The tag each attestation also gets on registries without the referrers API:
 * `sha256-<subject hex>.<first 32 hex of the attestation manifest digest>` (104 characters,
 * within the 128 a tag may have). Tags are written once and never rewritten, so unlike the
 * shared `sha256-<hex>` index they cannot lose an entry to a concurrent writer: pull reads the
 * union of both, and every push repairs the index from them.
 */
export function entryTag(subjectDigest: string, manifestDigest: string): string {
  return `${referrersTag(subjectDigest)}.${manifestDigest.slice(7, 39)}`;
}

const ENTRY_TAG = /^sha256-[0-9a-f]{64}\.([0-9a-f]{32})$/;

export class OciRegistryStore {
  readonly client: RegistryClient;
  readonly repository: string;

  constructor(o: OciStoreOptions) {
    checkRepository(o.repository);
    this.client = new RegistryClient(o);
    this.repository = o.repository;
  }

  close(): void {
    this.client.close();
  }

  /** Resolves a tag or digest to the manifest descriptor (the subject for attestations). */
  async resolve(reference: string): Promise<OciDescriptor> {
    const m = await this.client.getManifest(this.repository, reference);
    if (!m) throw new CustodyError('REGISTRY_ERROR', `registry ${this.client.host}: ${this.repository}:${reference} not found`);
    return m.descriptor;
  }

  /** Uploads an OCI image layout's image (blobs, then the manifest by digest and tag). */
  async pushImageLayout(layoutDir: string, opts: { ref?: string; tag?: string; mountFrom?: string } = {}): Promise<OciDescriptor> {
    const indexFile = join(layoutDir, 'index.json');
    const local = <T>(file: string, read: () => T): T => {
      try {
        return read();
      } catch (e) {
        if (e instanceof CustodyError) throw new CustodyError('OCI_LAYOUT_INVALID', e.message, { file, cause: e });
        throw e;
      }
    };
    const indexText = await readFile(indexFile, 'utf8');
    const index = local(indexFile, () => parseReferrersIndex(indexText, 'index.json'));
    const candidates = index.manifests.filter((d) => !opts.ref || d.annotations?.['org.opencontainers.image.ref.name'] === opts.ref);
    if (candidates.length !== 1) throw new CustodyError('OCI_LAYOUT_INVALID', `${candidates.length} manifests match in index.json`, { file: join(layoutDir, 'index.json') });
    const blob = async (digest: string) => {
      const bytes = await readFile(join(layoutDir, 'blobs', 'sha256', digest.slice(7)));
      if (sha256Digest(bytes) !== digest) throw new CustodyError('OCI_LAYOUT_INVALID', `blob ${digest} does not match its digest`, { file: layoutDir });
      return bytes;
    };
    const manifestBytes = await blob(candidates[0].digest);
    const manifest = local(layoutDir, () => parseManifestOrIndex(manifestBytes.toString('utf8'), `manifest ${candidates[0].digest}`));
    if (!manifest.config || !manifest.layers) throw new CustodyError('OCI_LAYOUT_INVALID', `manifest ${candidates[0].digest} is not an image manifest (config, layers)`, { file: layoutDir });
    for (const d of [manifest.config, ...manifest.layers]) await this.client.pushBlob(this.repository, await blob(d.digest), d.digest, opts.mountFrom ? { mountFrom: opts.mountFrom } : {});
    const mediaType = manifest.mediaType ?? candidates[0].mediaType;
    const { descriptor } = await this.client.pushManifest(this.repository, candidates[0].digest, manifestBytes, mediaType);
    const tag = opts.tag ?? candidates[0].annotations?.['org.opencontainers.image.ref.name'];
    if (tag) await this.client.pushManifest(this.repository, tag, manifestBytes, mediaType);
    return descriptor;
  }

  /** Attaches one attestation to subject. */
  async pushAttestation(subject: OciDescriptor, att: AttestationInput): Promise<PushedAttestation> {
    return (await this.pushAttestations(subject, [att]))[0];
  }

  /**
   * Attaches attestations to subject: every blob and manifest first, then one update of the
   * fallback index for those the registry did not index itself — so a push rejected part way
   * (auth, quota, a dead registry) lists nothing that a later pull would read.
   */
  async pushAttestations(subject: OciDescriptor, atts: AttestationInput[]): Promise<PushedAttestation[]> {
    if (atts.length === 0) return [];
    await this.client.pushBlob(this.repository, Buffer.from('{}'), EMPTY_CONFIG.digest);
    const one = async (att: AttestationInput): Promise<PushedAttestation> => {
      const artifactType = att.artifactType ?? att.mediaType;
      const layer = await this.client.pushBlob(this.repository, att.bytes);
      const manifest: OciManifest = {
        schemaVersion: 2,
        mediaType: OCI_MEDIA_TYPES.manifest,
        artifactType,
        config: { ...EMPTY_CONFIG },
        layers: [{ mediaType: att.mediaType, digest: layer.digest, size: layer.size, ...(att.annotations?.[ANNOTATIONS.fileName] ? { annotations: { [ANNOTATIONS.fileName]: att.annotations[ANNOTATIONS.fileName] } } : {}) }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        ...(att.annotations && Object.keys(att.annotations).length ? { annotations: att.annotations } : {}),
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      const pushed = await this.client.pushManifest(this.repository, sha256Digest(bytes), bytes, OCI_MEDIA_TYPES.manifest);
      const descriptor: OciDescriptor = { ...pushed.descriptor, artifactType, ...(manifest.annotations ? { annotations: manifest.annotations } : {}) };
      const byApi = pushed.ociSubject === subject.digest;
      if (!byApi) await this.client.pushManifest(this.repository, entryTag(subject.digest, pushed.descriptor.digest), bytes, OCI_MEDIA_TYPES.manifest);
      return { descriptor, indexedBy: byApi ? 'referrers-api' : 'tag-schema' };
    };
    // a few uploads at a time, results in input order
    const out: PushedAttestation[] = new Array(atts.length);
    let next = 0;
    const worker = async () => {
      while (next < atts.length) {
        const i = next++;
        out[i] = await one(atts[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, atts.length) }, worker));
    const unindexed = out.filter((p) => p.indexedBy === 'tag-schema').map((p) => p.descriptor);
    if (unindexed.length) await this.addToReferrersTag(subject.digest, unindexed);
    return out;
  }

  /**
   * Adds descriptors to the `sha256-<hex>` fallback index with optimistic concurrency. A
   * registry without the referrers API (distribution 2.8) has no conditional PUT, so two
   * writers can each read the index, add their entry and write — the later write drops the
   * earlier entry. So: read, merge (the union, existing order kept), write, re-read to confirm,
   * retry while an entry is missing; then repair from the entry tags (see entryTag), which
   * catches an entry a writer that stalled between its read and its write dropped later. Pull
   * reads the index and the entry tags, so no entry is lost even before that repair.
   */
  private async addToReferrersTag(subjectDigest: string, ours: OciDescriptor[], opts: { maxRounds?: number } = {}): Promise<void> {
    await this.mergeIntoIndex(subjectDigest, ours, opts);
    // Repair: entries of concurrent writers that an overwrite dropped, found by their own tags.
    const { referrers } = await this.tagSchemaReferrers(subjectDigest);
    await this.mergeIntoIndex(subjectDigest, referrers, opts);
  }

  private async mergeIntoIndex(subjectDigest: string, descriptors: OciDescriptor[], opts: { maxRounds?: number }): Promise<void> {
    const tag = referrersTag(subjectDigest);
    const maxRounds = opts.maxRounds ?? 40;
    for (let round = 0; round < maxRounds; round++) {
      const current = await this.client.getManifest(this.repository, tag);
      const manifests = current ? [...(Array.isArray(current.json.manifests) ? current.json.manifests : [])] : [];
      const have = new Set(manifests.map((d) => d.digest));
      const missing = descriptors.filter((d) => !have.has(d.digest));
      if (missing.length === 0) return; // all there: already (a re-push), or confirmed after our write
      const seenHere = new Set<string>();
      const merged = [...manifests, ...missing].filter((d) => !seenHere.has(d.digest) && seenHere.add(d.digest));
      const index: OciIndex = { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: merged };
      await this.client.pushManifest(this.repository, tag, Buffer.from(JSON.stringify(index)), OCI_MEDIA_TYPES.index);
      // a short random pause, so writers that collided do not collide again in lockstep
      await sleep(5 + Math.random() * (10 + 10 * round));
    }
    throw new CustodyError('REGISTRY_ERROR', `registry ${this.client.host}: update ${this.repository}:${tag}: entries still missing after ${maxRounds} rounds of concurrent writes`);
  }

  /** Descriptors of the artifacts referring to subjectDigest, via the referrers API or the tag schema. */
  async listReferrers(subjectDigest: string, opts: { artifactType?: string } = {}): Promise<{ referrers: OciDescriptor[]; via: 'referrers-api' | 'tag-schema' }> {
    const api = await this.client.referrersApi(this.repository, subjectDigest, opts.artifactType);
    if (api) return { referrers: api, via: 'referrers-api' };
    const { referrers: all } = await this.tagSchemaReferrers(subjectDigest);
    return { referrers: opts.artifactType ? all.filter((d) => d.artifactType === opts.artifactType) : all, via: 'tag-schema' };
  }

  /** The `sha256-<hex>` index's entries, then those only their entry tags know (see entryTag). */
  private async tagSchemaReferrers(subjectDigest: string): Promise<{ referrers: OciDescriptor[] }> {
    const where = `registry ${this.client.host}`;
    const tag = referrersTag(subjectDigest);
    const tagged = await this.client.getManifest(this.repository, tag);
    if (tagged && !Array.isArray(tagged.json.manifests)) throw new CustodyError('REGISTRY_ERROR', `${where}: ${this.repository}:${tag} is not an image index`);
    const listed = tagged?.json.manifests ?? [];
    const known = new Set(listed.map((d) => (typeof d?.digest === 'string' ? d.digest.slice(7, 39) : '')));
    const extra: OciDescriptor[] = [];
    for (const t of (await this.client.listTags(this.repository, `${tag}.`)).sort()) {
      const m = ENTRY_TAG.exec(t);
      if (!m || known.has(m[1])) continue;
      const got = await this.client.getManifest(this.repository, t);
      if (!got) continue; // deleted since the listing
      if (!got.descriptor.digest.startsWith(`sha256:${m[1]}`)) throw new CustodyError('DIGEST_MISMATCH', `${where}: tag ${t} names manifest ${got.descriptor.digest}`);
      known.add(m[1]);
      const json = got.json;
      extra.push({
        mediaType: OCI_MEDIA_TYPES.manifest, digest: got.descriptor.digest, size: got.descriptor.size,
        ...(typeof json.artifactType === 'string' ? { artifactType: json.artifactType } : {}),
        ...(json.annotations && typeof json.annotations === 'object' ? { annotations: json.annotations } : {}),
      });
    }
    return { referrers: [...listed, ...extra] };
  }

  /**
   * Downloads every attestation attached to subjectDigest. Each manifest and layer is checked
   * against its digest, and the manifest must really name subjectDigest as its subject.
   */
  async pullAttestations(subjectDigest: string, opts: { artifactType?: string; step?: string; concurrency?: number } = {}): Promise<PulledAttestation[]> {
    const { referrers } = await this.listReferrers(subjectDigest, opts);
    const where = `registry ${this.client.host}`;
    const one = async (d: OciDescriptor): Promise<PulledAttestation[]> => {
      if (typeof d?.digest !== 'string') throw new CustodyError('REGISTRY_ERROR', `${where}: a referrer of ${subjectDigest} has no digest`);
      const m = await this.client.getManifest(this.repository, d.digest);
      if (!m) throw new CustodyError('REGISTRY_ERROR', `${where}: referrer ${d.digest} of ${subjectDigest} is listed but missing`);
      const manifest = m.json;
      if (manifest.subject?.digest !== subjectDigest) {
        throw new CustodyError('DIGEST_MISMATCH', `${where}: referrer ${d.digest} has subject ${manifest.subject?.digest ?? 'none'}, not ${subjectDigest}`);
      }
      const annotations = manifest.annotations && typeof manifest.annotations === 'object' ? manifest.annotations : {};
      if (opts.step && annotations[ANNOTATIONS.step] !== opts.step) return [];
      const out: PulledAttestation[] = [];
      for (const layer of Array.isArray(manifest.layers) ? manifest.layers : []) {
        out.push({
          manifestDigest: d.digest,
          artifactType: manifest.artifactType,
          annotations: { ...annotations, ...(layer.annotations ?? {}) },
          mediaType: layer.mediaType,
          bytes: await this.client.getBlob(this.repository, layer.digest, { maxBytes: MAX_ATTESTATION_BYTES }),
        });
      }
      return out;
    };
    // A few downloads at a time, results in listing order.
    const results: PulledAttestation[][] = new Array(referrers.length);
    let next = 0;
    const worker = async () => {
      while (next < referrers.length) {
        const i = next++;
        results[i] = await one(referrers[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, referrers.length) }, worker));
    return results.flat();
  }
}
