// Attestations in an OCI registry, attached to the image they are about: each attestation is an
// artifact manifest (empty config, one layer = the attestation file) whose `subject` is the
// image manifest. Found again through the referrers API, or, on registries without it, through
// the referrers tag schema: an image index tagged `sha256-<hex of subject>` that lists them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { checkRepository, EMPTY_CONFIG, OCI_MEDIA_TYPES, RegistryClient, sha256Digest, type OciDescriptor, type OciIndex, type OciManifest, type RegistryClientOptions } from './client.ts';

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

export function referrersTag(subjectDigest: string): string {
  const [alg, hex] = subjectDigest.split(':');
  return `${alg}-${hex}`;
}

export class OciRegistryStore {
  readonly client: RegistryClient;
  readonly repository: string;

  constructor(o: OciStoreOptions) {
    checkRepository(o.repository);
    this.client = new RegistryClient(o);
    this.repository = o.repository;
  }

  /** Resolves a tag or digest to the manifest descriptor (the subject for attestations). */
  async resolve(reference: string): Promise<OciDescriptor> {
    const m = await this.client.getManifest(this.repository, reference);
    if (!m) throw new CustodyError('REGISTRY_ERROR', `${this.repository}:${reference} not found in ${this.client.baseUrl}`);
    return m.descriptor;
  }

  /** Uploads an OCI image layout's image (blobs, then the manifest by digest and tag). */
  async pushImageLayout(layoutDir: string, opts: { ref?: string; tag?: string } = {}): Promise<OciDescriptor> {
    const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as OciIndex;
    const candidates = index.manifests.filter((d) => !opts.ref || d.annotations?.['org.opencontainers.image.ref.name'] === opts.ref);
    if (candidates.length !== 1) throw new CustodyError('OCI_LAYOUT_INVALID', `${candidates.length} manifests match in index.json`, { file: join(layoutDir, 'index.json') });
    const blob = async (digest: string) => {
      const bytes = await readFile(join(layoutDir, 'blobs', 'sha256', digest.slice(7)));
      if (sha256Digest(bytes) !== digest) throw new CustodyError('OCI_LAYOUT_INVALID', `blob ${digest} does not match its digest`, { file: layoutDir });
      return bytes;
    };
    const manifestBytes = await blob(candidates[0].digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as OciManifest;
    for (const d of [manifest.config, ...manifest.layers]) await this.client.pushBlob(this.repository, await blob(d.digest), d.digest);
    const mediaType = manifest.mediaType ?? candidates[0].mediaType;
    const { descriptor } = await this.client.pushManifest(this.repository, candidates[0].digest, manifestBytes, mediaType);
    const tag = opts.tag ?? candidates[0].annotations?.['org.opencontainers.image.ref.name'];
    if (tag) await this.client.pushManifest(this.repository, tag, manifestBytes, mediaType);
    return descriptor;
  }

  /** Attaches one attestation to subject. */
  async pushAttestation(subject: OciDescriptor, att: AttestationInput): Promise<PushedAttestation> {
    const artifactType = att.artifactType ?? att.mediaType;
    await this.client.pushBlob(this.repository, Buffer.from('{}'), EMPTY_CONFIG.digest);
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
    if (pushed.ociSubject === subject.digest) return { descriptor, indexedBy: 'referrers-api' };
    await this.addToReferrersTag(subject.digest, descriptor);
    return { descriptor, indexedBy: 'tag-schema' };
  }

  /** Adds a descriptor to the `sha256-<hex>` fallback index (read, append if absent, write). */
  private async addToReferrersTag(subjectDigest: string, descriptor: OciDescriptor): Promise<void> {
    const tag = referrersTag(subjectDigest);
    const current = await this.client.getManifest(this.repository, tag);
    const manifests = current ? [...(current.json.manifests ?? [])] : [];
    if (manifests.some((d) => d.digest === descriptor.digest)) return;
    manifests.push(descriptor);
    const index: OciIndex = { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests };
    await this.client.pushManifest(this.repository, tag, Buffer.from(JSON.stringify(index)), OCI_MEDIA_TYPES.index);
  }

  /** Descriptors of the artifacts referring to subjectDigest, via the referrers API or the tag schema. */
  async listReferrers(subjectDigest: string, opts: { artifactType?: string } = {}): Promise<{ referrers: OciDescriptor[]; via: 'referrers-api' | 'tag-schema' }> {
    const api = await this.client.referrersApi(this.repository, subjectDigest, opts.artifactType);
    if (api) return { referrers: api, via: 'referrers-api' };
    const tagged = await this.client.getManifest(this.repository, referrersTag(subjectDigest));
    const all = tagged?.json.manifests ?? [];
    return { referrers: opts.artifactType ? all.filter((d) => d.artifactType === opts.artifactType) : all, via: 'tag-schema' };
  }

  /**
   * Downloads every attestation attached to subjectDigest. Each manifest and layer is checked
   * against its digest, and the manifest must really name subjectDigest as its subject.
   */
  async pullAttestations(subjectDigest: string, opts: { artifactType?: string; step?: string } = {}): Promise<PulledAttestation[]> {
    const { referrers } = await this.listReferrers(subjectDigest, opts);
    const out: PulledAttestation[] = [];
    for (const d of referrers) {
      const m = await this.client.getManifest(this.repository, d.digest);
      if (!m) throw new CustodyError('REGISTRY_ERROR', `referrer ${d.digest} is listed but missing`);
      const manifest = m.json;
      if (manifest.subject?.digest !== subjectDigest) {
        throw new CustodyError('DIGEST_MISMATCH', `referrer ${d.digest} has subject ${manifest.subject?.digest ?? 'none'}, not ${subjectDigest}`);
      }
      const annotations = manifest.annotations ?? {};
      if (opts.step && annotations[ANNOTATIONS.step] !== opts.step) continue;
      for (const layer of manifest.layers ?? []) {
        out.push({
          manifestDigest: d.digest,
          artifactType: manifest.artifactType,
          annotations: { ...annotations, ...(layer.annotations ?? {}) },
          mediaType: layer.mediaType,
          bytes: await this.client.getBlob(this.repository, layer.digest),
        });
      }
    }
    return out;
  }
}
