// A small OCI distribution-spec client (v1.1): blobs, manifests, tags, the referrers API.
// Every response body that is addressed by digest is checked against that digest.
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { parseManifestOrIndex, parseReferrersIndex } from './parse.ts';
import { CustodyError } from '@custody/core';
import { RegistryAuth } from './auth.ts';
import { findCredentials, type RegistryCredentials } from './credentials.ts';
import { header, Transport, TransportError, type HttpResponse } from './http.ts';

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
  /** 'host:port' (HTTPS unless plainHttp) or a URL ('http://127.0.0.1:5000'). */
  registry: string;
  /** Plain HTTP for a bare host name; refused for hosts that are not loopback. */
  plainHttp?: boolean;
  /**
   * Credentials for the registry. Undefined: found as docker finds them (config.json, helpers)
   * on first use; null: anonymous.
   */
  credentials?: RegistryCredentials | null;
  /** Environment for the docker config lookup (DOCKER_CONFIG, HOME) and helpers. */
  env?: NodeJS.ProcessEnv;
  /** Deadline per HTTP request (default 30 s). */
  timeoutMs?: number;
  /** Extra CA certificates (PEM file) to trust for this registry. */
  caFile?: string;
  /** Retries after the first attempt on 429/5xx/connection errors (default 4). */
  retries?: number;
  /** First backoff delay (doubles per retry, with jitter; default 200 ms). */
  retryBaseMs?: number;
  /** Longest Retry-After honoured (default 30 s); a registry asking for more fails at once. */
  maxRetryAfterMs?: number;
  /** Blobs larger than this are uploaded in chunks (PATCH); default 16 MiB. */
  chunkSize?: number;
  /** OAuth2 password grant at the token server instead of GET with Basic auth. */
  oauth2Password?: boolean;
  /** Aborts every request and retry wait of this client (e.g. an admission deadline). */
  signal?: AbortSignal;
}

const MANIFEST_ACCEPT = [OCI_MEDIA_TYPES.manifest, OCI_MEDIA_TYPES.index, OCI_MEDIA_TYPES.dockerManifest, OCI_MEDIA_TYPES.dockerList].join(', ');
/** distribution refuses manifests over 4 MiB; so do we, on the way in. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Referrer pages followed at most (1,000 pages of referrers is far beyond any real subject). */
export const MAX_REFERRER_PAGES = 1000;
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_ERRNO = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

export function registryBaseUrl(registry: string, plainHttp = false): string {
  if (/^https?:\/\//.test(registry)) return registry.replace(/\/+$/, '');
  const host = registry.replace(/\/+$/, '');
  if (plainHttp && !isLoopbackHost(host)) {
    throw new CustodyError('USAGE', `--plain-http is for loopback registries only: ${host} would get credentials and attestations unencrypted`);
  }
  return `${plainHttp ? 'http' : 'https'}://${host}`;
}

export function checkRepository(repository: string): void {
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    throw new CustodyError('USAGE', `'${repository}' is not a valid OCI repository name`);
  }
}

function checkDigest(digest: string): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new CustodyError('USAGE', `'${digest}' is not a sha256 digest`);
}


function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new TransportError('ABORT_ERR', 'aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new TransportError('ABORT_ERR', 'aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry-After as ms (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface RequestInit {
  /** What is being done, for messages: 'get manifest REPO:REF'. */
  op: string;
  /** The token scope the request needs: 'repository:REPO:pull' (or ':pull,push'). */
  scope: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  maxBodyBytes?: number;
  /** false for requests inside an upload session (not idempotent; the caller retries the whole upload). */
  retry?: boolean;
  /** Overrides the client's retry count. */
  retries?: number;
  /** A URL the registry gave for an upload session (Location): may be on another host. */
  uploadSession?: boolean;
}

const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;

export class RegistryClient {
  readonly baseUrl: string;
  /** 'host:port' as messages name the registry. */
  readonly host: string;
  private readonly transport: Transport;
  private auth: RegistryAuth | undefined;
  private authReady: Promise<RegistryAuth> | undefined;
  private readonly o: RegistryClientOptions;
  /** Requests retried (tests and the benchmark read it). */
  retried = 0;

  constructor(o: RegistryClientOptions) {
    this.o = o;
    this.baseUrl = registryBaseUrl(o.registry, o.plainHttp);
    const u = new URL(this.baseUrl);
    this.host = u.port ? `${u.hostname}:${u.port}` : u.hostname;
    this.transport = new Transport({ timeoutMs: o.timeoutMs, caFile: o.caFile });
  }

  /** Drops kept-alive connections (a CLI process exits without it; long-lived callers call it). */
  close(): void {
    this.transport.close();
  }

  /** The auth state, with credentials looked up once (docker config, helpers). */
  async getAuth(): Promise<RegistryAuth> {
    if (this.auth) return this.auth;
    this.authReady ??= (async () => {
      const credentials = this.o.credentials === null ? undefined : this.o.credentials ?? (await findCredentials(this.host, this.o.env));
      this.auth = new RegistryAuth(this.transport, { registryHost: this.host, credentials, oauth2Password: this.o.oauth2Password, signal: this.o.signal });
      return this.auth;
    })();
    return this.authReady;
  }

  private where(op: string): string {
    return `registry ${this.host}: ${op}`;
  }

  private async backoff(attempt: number, res?: HttpResponse, op?: string): Promise<void> {
    this.retried++;
    const base = this.o.retryBaseMs ?? 200;
    let wait = Math.min(5000, base * 2 ** attempt) + Math.random() * base;
    const after = res ? retryAfterMs(header(res, 'retry-after')) : undefined;
    if (after !== undefined) {
      const cap = this.o.maxRetryAfterMs ?? 30_000;
      if (after > cap) throw new CustodyError('REGISTRY_ERROR', `${this.where(op ?? 'request')}: HTTP ${res!.status}, asks to retry after ${Math.round(after / 1000)} s (more than ${Math.round(cap / 1000)} s)`);
      wait = after;
    }
    try {
      await sleep(wait, this.o.signal);
    } catch (e) {
      throw new CustodyError('NETWORK', `${this.where(op ?? 'request')}: aborted`, { cause: e });
    }
  }

  /** One logical request: auth challenges answered, transient failures retried with backoff. */
  private async send(method: string, pathOrUrl: string, init: RequestInit): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, this.baseUrl);
    const base = new URL(this.baseUrl);
    // Upload sessions may live on another host (a storage front); they get no credentials.
    const foreign = url.origin !== base.origin;
    if (foreign && !init.uploadSession) throw new CustodyError('REGISTRY_ERROR', `${this.where(init.op)}: the registry pointed to another server (${url.host})`);
    if (foreign && base.protocol === 'https:' && url.protocol !== 'https:') throw new CustodyError('REGISTRY_ERROR', `${this.where(init.op)}: the registry pointed an upload to plain http (${url.host})`);
    const auth = await this.getAuth();
    const retries = init.retries ?? (init.retry === false ? 0 : this.o.retries ?? 4);
    // Two auth rounds at most: a cached token the registry rejects is fetched again once; a token
    // rejected right after it was fetched (a denied scope) then fails instead of looping.
    let challenges = 0;
    for (let attempt = 0; ; ) {
      const authorization = foreign ? undefined : auth.authorize(init.scope);
      let res: HttpResponse;
      try {
        res = await this.transport.request({ method, url, headers: { ...init.headers, ...(authorization ? { authorization } : {}) }, body: init.body, maxBodyBytes: init.maxBodyBytes, signal: this.o.signal });
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        if (RETRY_ERRNO.has(e.code) && attempt < retries) {
          await this.backoff(attempt++, undefined, init.op);
          continue;
        }
        throw new CustodyError('NETWORK', `${this.where(init.op)}: ${e.message}${attempt ? ` (after ${attempt + 1} attempts)` : ''}`, { cause: e });
      }
      if (res.status === 401 && challenges < 2) {
        challenges++;
        let retry: boolean;
        try {
          retry = await auth.onUnauthorized(res, init.scope, authorization);
        } catch (e) {
          if (e instanceof CustodyError) throw new CustodyError(e.code, `${this.where(init.op)}: ${e.message}`, { cause: e });
          throw e;
        }
        if (retry) continue;
      }
      if (RETRY_STATUS.has(res.status) && attempt < retries) {
        await this.backoff(attempt++, res, init.op);
        continue;
      }
      return res;
    }
  }

  /** The one-line error for an answer that is not what the operation needed. */
  private async fail(op: string, res: HttpResponse): Promise<never> {
    const text = res.body.toString('utf8');
    let detail = text.trim().split('\n')[0].slice(0, 300);
    try {
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      if (body.errors?.length) detail = body.errors.map((e) => `${e.code}: ${e.message}`).join('; ');
    } catch {
      // not JSON; keep the text
    }
    let hint = '';
    if (res.status === 401 || res.status === 403) {
      const c = (await this.getAuth()).credentials;
      hint = c ? ` (credentials from ${c.source} were not accepted)` : ` (no credentials for ${this.host}: custody registry login ${this.host})`;
    }
    throw new CustodyError(res.status === 401 || res.status === 403 ? 'REGISTRY_AUTH' : 'REGISTRY_ERROR', `${this.where(op)}: HTTP ${res.status} ${STATUS_CODES[res.status] ?? ''}${detail ? ` (${detail})` : ''}${hint}`);
  }

  /** GET /v2/ — true when the registry speaks the distribution API (401 counts: auth comes later). */
  async ping(): Promise<boolean> {
    // One retry only: a registry that refuses the first connection is most likely not running.
    const res = await this.send('GET', '/v2/', { op: 'connect', scope: '', retries: Math.min(1, this.o.retries ?? 4) });
    return res.status === 200 || res.status === 401;
  }

  /** GET /v2/ with the credentials, as `docker login` checks them; throws REGISTRY_AUTH when refused. */
  async checkLogin(): Promise<void> {
    const res = await this.send('GET', '/v2/', { op: 'log in', scope: '' });
    if (res.status !== 200) return this.fail('log in', res);
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    checkRepository(repository);
    checkDigest(digest);
    const op = `check blob ${repository}@${digest}`;
    const res = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, { op, scope: pullScope(repository) });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(op, res);
  }

  /**
   * Uploads a blob unless the repository has it: cross-mounted from `mountFrom` when given and
   * the registry can (201), else one PUT (monolithic) or PATCH chunks then PUT. A failure inside
   * an upload session restarts the whole upload (sessions are not idempotent).
   */
  async pushBlob(repository: string, bytes: Uint8Array, digest = sha256Digest(bytes), opts: { mountFrom?: string } = {}): Promise<OciDescriptor & { existed: boolean; mounted?: boolean }> {
    checkRepository(repository);
    checkDigest(digest);
    if (opts.mountFrom) checkRepository(opts.mountFrom);
    const desc = { mediaType: 'application/octet-stream', digest, size: bytes.length };
    if (await this.hasBlob(repository, digest)) return { ...desc, existed: true };
    const op = `push blob ${repository}@${digest}`;
    const retries = this.o.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      try {
        const mounted = await this.uploadOnce(repository, bytes, digest, op, opts.mountFrom);
        return { ...desc, existed: false, ...(mounted ? { mounted } : {}) };
      } catch (e) {
        const transient = e instanceof CustodyError && (e.code === 'NETWORK' ? !/no complete answer/.test(e.message) : e.code === 'REGISTRY_ERROR' && /: HTTP (5\d\d|429|404 BLOB_UPLOAD_UNKNOWN)/.test(e.message));
        if (!transient || attempt >= retries) throw e;
        await this.backoff(attempt);
      }
    }
  }

  private async uploadOnce(repository: string, bytes: Uint8Array, digest: string, op: string, mountFrom?: string): Promise<boolean> {
    const start = `/v2/${repository}/blobs/uploads/${mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : ''}`;
    const scope = mountFrom ? `${pushScope(repository)} ${pullScope(mountFrom)}` : pushScope(repository);
    const res = await this.send('POST', start, { op, scope, headers: { 'content-length': '0' } });
    if (mountFrom && res.status === 201) return true;
    if (res.status !== 202) return this.fail(op, res);
    let location = header(res, 'location');
    if (!location) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: HTTP 202 without a Location header`);
    const minChunk = Number(header(res, 'oci-chunk-min-length') ?? 0) || 0;
    const chunk = Math.max(this.o.chunkSize ?? 16 * 1024 * 1024, minChunk);
    let body: Uint8Array = bytes;
    if (bytes.length > chunk) {
      for (let offset = 0; offset < bytes.length; offset += chunk) {
        const part = bytes.subarray(offset, Math.min(bytes.length, offset + chunk));
        const patch = await this.send('PATCH', new URL(location, this.baseUrl).href, {
          op, scope, retry: false, uploadSession: true, body: part,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + part.length - 1}`, 'content-length': String(part.length) },
        });
        if (patch.status !== 202) return this.fail(op, patch);
        location = header(patch, 'location') ?? location;
      }
      body = new Uint8Array(0);
    }
    const put = new URL(location, this.baseUrl);
    put.searchParams.set('digest', digest);
    const done = await this.send('PUT', put.href, { op, scope, retry: false, uploadSession: true, body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } });
    if (done.status !== 201) return this.fail(op, done);
    return false;
  }

  async getBlob(repository: string, digest: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    checkRepository(repository);
    checkDigest(digest);
    const op = `get blob ${repository}@${digest}`;
    const res = await this.send('GET', `/v2/${repository}/blobs/${digest}`, { op, scope: pullScope(repository), maxBodyBytes: opts.maxBytes });
    if (res.status !== 200) return this.fail(op, res);
    const actual = sha256Digest(res.body);
    if (actual !== digest) throw new CustodyError('DIGEST_MISMATCH', `${this.where(op)}: the blob hashes to ${actual}`);
    return res.body;
  }

  /** PUT a manifest or index by tag or digest; returns its descriptor and the OCI-Subject header. */
  async pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<{ descriptor: OciDescriptor; ociSubject: string | null }> {
    checkRepository(repository);
    const digest = sha256Digest(bytes);
    const op = `push manifest ${repository}:${reference}`;
    let res: HttpResponse;
    for (let attempt = 0; ; attempt++) {
      res = await this.send('PUT', `/v2/${repository}/manifests/${reference}`, { op, scope: pushScope(repository), headers: { 'content-type': mediaType }, body: bytes });
      // distribution 2.8 can answer MANIFEST_BLOB_UNKNOWN / DIGEST_INVALID while another session
      // commits a blob this manifest names (the shared empty config): transient, so retried
      if (res.status === 400 && attempt < 4 && /MANIFEST_BLOB_UNKNOWN|DIGEST_INVALID/.test(res.body.toString('utf8'))) {
        await this.backoff(attempt, undefined, op);
        continue;
      }
      break;
    }
    if (res.status !== 201) return this.fail(op, res);
    const returned = header(res, 'docker-content-digest');
    if (returned && returned !== digest) throw new CustodyError('DIGEST_MISMATCH', `${this.where(op)}: stored as ${returned}, expected ${digest}`);
    return { descriptor: { mediaType, digest, size: bytes.length }, ociSubject: header(res, 'oci-subject') ?? null };
  }

  /** GET a manifest by tag or digest; null when absent. Digest references are verified. */
  async getManifest(repository: string, reference: string): Promise<{ descriptor: OciDescriptor; bytes: Buffer; json: OciManifest & OciIndex } | null> {
    checkRepository(repository);
    const op = `get manifest ${repository}:${reference}`;
    const res = await this.send('GET', `/v2/${repository}/manifests/${reference}`, { op, scope: pullScope(repository), headers: { accept: MANIFEST_ACCEPT }, maxBodyBytes: MAX_MANIFEST_BYTES });
    if (res.status === 404) return null;
    if (res.status !== 200) return this.fail(op, res);
    const bytes = res.body;
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) throw new CustodyError('DIGEST_MISMATCH', `${this.where(op)}: the manifest hashes to ${digest}`);
    // every field custody reads is type-checked: a hostile registry gets an error naming it
    const json = parseManifestOrIndex(bytes.toString('utf8'), this.where(op));
    const mediaType = (typeof json.mediaType === 'string' ? json.mediaType : undefined) ?? header(res, 'content-type') ?? OCI_MEDIA_TYPES.manifest;
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes, json };
  }

  /**
   * Tags of a repository starting with `prefix`, through /tags/list pages (`n`, `last`, Link
   * next) — bounded like the referrers pages, a looping link is an error. Registries list tags
   * sorted, so listing starts at the prefix and stops past it.
   */
  async listTags(repository: string, prefix = '', opts: { pageSize?: number; maxPages?: number } = {}): Promise<string[]> {
    checkRepository(repository);
    const op = `list tags ${repository}`;
    const n = opts.pageSize ?? 1000;
    const maxPages = opts.maxPages ?? MAX_REFERRER_PAGES;
    const start = prefix ? `&last=${encodeURIComponent(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) - 1) + '~')}` : '';
    let url: string | null = `/v2/${repository}/tags/list?n=${n}${start}`;
    const seen = new Set<string>();
    const out: string[] = [];
    while (url) {
      const abs = new URL(url, this.baseUrl).href;
      if (seen.has(abs)) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: the tags "next" link loops back to ${new URL(abs).pathname}${new URL(abs).search}`);
      if (seen.size >= maxPages) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: more than ${maxPages} pages of tags`);
      seen.add(abs);
      const res = await this.send('GET', abs, { op, scope: pullScope(repository), maxBodyBytes: MAX_MANIFEST_BYTES });
      if (res.status === 404) return out; // no such repository yet: no tags
      if (res.status !== 200) return this.fail(op, res);
      let body: { tags?: unknown };
      try {
        body = JSON.parse(res.body.toString('utf8'));
      } catch {
        throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: the tag list is not JSON`);
      }
      const tags = Array.isArray(body?.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
      out.push(...tags.filter((t) => t.startsWith(prefix)));
      const link = header(res, 'link');
      const next = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
      // sorted listing: once past the prefix, nothing further can match
      if (prefix && tags.length && tags[tags.length - 1] > prefix && !tags[tags.length - 1].startsWith(prefix)) break;
      url = next ? next[1] : null;
    }
    return out;
  }

  /**
   * GET /v2/<name>/referrers/<digest>, following `Link: <…>; rel="next"` pages — at most
   * maxPages, never the same page twice (a looping link is an error naming the registry).
   * Returns null when the registry does not implement the API, so callers use the tag schema.
   */
  async referrersApi(repository: string, digest: string, artifactType?: string, opts: { maxPages?: number } = {}): Promise<OciDescriptor[] | null> {
    checkRepository(repository);
    checkDigest(digest);
    const op = `list referrers ${repository}@${digest}`;
    const maxPages = opts.maxPages ?? MAX_REFERRER_PAGES;
    let url: string | null = `/v2/${repository}/referrers/${digest}${artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''}`;
    const seen = new Set<string>();
    const out: OciDescriptor[] = [];
    let filtered = true;
    while (url) {
      const abs = new URL(url, this.baseUrl).href;
      if (seen.has(abs)) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: the referrers "next" link loops back to ${new URL(abs).pathname}${new URL(abs).search} (page ${seen.size + 1})`);
      if (seen.size >= maxPages) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: more than ${maxPages} pages of referrers`);
      seen.add(abs);
      const res = await this.send('GET', abs, { op, scope: pullScope(repository), headers: { accept: OCI_MEDIA_TYPES.index }, maxBodyBytes: MAX_MANIFEST_BYTES });
      if (res.status === 404 && seen.size === 1) return null;
      if (res.status !== 200) {
        if (seen.size === 1 && (res.status === 400 || res.status === 405)) return null; // some registries answer these for unknown routes
        return this.fail(op, res);
      }
      const type = header(res, 'content-type') ?? '';
      let index: OciIndex;
      try {
        index = JSON.parse(res.body.toString('utf8'));
      } catch {
        if (seen.size === 1) return null; // an HTML or text 200 from something that is not a referrers endpoint
        throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: page ${seen.size} is not JSON`);
      }
      if (!type.startsWith(OCI_MEDIA_TYPES.index) && index?.mediaType !== OCI_MEDIA_TYPES.index) {
        if (seen.size === 1) return null;
        throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: page ${seen.size} is not an image index`);
      }
      if (!Array.isArray(index.manifests)) throw new CustodyError('REGISTRY_ERROR', `${this.where(op)}: the referrers index has no manifests list`);
      out.push(...parseReferrersIndex(res.body.toString('utf8'), this.where(op)).manifests); // each descriptor type-checked
      if (artifactType && !(header(res, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType')) filtered = false;
      const link = header(res, 'link');
      const next = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
      url = next ? next[1] : null;
    }
    return filtered || !artifactType ? out : out.filter((d) => d.artifactType === artifactType);
  }
}
