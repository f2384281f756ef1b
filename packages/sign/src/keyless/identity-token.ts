/**
 * Where a keyless signer's OIDC identity token comes from, in order: an explicit token, a token
 * file (`--identity-token-file`), the SIGSTORE_ID_TOKEN variable (what GitLab CI's `id_tokens`
 * and cosign use), or GitHub Actions' token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN,
 * available with `permissions: id-token: write`). The token is checked to be a JWT with the
 * claims Fulcio needs before anything is sent; its content never appears in an error message.
 */
import { readFile } from 'node:fs/promises';
import { CustodyError } from '@custody/core';

export const SIGSTORE_AUDIENCE = 'sigstore';

export interface IdentityTokenOptions {
  /** The token itself (tests, or callers that got it elsewhere). */
  identityToken?: string;
  /** A file holding the token (whitespace around it is ignored). */
  identityTokenFile?: string;
  /** Environment to read SIGSTORE_ID_TOKEN / ACTIONS_ID_TOKEN_REQUEST_* from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Audience asked of GitHub Actions; default "sigstore". */
  audience?: string;
  /** Timeout of the GitHub Actions token request, ms. */
  timeoutMs?: number;
  /** Clock for the expiry check. */
  now?: () => Date;
}

/** What the token claims (informational: the certificate Fulcio issues is what verifiers see). */
export interface TokenClaims {
  issuer: string;
  /** The subject Fulcio binds: `email` when present (must be verified), else `sub`. */
  subject: string;
  expiresAt?: Date;
}

export interface IdentityToken { token: string; source: string; claims: TokenClaims }

function tokenError(message: string, file?: string): never {
  throw new CustodyError('IDENTITY_TOKEN_INVALID', message, { file });
}

function decodeSegment(segment: string, what: string, source: string, file?: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(segment)) tokenError(`identity token from ${source} is not a JWT: its ${what} is not base64url`, file);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    tokenError(`identity token from ${source} is not a JWT: its ${what} is not JSON`, file);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) tokenError(`identity token from ${source} is not a JWT: its ${what} is not a JSON object`, file);
  return value as Record<string, unknown>;
}

/**
 * Checks that `token` is a compact JWT (header.payload.signature) with an `iss`, a subject Fulcio
 * can bind (`email` with `email_verified`, or `sub`) and, if it has `exp`, is not expired.
 * The signature is not checked here: Fulcio verifies it against the issuer's keys.
 */
export function parseIdentityToken(token: string, source: string, opts: { now?: Date; file?: string } = {}): TokenClaims {
  const file = opts.file;
  const parts = token.split('.');
  if (parts.length !== 3) tokenError(`identity token from ${source} is not a JWT (expected header.payload.signature, found ${parts.length} part${parts.length === 1 ? '' : 's'})`, file);
  const header = decodeSegment(parts[0], 'header', source, file);
  if (typeof header.alg !== 'string') tokenError(`identity token from ${source} is not a JWT: its header has no "alg"`, file);
  const claims = decodeSegment(parts[1], 'payload', source, file);
  if (typeof claims.iss !== 'string' || claims.iss === '') tokenError(`identity token from ${source} has no "iss" (issuer) claim`, file);
  let subject: string;
  if (claims.email !== undefined) {
    if (typeof claims.email !== 'string' || claims.email === '') tokenError(`identity token from ${source} has an empty "email" claim`, file);
    if (claims.email_verified !== true) tokenError(`identity token from ${source}: its email is not verified by the issuer (email_verified is not true)`, file);
    subject = claims.email;
  } else if (typeof claims.sub === 'string' && claims.sub !== '') {
    subject = claims.sub;
  } else {
    tokenError(`identity token from ${source} has neither "email" nor "sub" claim`, file);
  }
  let expiresAt: Date | undefined;
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) tokenError(`identity token from ${source} has a non-numeric "exp" claim`, file);
    expiresAt = new Date(claims.exp * 1000);
    const now = opts.now ?? new Date();
    if (expiresAt.getTime() <= now.getTime()) tokenError(`identity token from ${source} expired at ${expiresAt.toISOString()}`, file);
  }
  return { issuer: claims.iss, subject, expiresAt };
}

/** Asks GitHub Actions' OIDC endpoint for a token with audience `audience`. */
async function fetchGitHubActionsToken(requestURL: string, requestToken: string, audience: string, timeoutMs: number): Promise<string> {
  const url = new URL(requestURL);
  url.searchParams.set('audience', audience);
  // The query carries nothing secret, but the URL is named without it to keep messages short.
  const where = `${url.origin}${url.pathname}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/json', Authorization: `Bearer ${requestToken}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const reason = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.message);
    throw new CustodyError('NETWORK', `GitHub Actions OIDC token request to ${where} failed: ${reason}`, { cause: e });
  }
  if (!response.ok) throw new CustodyError('NETWORK', `GitHub Actions OIDC token request to ${where} answered HTTP ${response.status}`);
  const body = await response.json().catch(() => undefined) as { value?: unknown } | undefined;
  if (typeof body?.value !== 'string') throw new CustodyError('NETWORK', `GitHub Actions OIDC token endpoint ${where} returned no token`);
  return body.value;
}

/** Finds the identity token (see the module comment for the order) and checks it. */
export async function resolveIdentityToken(opts: IdentityTokenOptions = {}): Promise<IdentityToken> {
  const env = opts.env ?? process.env;
  const now = (opts.now ?? (() => new Date()))();
  let token: string;
  let source: string;
  let file: string | undefined;
  if (opts.identityToken !== undefined) {
    token = opts.identityToken.trim();
    source = 'the given token';
  } else if (opts.identityTokenFile !== undefined) {
    file = opts.identityTokenFile;
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
      throw new CustodyError(code, `cannot read the identity token file: ${(e as Error).message}`, { file, cause: e });
    }
    source = 'the token file';
  } else if (env.SIGSTORE_ID_TOKEN) {
    token = env.SIGSTORE_ID_TOKEN.trim();
    source = 'SIGSTORE_ID_TOKEN';
  } else if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    token = (await fetchGitHubActionsToken(env.ACTIONS_ID_TOKEN_REQUEST_URL, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN, opts.audience ?? SIGSTORE_AUDIENCE, opts.timeoutMs ?? 30_000)).trim();
    source = 'GitHub Actions';
  } else {
    throw new CustodyError('USAGE', 'keyless signing needs an OIDC identity token: give --identity-token-file, set SIGSTORE_ID_TOKEN (GitLab CI: id_tokens with aud "sigstore"), or run in GitHub Actions with "permissions: id-token: write"');
  }
  if (token === '') tokenError(`identity token from ${source} is empty`, file);
  return { token, source, claims: parseIdentityToken(token, source, { now, file }) };
}
