// The distribution auth flows: `WWW-Authenticate: Basic` (send the credentials) and `Bearer
// realm=…,service=…,scope=…` (get a token from the realm as docker and oras do: GET with Basic
// auth, or the OAuth2 form POST — grant_type=refresh_token for an identity token, password when
// asked — read `token` or `access_token`, cache it per scope until it expires).
import { CustodyError } from '@custody/core';
import { header, Transport, TransportError, type HttpResponse } from './http.ts';
import type { RegistryCredentials } from './credentials.ts';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (one or more challenges; quoted values with \-escapes). */
export function parseChallenges(value: string): Challenge[] {
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z][A-Za-z0-9._-]*)(?:\s+|$)|\s*([A-Za-z0-9._-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
  let current: Challenge | undefined;
  let rest = value;
  while (rest.trim() !== '') {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m || m[0] === '') break;
    if (m[2] !== undefined && current) {
      current.params[m[2].toLowerCase()] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
    } else if (m[1] !== undefined) {
      current = { scheme: m[1].toLowerCase(), params: {} };
      out.push(current);
    } else {
      break;
    }
    rest = rest.slice(m[0].length).replace(/^\s*,/, '');
  }
  return out;
}

export interface TokenCacheEntry {
  token: string;
  /** ms since the epoch */
  expiresAt: number;
}

export interface AuthOptions {
  /** 'host:port' of the registry, for messages. */
  registryHost: string;
  credentials?: RegistryCredentials;
  /** Use the OAuth2 password grant (POST) instead of GET with Basic auth at the token server. */
  oauth2Password?: boolean;
  now?: () => number;
  signal?: AbortSignal;
}

const MIN_TOKEN_SECONDS = 60; // distribution's token spec: expires_in defaults to (at least) 60 s

/**
 * Per-registry auth state: the scheme the registry asked for and a token cache keyed by scope.
 * `authorize` gives the header for a request (if any is known yet); `onUnauthorized` handles a
 * 401 (parses the challenge, fetches a fresh token) and says whether retrying can help. The
 * client asks at most twice per request, so a token the registry rejects right after it was
 * fetched (a denied scope) fails instead of looping.
 */
export class RegistryAuth {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, TokenCacheEntry>();
  private readonly now: () => number;
  /** How many tokens were fetched (tests and the benchmark read it). */
  tokenFetches = 0;

  constructor(private readonly transport: Transport, private readonly o: AuthOptions) {
    this.now = o.now ?? Date.now;
  }

  get credentials(): RegistryCredentials | undefined {
    return this.o.credentials;
  }

  private basic(): string | undefined {
    const c = this.o.credentials;
    if (c?.username === undefined || c.password === undefined) return undefined;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
  }

  /** The Authorization header for a request needing `scope`, from what is already known. */
  authorize(scope: string): string | undefined {
    if (this.o.credentials?.registryToken) return `Bearer ${this.o.credentials.registryToken}`;
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return this.basic();
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    if (cached) this.tokens.delete(scope);
    return undefined;
  }

  /**
   * After a 401 for a request needing `scope`: learn the challenge, get what it asks for.
   * Returns true when a retry with `authorize(scope)` can succeed (something new to send).
   */
  async onUnauthorized(res: HttpResponse, scope: string, sent: string | undefined): Promise<boolean> {
    const value = header(res, 'www-authenticate');
    const challenges = value ? parseChallenges(value) : [];
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer && bearer.params.realm) {
      this.challenge = bearer;
      this.tokens.delete(scope);
      await this.fetchToken(bearer, scope);
      return true;
    }
    if (basic) {
      this.challenge = basic;
      const h = this.basic();
      return h !== undefined && h !== sent;
    }
    return false;
  }

  private async fetchToken(ch: Challenge, scope: string): Promise<void> {
    let realm: URL;
    try {
      realm = new URL(ch.params.realm);
    } catch {
      throw new CustodyError('REGISTRY_AUTH', `registry ${this.o.registryHost}: token realm ${JSON.stringify(ch.params.realm)} is not a URL`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new CustodyError('REGISTRY_AUTH', `registry ${this.o.registryHost}: token realm ${realm.href} is not http(s)`);
    const service = ch.params.service;
    // The scope the registry names in its challenge is what it will check; ours when it names none.
    const wanted = ch.params.scope ?? scope;
    const c = this.o.credentials;
    const tokenHost = realm.host;
    const what = `token server ${tokenHost} (for registry ${this.o.registryHost})`;
    let res: HttpResponse;
    try {
      if (c?.identityToken || (this.o.oauth2Password && c?.username !== undefined)) {
        const form = new URLSearchParams();
        if (c.identityToken) {
          form.set('grant_type', 'refresh_token');
          form.set('refresh_token', c.identityToken);
        } else {
          form.set('grant_type', 'password');
          form.set('username', c.username!);
          form.set('password', c.password ?? '');
        }
        if (service) form.set('service', service);
        if (wanted) form.set('scope', wanted);
        form.set('client_id', 'custody');
        res = await this.transport.request({ method: 'POST', url: realm, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()), maxBodyBytes: 1 << 20, signal: this.o.signal });
      } else {
        const url = new URL(realm);
        if (service) url.searchParams.set('service', service);
        if (wanted) url.searchParams.set('scope', wanted);
        if (c?.username) url.searchParams.set('account', c.username);
        const headers: Record<string, string> = {};
        const b = this.basic();
        if (b) headers.authorization = b;
        res = await this.transport.request({ method: 'GET', url, headers, maxBodyBytes: 1 << 20, signal: this.o.signal });
      }
    } catch (e) {
      if (e instanceof TransportError) throw new CustodyError('NETWORK', `${what}: get token: ${e.message}`, { cause: e });
      throw e;
    }
    if (res.status !== 200) {
      const detail = res.body.toString('utf8').trim().split('\n')[0].slice(0, 200);
      throw new CustodyError('REGISTRY_AUTH', `${what}: get token for ${wanted || 'no scope'}: HTTP ${res.status}${c ? ` (credentials from ${c.source})` : ' (no credentials for this registry: custody registry login)'}${detail ? `: ${detail}` : ''}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new CustodyError('REGISTRY_AUTH', `${what}: the token answer is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') throw new CustodyError('REGISTRY_AUTH', `${what}: the token answer has neither "token" nor "access_token"`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : MIN_TOKEN_SECONDS;
    const issued = typeof body.issued_at === 'string' && !Number.isNaN(Date.parse(body.issued_at)) ? Math.min(Date.parse(body.issued_at), this.now()) : this.now();
    this.tokenFetches++;
    // Renew a little early so a token does not expire between our check and the registry's.
    this.tokens.set(scope, { token, expiresAt: issued + seconds * 1000 - Math.min(10_000, seconds * 100) });
  }
}
