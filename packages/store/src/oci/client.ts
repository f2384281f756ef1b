// A small OCI distribution-spec client (v1.1): blobs, manifests, tags, the referrers API.
// Every response body that is addressed by digest is checked against that digest.
import { createHash } from 'node:crypto';
import { CustodyError } from '@custody/core';

export const OCI_MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** The empty JSON blob `{}` (image-spec v1.1 "empty descriptor"). */
export const EMPTY_CONFIG = {
  mediaType: OCI_MEDIA_TYPES.empty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  data?: string;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
}

export const sha256Digest = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface RegistryClientOptions {
  /** 'host:port' or a URL ('http://127.0.0.1:5000'). Bare loopback hosts use http, others https. */
  registry: string;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Force plain http for a bare host name. */
  plainHttp?: boolean;
  fetch?: typeof fetch;
}

const MANIFEST_ACCEPT = [OCI_MEDIA_TYPES.manifest, OCI_MEDIA_TYPES.index, OCI_MEDIA_TYPES.dockerManifest, OCI_MEDIA_TYPES.dockerList].join(', ');

export function registryBaseUrl(registry: string, plainHttp = false): string {
  if (/^https?:\/\//.test(registry)) return registry.replace(/\/+$/, '');
  const host = registry.replace(/\/+$/, '');
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
  return `${plainHttp || loopback ? 'http' : 'https'}://${host}`;
}

export function checkRepository(repository: string): void {
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    throw new CustodyError('USAGE', `'${repository}' is not a valid OCI repository name`);
  }
}

function checkDigest(digest: string): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new CustodyError('USAGE', `'${digest}' is not a sha256 digest`);
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(o: RegistryClientOptions) {
    this.baseUrl = registryBaseUrl(o.registry, o.plainHttp);
    this.headers = o.headers ?? {};
    this.fetchImpl = o.fetch ?? fetch;
  }

  private async request(method: string, url: string, init: { headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<Response> {
    const full = url.startsWith('http') ? url : `${this.baseUrl}${url}`;
    try {
      return await this.fetchImpl(full, { method, headers: { ...this.headers, ...init.headers }, body: init.body as BodyInit | undefined, redirect: 'follow' });
    } catch (e) {
      throw new CustodyError('NETWORK', `${method} ${full}: ${(e as Error).cause ? String((e as { cause: Error }).cause.message ?? (e as Error).cause) : (e as Error).message}`, { cause: e });
    }
  }

  private async fail(method: string, url: string, res: Response): Promise<never> {
    const text = await res.text().catch(() => '');
    let detail = text.trim().slice(0, 300);
    try {
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      if (body.errors?.length) detail = body.errors.map((e) => `${e.code}: ${e.message}`).join('; ');
    } catch {
      // not JSON; keep the text
    }
    throw new CustodyError('REGISTRY_ERROR', `${method} ${url} → ${res.status}${detail ? ` (${detail})` : ''}`);
  }

  /** GET /v2/ — true when the registry speaks the distribution API. */
  async ping(): Promise<boolean> {
    const res = await this.request('GET', '/v2/');
    await res.arrayBuffer();
    return res.status === 200 || res.status === 401;
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    checkRepository(repository);
    checkDigest(digest);
    const res = await this.request('HEAD', `/v2/${repository}/blobs/${digest}`);
    await res.arrayBuffer();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail('HEAD', `/v2/${repository}/blobs/${digest}`, res);
  }

  /** Monolithic upload (POST then PUT ?digest=); skipped when the blob already exists. */
  async pushBlob(repository: string, bytes: Uint8Array, digest = sha256Digest(bytes)): Promise<OciDescriptor & { existed: boolean }> {
    if (await this.hasBlob(repository, digest)) return { mediaType: 'application/octet-stream', digest, size: bytes.length, existed: true };
    const start = `/v2/${repository}/blobs/uploads/`;
    const res = await this.request('POST', start);
    await res.arrayBuffer();
    if (res.status !== 202) return this.fail('POST', start, res);
    const location = res.headers.get('location');
    if (!location) throw new CustodyError('REGISTRY_ERROR', `POST ${start} → 202 without a Location header`);
    const uploadUrl = new URL(location, this.baseUrl);
    uploadUrl.searchParams.set('digest', digest);
    const put = await this.request('PUT', uploadUrl.href, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, body: bytes });
    await put.arrayBuffer();
    if (put.status !== 201) return this.fail('PUT', uploadUrl.pathname, put);
    return { mediaType: 'application/octet-stream', digest, size: bytes.length, existed: false };
  }

  async getBlob(repository: string, digest: string): Promise<Buffer> {
    checkRepository(repository);
    checkDigest(digest);
    const path = `/v2/${repository}/blobs/${digest}`;
    const res = await this.request('GET', path);
    if (res.status !== 200) return this.fail('GET', path, res);
    const bytes = Buffer.from(await res.arrayBuffer());
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new CustodyError('DIGEST_MISMATCH', `blob ${digest} from ${this.baseUrl} hashes to ${actual}`);
    return bytes;
  }

  /** PUT a manifest or index by tag or digest; returns its descriptor and the OCI-Subject header. */
  async pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<{ descriptor: OciDescriptor; ociSubject: string | null }> {
    checkRepository(repository);
    const digest = sha256Digest(bytes);
    const path = `/v2/${repository}/manifests/${reference}`;
    const res = await this.request('PUT', path, { headers: { 'content-type': mediaType }, body: bytes });
    await res.arrayBuffer();
    if (res.status !== 201) return this.fail('PUT', path, res);
    const returned = res.headers.get('docker-content-digest');
    if (returned && returned !== digest) throw new CustodyError('DIGEST_MISMATCH', `registry stored manifest as ${returned}, expected ${digest}`);
    return { descriptor: { mediaType, digest, size: bytes.length }, ociSubject: res.headers.get('oci-subject') };
  }

  /** GET a manifest by tag or digest; null when absent. Digest references are verified. */
  async getManifest(repository: string, reference: string): Promise<{ descriptor: OciDescriptor; bytes: Buffer; json: OciManifest & OciIndex } | null> {
    checkRepository(repository);
    const path = `/v2/${repository}/manifests/${reference}`;
    const res = await this.request('GET', path, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await res.arrayBuffer();
      return null;
    }
    if (res.status !== 200) return this.fail('GET', path, res);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) throw new CustodyError('DIGEST_MISMATCH', `manifest ${reference} hashes to ${digest}`);
    let json: OciManifest & OciIndex;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new CustodyError('REGISTRY_ERROR', `manifest ${reference} in ${repository} is not JSON`);
    }
    const mediaType = json.mediaType ?? res.headers.get('content-type') ?? OCI_MEDIA_TYPES.manifest;
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes, json };
  }

  /**
   * GET /v2/<name>/referrers/<digest>. Returns null when the registry does not implement the
   * API (404 on the endpoint), so callers fall back to the tag schema.
   */
  async referrersApi(repository: string, digest: string, artifactType?: string): Promise<OciDescriptor[] | null> {
    checkRepository(repository);
    checkDigest(digest);
    let url: string | null = `/v2/${repository}/referrers/${digest}${artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''}`;
    const out: OciDescriptor[] = [];
    let filtered = true;
    while (url) {
      const res = await this.request('GET', url, { headers: { accept: OCI_MEDIA_TYPES.index } });
      if (res.status === 404) {
        await res.arrayBuffer();
        return null;
      }
      if (res.status !== 200) return this.fail('GET', url, res);
      const type = res.headers.get('content-type') ?? '';
      const text = await res.text();
      let index: OciIndex;
      try {
        index = JSON.parse(text);
      } catch {
        return null; // an HTML or text 200 from something that is not a referrers endpoint
      }
      if (!type.startsWith(OCI_MEDIA_TYPES.index) && index.mediaType !== OCI_MEDIA_TYPES.index) return null;
      out.push(...(index.manifests ?? []));
      if (artifactType && !(res.headers.get('oci-filters-applied') ?? '').split(',').includes('artifactType')) filtered = false;
      const link = res.headers.get('link');
      const next = link && /<([^>]+)>;\s*rel="?next"?/.exec(link);
      url = next ? new URL(next[1], this.baseUrl).href : null;
    }
    return filtered || !artifactType ? out : out.filter((d) => d.artifactType === artifactType);
  }
}
