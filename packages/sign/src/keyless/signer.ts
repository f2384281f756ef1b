/**
 * Keyless signing: an ephemeral P-256 key, a short-lived Fulcio certificate binding it to an OIDC
 * identity, a Rekor entry and optionally an RFC 3161 timestamp — all through @sigstore/sign.
 * One certificate serves every signature a signer makes while it stays valid (a step signs
 * several Statements); the private key lives only in this process's memory.
 *
 * Key-based and keyless signing share the BundleSigner shape, so `custody run`, `layout sign`
 * and `model sign` choose one and call the same methods.
 */
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, FulcioSigner, InternalError, MessageSignatureBundleBuilder, RekorWitness, TSAWitness,
} from '@sigstore/sign';
import type { Signature, Signer as SigstoreSigner, Witness } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import type { SerializedBundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { CustodyError, IN_TOTO_PAYLOAD_TYPE, validateStatement } from '@custody/core';
import type { Statement } from '@custody/core';
import { buildDsseBundle, toSigstoreSigner } from '../sigstore/bundle.ts';
import type { KeySigner } from '../sigstore/bundle.ts';
import { resolveIdentityToken } from './identity-token.ts';
import type { IdentityTokenOptions, TokenClaims } from './identity-token.ts';
import { certificateIdentity } from './verify.ts';
import type { KeylessIdentity } from './verify.ts';

export { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL };
export const DEFAULT_TSA_URL = 'https://timestamp.sigstore.dev';
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What every signer of Sigstore bundles offers (key-based or keyless). */
export interface BundleSigner {
  readonly kind: 'key' | 'keyless';
  /** Signs arbitrary DSSE payload bytes. */
  signDsse(payload: Uint8Array, payloadType: string): Promise<SerializedBundle>;
  /** Validates an in-toto Statement v1 and signs it (payloadType application/vnd.in-toto+json). */
  signStatement(statement: Statement): Promise<SerializedBundle>;
  /** A message signature over the artifact bytes (hashedrekord). */
  signMessage(artifact: Uint8Array): Promise<SerializedBundle>;
}

export interface KeylessSignerOptions extends IdentityTokenOptions {
  /** Fulcio base URL (default https://fulcio.sigstore.dev). */
  fulcioURL?: string;
  /** Rekor base URL (default https://rekor.sigstore.dev). */
  rekorURL?: string;
  /** RFC 3161 TSA base URL; giving it turns timestamps on. */
  tsaURL?: string;
  /** Ask a TSA for a timestamp (default: when tsaURL is given); uses the public-good TSA without tsaURL. */
  timestamp?: boolean;
  /** Write a Rekor entry (default true). Without it, a TSA timestamp is needed to verify. */
  tlog?: boolean;
  /** Per-request timeout in ms (default 30 s): every service call fails with NETWORK after it. */
  timeoutMs?: number;
  /**
   * Rekor entry kind for DSSE bundles: 'dsse' (default, what public Rekor stores) or 'intoto'
   * (needed with @sigstore/mock, whose log keeps the proposed entry as sent).
   */
  rekorEntryType?: 'dsse' | 'intoto';
  /** Retries of a failed request (5xx, 408, 429, connection errors); default 0. */
  retries?: number;
}

export interface KeylessSigner extends BundleSigner {
  readonly kind: 'keyless';
  readonly fulcioURL: string;
  readonly rekorURL?: string;
  readonly tsaURL?: string;
  /** The identity of the current certificate (undefined before the first signature). */
  identity(): KeylessIdentity | undefined;
  /**
   * Gets the identity token and the certificate now, so that a bad token or an unreachable
   * Fulcio fails before a step's command runs rather than after it.
   */
  prepare(): Promise<KeylessIdentity | undefined>;
}

type Service = 'Fulcio' | 'Rekor' | 'TSA';

function describeCause(cause: unknown, timeoutMs: number): { status?: number; text: string } {
  const c = cause as { statusCode?: number; message?: string; code?: string; type?: string; errno?: string } | undefined;
  if (c && typeof c.statusCode === 'number') {
    const detail = (c.message ?? '').replace(/^\(\d+\)\s*/, '').split('\n')[0];
    return { status: c.statusCode, text: `answered HTTP ${c.statusCode}${detail ? ` (${detail})` : ''}` };
  }
  if (c?.type === 'request-timeout' || /timeout/i.test(c?.message ?? '') || c?.code === 'ETIMEDOUT') return { text: `no answer within ${timeoutMs} ms` };
  const code = c?.code && c.code !== 'FETCH_ERROR' ? c.code : c?.errno;
  return { text: code ? `unreachable (${code})` : `request failed (${c?.message ?? String(cause)})` };
}

/** Turns @sigstore/sign's errors into one clear CustodyError naming the service and its URL. */
function signingError(e: unknown, urls: Record<Service, string | undefined>, timeoutMs: number): never {
  if (e instanceof CustodyError) throw e;
  if (e instanceof InternalError) {
    if (e.cause instanceof CustodyError) throw e.cause;
    const service: Service | undefined = e.code.startsWith('CA_') ? 'Fulcio' : e.code.startsWith('TLOG_') ? 'Rekor' : e.code.startsWith('TSA_') ? 'TSA' : undefined;
    if (service) {
      const { status, text } = describeCause(e.cause, timeoutMs);
      if (service === 'Fulcio' && (status === 400 || status === 401 || status === 403)) {
        throw new CustodyError('IDENTITY_TOKEN_INVALID', `Fulcio at ${urls.Fulcio} refused a certificate for the identity token: ${text}`, { cause: e });
      }
      throw new CustodyError('NETWORK', `${service} at ${urls[service]}: ${text}`, { cause: e });
    }
    throw new CustodyError('IDENTITY_TOKEN_INVALID', `identity token: ${e.message}`, { cause: e });
  }
  throw e;
}

/** Removes trailing slashes so "URL/api/..." joins cleanly and messages name the URL once. */
function baseURL(url: string, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CustodyError('USAGE', `${what} URL ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CustodyError('USAGE', `${what} URL ${url} must be http(s)`);
  return url.replace(/\/+$/, '');
}

/** The ephemeral key: P-256, signatures ECDSA-SHA256 DER, as Fulcio expects. */
class EphemeralKey implements SigstoreSigner {
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicPem: string;

  constructor() {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  signRaw(data: Buffer): Buffer {
    return cryptoSign('sha256', data, { key: this.privateKey, dsaEncoding: 'der' });
  }

  async sign(data: Buffer): Promise<Signature> {
    return { signature: this.signRaw(data), key: { $case: 'publicKey', publicKey: this.publicPem } };
  }
}

/** A certificate counts as usable while it has this much life left. */
const CERT_MARGIN_MS = 60_000;

/**
 * Creates a keyless signer. Nothing is fetched until the first signature: then the identity
 * token is resolved and checked, Fulcio issues the certificate, and each bundle gets its Rekor
 * entry (and TSA timestamp when configured). Errors: USAGE (no token, bad URL),
 * IDENTITY_TOKEN_INVALID (not a JWT, expired, refused by Fulcio), NETWORK (a service unreachable,
 * slow or failing — the message names its URL), FILE_NOT_FOUND (token file).
 */
export function createKeylessSigner(opts: KeylessSignerOptions = {}): KeylessSigner {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retry = opts.retries ?? 0;
  const fulcioURL = baseURL(opts.fulcioURL ?? DEFAULT_FULCIO_URL, 'Fulcio');
  const rekorURL = opts.tlog === false ? undefined : baseURL(opts.rekorURL ?? DEFAULT_REKOR_URL, 'Rekor');
  const wantTimestamp = opts.timestamp ?? opts.tsaURL !== undefined;
  const tsaURL = wantTimestamp ? baseURL(opts.tsaURL ?? DEFAULT_TSA_URL, 'TSA') : undefined;
  if (!rekorURL && !tsaURL) throw new CustodyError('USAGE', 'keyless signing without a transparency log needs a timestamp authority (tsaURL)');
  const urls: Record<Service, string | undefined> = { Fulcio: fulcioURL, Rekor: rekorURL, TSA: tsaURL };
  const now = opts.now ?? (() => new Date());

  const key = new EphemeralKey();
  let current: { pem: string; notAfter: Date; identity?: KeylessIdentity; claims: TokenClaims } | undefined;
  let pending: Promise<NonNullable<typeof current>> | undefined;

  async function requestCertificate(): Promise<NonNullable<typeof current>> {
    const token = await resolveIdentityToken({ ...opts, timeoutMs, now });
    const fulcio = new FulcioSigner({
      fulcioBaseURL: fulcioURL,
      identityProvider: { getToken: async () => token.token },
      keyHolder: key,
      timeout: timeoutMs,
      retry,
    });
    let sig: Signature;
    try {
      sig = await fulcio.sign(Buffer.from('custody: certificate request'));
    } catch (e) {
      signingError(e, urls, timeoutMs);
    }
    if (sig.key.$case !== 'x509Certificate') throw new CustodyError('NETWORK', `Fulcio at ${fulcioURL} returned no certificate`);
    let cert: X509Certificate;
    try {
      cert = X509Certificate.parse(sig.key.certificate);
    } catch (e) {
      throw new CustodyError('NETWORK', `Fulcio at ${fulcioURL} returned an unreadable certificate: ${(e as Error).message}`, { cause: e });
    }
    // A certificate for some other key would produce bundles nobody can verify.
    const certKey = cert.publicKey;
    const ours = key.publicKey.export({ format: 'der', type: 'spki' });
    if (!Buffer.from(certKey).equals(ours)) throw new CustodyError('NETWORK', `Fulcio at ${fulcioURL} returned a certificate for a different public key`);
    return { pem: sig.key.certificate, notAfter: cert.notAfter, identity: certificateIdentity(cert), claims: token.claims };
  }

  async function certificate(): Promise<NonNullable<typeof current>> {
    if (current && current.notAfter.getTime() - now().getTime() > CERT_MARGIN_MS) return current;
    // Concurrent signatures share one certificate request.
    pending ??= requestCertificate().finally(() => { pending = undefined; });
    current = await pending;
    return current;
  }

  const sigstoreSigner: SigstoreSigner = {
    sign: async (data: Buffer): Promise<Signature> => {
      const cert = await certificate();
      return { signature: key.signRaw(data), key: { $case: 'x509Certificate', certificate: cert.pem } };
    },
  };

  function witnesses(): Witness[] {
    const list: Witness[] = [];
    if (rekorURL) list.push(new RekorWitness({ rekorBaseURL: rekorURL, entryType: opts.rekorEntryType ?? 'dsse', timeout: timeoutMs, retry, fetchOnConflict: true }));
    if (tsaURL) list.push(new TSAWitness({ tsaBaseURL: tsaURL, timeout: timeoutMs, retry }));
    return list;
  }

  async function guarded<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      signingError(e, urls, timeoutMs);
    }
  }

  return {
    kind: 'keyless',
    fulcioURL,
    rekorURL,
    tsaURL,
    identity: () => current?.identity,
    prepare: async () => (await guarded(() => certificate())).identity,
    signDsse: (payload, payloadType) => guarded(() => buildDsseBundle(payload, payloadType, sigstoreSigner, { witnesses: witnesses() })),
    signStatement: (statement) => guarded(() => {
      const checked = validateStatement(statement);
      return buildDsseBundle(Buffer.from(JSON.stringify(checked), 'utf8'), IN_TOTO_PAYLOAD_TYPE, sigstoreSigner, { witnesses: witnesses() });
    }),
    signMessage: (artifact) => guarded(async () => {
      const builder = new MessageSignatureBundleBuilder({ signer: sigstoreSigner, witnesses: witnesses() });
      return bundleToJSON(await builder.create({ data: Buffer.from(artifact) }));
    }),
  };
}

/** The key-based BundleSigner: custody's own key, no transparency log (verified offline with the key). */
export function createKeyBundleSigner(signer: KeySigner, opts: { witnesses?: Witness[] } = {}): BundleSigner {
  const sigstoreSigner = toSigstoreSigner(signer);
  return {
    kind: 'key',
    signDsse: (payload, payloadType) => buildDsseBundle(payload, payloadType, sigstoreSigner, { witnesses: opts.witnesses }),
    signStatement: (statement) => {
      const checked = validateStatement(statement);
      return buildDsseBundle(Buffer.from(JSON.stringify(checked), 'utf8'), IN_TOTO_PAYLOAD_TYPE, sigstoreSigner, { witnesses: opts.witnesses });
    },
    signMessage: async (artifact) => {
      const builder = new MessageSignatureBundleBuilder({ signer: sigstoreSigner, witnesses: opts.witnesses ?? [] });
      return bundleToJSON(await builder.create({ data: Buffer.from(artifact) }));
    },
  };
}
