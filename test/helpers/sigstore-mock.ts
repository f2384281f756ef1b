/**
 * An offline Sigstore for tests: @sigstore/mock's CA (Fulcio) with its CT log, transparency log
 * (Rekor v1) and TSA, served from one node:http server on 127.0.0.1 under /fulcio, /rekor and
 * /tsa, plus the trusted_root.json that trusts exactly them and unsigned OIDC tokens for test
 * identities (the mock CA decodes tokens without checking signatures, as Fulcio's verification
 * of the issuer's signature is not what custody tests).
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA, rekorHandler, tsaHandler,
} from '@sigstore/mock';
import type { HandlerFn } from '@sigstore/mock';

export interface SigstoreMockOptions {
  /** Fixed clocks (default: real time) — e.g. a Rekor clock past the certificate's 10 minutes. */
  caClock?: Date;
  tlogClock?: Date;
  tsaClock?: Date;
}

export interface TrustedRootOptions {
  /** Leave an authority out (a trust root "without the needed CA", ...). */
  ca?: boolean;
  ctlog?: boolean;
  tlog?: boolean;
  tsa?: boolean;
  /** validFor.start of every authority (default: a day ago). */
  validFrom?: Date;
}

export interface TestIdentity {
  issuer: string;
  subject: string;
  /** Seconds until the token expires (negative: already expired); default 600. */
  expiresIn?: number;
}

export interface SigstoreMock {
  /** http://127.0.0.1:PORT */
  url: string;
  fulcioURL: string;
  rekorURL: string;
  tsaURL: string;
  /** trusted_root.json (protobuf JSON) trusting this mock's CA, CT log, tlog and TSA. */
  trustedRoot(opts?: TrustedRootOptions): Record<string, unknown>;
  /** An unsigned OIDC token (alg "none") for `identity`. */
  token(identity: TestIdentity): string;
  /** Request paths served so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (b: ArrayBufferView) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

export function unsignedJwt(claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
}

export async function startSigstoreMock(opts: SigstoreMockOptions = {}): Promise<SigstoreMock> {
  const ctlogKeys = p256();
  const ctlog = await initializeCTLog(ctlogKeys, opts.caClock);
  const ca = await initializeCA(p256(), ctlog, opts.caClock);
  const tlogKeys = p256();
  const tsa = await initializeTSA(p256(), opts.tsaClock);
  // The mock writes genTime with trailing zeros of the milliseconds stripped (".5Z"), which
  // @sigstore/core's parser rejects (it wants exactly three digits): keep the last digit non-zero.
  (tsa as unknown as { getCurrentTime: () => Date }).getCurrentTime = () => {
    const d = new Date(opts.tsaClock ?? Date.now());
    if (d.getUTCMilliseconds() % 10 === 0) d.setUTCMilliseconds(d.getUTCMilliseconds() + 1);
    return d;
  };

  const requests: string[] = [];
  const routes = new Map<string, HandlerFn>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      const handler = req.method === 'POST' ? routes.get(req.url ?? '') : undefined;
      if (!handler) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      handler(Buffer.concat(chunks).toString('utf8')).then(({ statusCode, response, contentType }) => {
        res.writeHead(statusCode, { 'Content-Type': contentType ?? 'text/plain' });
        res.end(typeof response === 'string' ? response : Buffer.from(response.buffer, response.byteOffset, response.byteLength));
      }, (e: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(e.message);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fulcioURL = `${url}/fulcio`;
  const rekorURL = `${url}/rekor`;
  // A TSA URL with a path is the full endpoint (as in a signing config); without one the client adds /api/v1/timestamp.
  const tsaURL = `${url}/tsa/api/v1/timestamp`;

  const tlog = await initializeTLog(rekorURL, tlogKeys, opts.tlogClock);
  for (const [prefix, h] of [['/fulcio', fulcioHandler(ca)], ['/rekor', rekorHandler(tlog)], ['/tsa', tsaHandler(tsa)]] as const) {
    routes.set(`${prefix}${h.path}`, h.fn);
  }

  const ctlogDer = ctlogKeys.publicKey.export({ format: 'der', type: 'spki' });
  const tlogDer = tlogKeys.publicKey.export({ format: 'der', type: 'spki' });

  return {
    url, fulcioURL, rekorURL, tsaURL, requests,
    trustedRoot(t: TrustedRootOptions = {}) {
      const validFor = { start: (t.validFrom ?? new Date(Date.now() - 86_400_000)).toISOString() };
      const key = (der: Buffer) => ({ rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor });
      return {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: t.tlog === false ? [] : [{
          baseUrl: rekorURL, hashAlgorithm: 'SHA2_256', publicKey: key(tlogDer),
          logId: { keyId: createHash('sha256').update(tlogDer).digest('base64') },
        }],
        certificateAuthorities: t.ca === false ? [] : [{
          subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: fulcioURL,
          certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] }, validFor,
        }],
        ctlogs: t.ctlog === false ? [] : [{
          baseUrl: `${url}/ct`, hashAlgorithm: 'SHA2_256', publicKey: key(ctlogDer),
          logId: { keyId: b64(ctlog.logID) },
        }],
        timestampAuthorities: t.tsa === false ? [] : [{
          subject: { organization: 'sigstore.mock', commonName: 'tsa' }, uri: tsaURL,
          certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] }, validFor,
        }],
      };
    },
    token(identity: TestIdentity) {
      const now = Math.floor(Date.now() / 1000);
      // The mock CA binds the `sub` claim as the certificate's URI SAN.
      return unsignedJwt({ iss: identity.issuer, sub: identity.subject, aud: 'sigstore', iat: now, exp: now + (identity.expiresIn ?? 600) });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
