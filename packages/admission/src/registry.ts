/**
 * The registry side of an admission: the digest a tag points to now, and the attestations
 * attached to that digest (referrers API, or the `sha256-<hex>` tag fallback), through
 * @custody/store's OCI client. Every request carries the review's abort signal, so a slow
 * registry ends in a deadline, not a hung webhook.
 */
import { CustodyError, isCustodyError } from '@custody/core/errors';
import { ANNOTATIONS, OciRegistryStore, type OciDescriptor } from '@custody/store';
import { isLoopbackHost, type ImageReference } from './reference.ts';

/** An attestation file as pulled: its name as pushed, its text, and where it came from. */
export interface PulledFile {
  name: string;
  text: string;
  origin: string;
}

export interface RegistryAccess {
  /** The manifest digest `ref` names now (a digest reference is checked to exist). */
  resolve(ref: ImageReference, opts: { plainHttp: boolean; signal: AbortSignal }): Promise<OciDescriptor>;
  /** Every attestation attached to `digest` in ref's repository. */
  attestations(ref: ImageReference, digest: string, opts: { plainHttp: boolean; signal: AbortSignal }): Promise<PulledFile[]>;
}

/** A file name pushed by `custody push`: a plain name, never a path. */
export function safeAttestationName(name: string | undefined): string | undefined {
  if (!name || name.length > 255 || name.startsWith('.') || /[/\\\0]/.test(name) || name.includes('..')) return undefined;
  return name;
}

function baseUrl(ref: ImageReference, plainHttp: boolean): string {
  if (plainHttp && !isLoopbackHost(ref.host)) {
    throw new CustodyError('REGISTRY_ERROR', `plainHttp is only allowed for loopback registries, not ${ref.host}`);
  }
  // Docker Hub's API host is not its image host.
  const host = ref.host === 'docker.io' ? 'registry-1.docker.io' : ref.host;
  return `${plainHttp ? 'http' : 'https'}://${host}`;
}

/** Errors from an aborted request read as the deadline they are. */
function rethrow(e: unknown, signal: AbortSignal, what: string): never {
  if (signal.aborted) throw new CustodyError('DEADLINE_EXCEEDED', `${what}: the registry did not answer before the admission deadline`, { cause: e });
  if (isCustodyError(e)) throw e;
  throw new CustodyError('NETWORK', `${what}: ${(e as Error).message}`, { cause: e });
}

export function ociRegistryAccess(opts: { env?: NodeJS.ProcessEnv } = {}): RegistryAccess {
  // credentials as docker finds them, TLS, retries; the review's signal cuts requests and retry waits
  const store = (ref: ImageReference, plainHttp: boolean, signal: AbortSignal) => new OciRegistryStore({
    registry: baseUrl(ref, plainHttp),
    repository: ref.repository,
    signal,
    // one quick retry: the admission deadline is seconds, a refused connection will not heal in time
    retries: 1,
    ...(opts.env ? { env: opts.env } : {}),
  });
  return {
    async resolve(ref, { plainHttp, signal }) {
      const what = `resolving ${ref.original}`;
      try {
        const s = store(ref, plainHttp, signal);
        const reference = ref.digest ?? ref.tag!;
        const m = await s.client.getManifest(ref.repository, reference);
        if (!m) throw new CustodyError('REGISTRY_ERROR', `${ref.name}:${reference} not found in ${ref.host}`);
        if (ref.digest && m.descriptor.digest !== ref.digest) throw new CustodyError('DIGEST_MISMATCH', `${ref.original}: the registry returned ${m.descriptor.digest}`);
        return m.descriptor;
      } catch (e) {
        return rethrow(e, signal, what);
      }
    },
    async attestations(ref, digest, { plainHttp, signal }) {
      const what = `pulling the attestations of ${ref.name}@${digest.slice(0, 19)}`;
      try {
        const s = store(ref, plainHttp, signal);
        const pulled = await s.pullAttestations(digest);
        const out: PulledFile[] = [];
        for (const p of pulled) {
          const name = safeAttestationName(p.annotations[ANNOTATIONS.fileName]);
          // An attestation without a usable name cannot be placed for a step: it proves nothing.
          if (!name) continue;
          // The origin ends in the file name: readers tell a Sigstore bundle by its name's suffix.
          out.push({ name, text: p.bytes.toString('utf8'), origin: `oci://${ref.name}@${p.manifestDigest}#${name}` });
        }
        return out;
      } catch (e) {
        return rethrow(e, signal, what);
      }
    },
  };
}
