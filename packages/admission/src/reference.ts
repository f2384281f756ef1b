/**
 * Image references as Kubernetes and the container runtime read them
 * (`[host[:port]/]path[:tag][@sha256:hex]`), and the policy globs that match them.
 *
 * A reference without a registry host means Docker Hub (`docker.io`, `library/` for one-part
 * names), as the runtime pulls it; globs always see the full name, so `registry.example/ml/*`
 * can never be satisfied by `ml/x` on Docker Hub.
 */
import { CustodyError } from '@custody/core/errors';

export interface ImageReference {
  /** As written in the object. */
  original: string;
  /** Registry host with port: `127.0.0.1:5000`, `docker.io`. */
  host: string;
  /** Repository path inside the registry: `ml/credit`, `library/nginx`. */
  repository: string;
  tag?: string;
  /** `sha256:<hex>` when the reference pins one. */
  digest?: string;
  /** `host/repository`: what policy globs match. */
  name: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

function invalid(ref: string, why: string): never {
  throw new CustodyError('IMAGE_REFERENCE_INVALID', `image reference ${JSON.stringify(ref)} is invalid: ${why}`);
}

export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref === '') invalid(String(ref), 'empty');
  if (ref.length > 4096 || /\s/.test(ref)) invalid(ref, 'contains white space or is too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    // Only sha256 is accepted: the registry client checks that algorithm's bytes.
    if (!DIGEST.test(digest)) invalid(ref, `digest ${JSON.stringify(digest)} is not sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) invalid(ref, `tag ${JSON.stringify(tag)} is not a valid tag`);
  }
  const parts = rest.split('/');
  let host = 'docker.io';
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost' || parts[0].startsWith('['))) {
    host = parts.shift()!;
    if (!HOST.test(host)) invalid(ref, `registry host ${JSON.stringify(host)} is not a host[:port]`);
  }
  // One registry, one name: hosts are case-insensitive, :443 is https's own port, and Docker
  // Hub answers under several names. Otherwise another spelling of a registry a policy names
  // would match no policy (and pass under noMatch: allow).
  host = host.toLowerCase().replace(/:443$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
  if (host === 'docker.io' && parts.length === 1) parts.unshift('library');
  for (const p of parts) if (!COMPONENT.test(p)) invalid(ref, `path component ${JSON.stringify(p)} is not lowercase [a-z0-9._-]`);
  const repository = parts.join('/');
  if (repository.length > 255) invalid(ref, 'repository name is longer than 255 characters');
  if (!tag && !digest) tag = 'latest';
  return { original: ref, host, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), name: `${host}/${repository}` };
}

/** `oci://host/repo[:tag][@digest]` (KServe storageUri, custom resources) as an image reference. */
export function parseOciUri(uri: string): ImageReference {
  if (typeof uri !== 'string' || !uri.startsWith('oci://')) {
    throw new CustodyError('IMAGE_REFERENCE_INVALID', `model reference ${JSON.stringify(uri)} is not an oci:// reference: only OCI models can be verified at admission`);
  }
  const inner = uri.slice('oci://'.length);
  // An oci:// URI always names its registry: never fall back to Docker Hub.
  const first = inner.split('/')[0];
  if (!inner.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw new CustodyError('IMAGE_REFERENCE_INVALID', `model reference ${JSON.stringify(uri)} does not name a registry host (oci://HOST[:PORT]/REPO[:TAG])`);
  }
  return { ...parseImageReference(inner), original: uri };
}

const globCache = new Map<string, RegExp>();

/**
 * Policy globs: `*` and `?` stay within one path component (never cross `/`), `**` matches
 * across components; everything else is literal. Anchored at both ends.
 */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      src += '.*';
      i++;
    } else if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`);
  globCache.set(glob, re);
  return re;
}

export function globMatch(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

/** The short form used in messages: `name:tag@sha256:<12 hex>`. */
export function describeImage(ref: ImageReference, digest?: string): string {
  const d = digest ?? ref.digest;
  return `${ref.original}${d && !ref.original.includes(d) ? ` (${d.slice(0, 19)})` : ''}`;
}
