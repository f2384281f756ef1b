// Keyless building blocks without any service: identity tokens, identity policies, trust roots,
// and ECDSA over a given digest (verify-bundle with sha256:HEX).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { isCustodyError } from '@custody/core';
import {
  compileSubjectPattern, createKeylessSigner, identityMatches, matchIdentity, parseIdentityToken, resolveIdentityToken,
  trustMaterialFromJSON, validateIdentityPolicy, verifyPrehashed,
} from '../src/index.ts';

function jwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256' }): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc(header)}.${enc(claims)}.c2ln`;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(isCustodyError(e), String(e));
    return e.code;
  }
  return 'no error';
}

async function codeAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isCustodyError(e), String(e));
    return e.code;
  }
  return 'no error';
}

const NOW = new Date('2026-01-01T00:00:00Z');
const exp = NOW.getTime() / 1000 + 300;

describe('identity tokens', () => {
  it('reads issuer and subject (sub, or a verified email as Fulcio binds it)', () => {
    assert.deepEqual(parseIdentityToken(jwt({ iss: 'https://i', sub: 'repo:x', exp }), 't', { now: NOW }), { issuer: 'https://i', subject: 'repo:x', expiresAt: new Date(exp * 1000) });
    assert.equal(parseIdentityToken(jwt({ iss: 'https://i', sub: '123', email: 'a@b.c', email_verified: true }), 't').subject, 'a@b.c');
  });

  it('rejects what Fulcio would reject, with IDENTITY_TOKEN_INVALID', () => {
    for (const [token, why] of [
      ['abc', 'one part'],
      ['a.b', 'two parts'],
      ['!!.e30.x', 'header not base64url'],
      [`${Buffer.from('[]').toString('base64url')}.e30.x`, 'header not an object'],
      [jwt({ iss: 'https://i', sub: 'x' }, { typ: 'JWT' }), 'no alg'],
      [jwt({ sub: 'x' }), 'no iss'],
      [jwt({ iss: 'https://i' }), 'no subject'],
      [jwt({ iss: 'https://i', email: 'a@b.c' }), 'email not verified'],
      [jwt({ iss: 'https://i', sub: 'x', exp: NOW.getTime() / 1000 - 1 }), 'expired'],
      [jwt({ iss: 'https://i', sub: 'x', exp: 'soon' }), 'exp not a number'],
    ] as const) {
      assert.equal(code(() => parseIdentityToken(token, 'test', { now: NOW })), 'IDENTITY_TOKEN_INVALID', why);
    }
  });

  it('never puts the token into the message', () => {
    try {
      parseIdentityToken('secret-token-value', 'SIGSTORE_ID_TOKEN');
      assert.fail('accepted');
    } catch (e) {
      assert.doesNotMatch((e as Error).message, /secret-token-value/);
      assert.match((e as Error).message, /SIGSTORE_ID_TOKEN is not a JWT/);
    }
  });

  it('source order: explicit token, file, SIGSTORE_ID_TOKEN; missing file and no source are input errors', async () => {
    const token = jwt({ iss: 'https://i', sub: 'env' });
    assert.equal((await resolveIdentityToken({ env: { SIGSTORE_ID_TOKEN: token } })).source, 'SIGSTORE_ID_TOKEN');
    assert.equal((await resolveIdentityToken({ identityToken: token, env: { SIGSTORE_ID_TOKEN: 'x' } })).source, 'the given token');
    assert.equal(await codeAsync(resolveIdentityToken({ identityTokenFile: '/nonexistent/token', env: {} })), 'FILE_NOT_FOUND');
    assert.equal(await codeAsync(resolveIdentityToken({ env: {} })), 'USAGE');
    assert.equal(await codeAsync(resolveIdentityToken({ identityToken: '  ', env: {} })), 'IDENTITY_TOKEN_INVALID');
  });
});

describe('identity policies', () => {
  const id = { issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.0.0' };

  it('validates the shape: issuer plus exactly one of subject and subjectPattern', () => {
    assert.deepEqual(validateIdentityPolicy({ issuer: 'i', subject: 's' }), { issuer: 'i', subject: 's' });
    assert.deepEqual(validateIdentityPolicy({ issuer: 'i', subjectPattern: 's.*' }), { issuer: 'i', subjectPattern: 's.*' });
    assert.equal(code(() => validateIdentityPolicy({ issuer: 'i', subject: 's', subjectPattern: 's' })), 'USAGE');
    assert.equal(code(() => validateIdentityPolicy({ issuer: 'i' })), 'USAGE');
    assert.equal(code(() => validateIdentityPolicy({ subject: 's' })), 'USAGE');
    assert.equal(code(() => validateIdentityPolicy({ issuer: 'i', subjectPattern: '(' })), 'USAGE');
    assert.equal(code(() => validateIdentityPolicy('i')), 'USAGE');
  });

  it('matches the issuer exactly and the subject exactly or by a regex anchored at both ends', () => {
    assert.ok(identityMatches(id, { issuer: id.issuer, subject: id.subject }));
    assert.ok(!identityMatches(id, { issuer: `${id.issuer}/`, subject: id.subject }));
    assert.ok(identityMatches(id, { issuer: id.issuer, subjectPattern: 'https://github\\.com/org/repo/\\.github/workflows/release\\.yml@refs/tags/v.*' }));
    assert.ok(!identityMatches(id, { issuer: id.issuer, subjectPattern: 'https://github\\.com/org/repo' }), 'prefix only');
    assert.ok(!identityMatches(id, { issuer: id.issuer, subjectPattern: 'release\\.yml@refs/tags/v1\\.0\\.0' }), 'suffix only');
    assert.ok(!compileSubjectPattern('a|b').test('ab'));
  });

  it('says whether the issuer or the subject is wrong', () => {
    assert.throws(() => matchIdentity(id, [{ issuer: 'https://gitlab.com', subject: id.subject }]), /issuer https:\/\/token\.actions\.githubusercontent\.com is not https:\/\/gitlab\.com/);
    assert.throws(() => matchIdentity(id, [{ issuer: id.issuer, subject: 'https://github.com/org/repo/x' }]), (e) => isCustodyError(e) && e.code === 'IDENTITY_MISMATCH' && /subject .* is not https:\/\/github\.com\/org\/repo\/x/.test(e.message));
  });
});

describe('trusted roots', () => {
  const start = { start: '2024-01-01T00:00:00Z' };
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const tlog = { baseUrl: 'https://rekor.test', hashAlgorithm: 'SHA2_256', publicKey: { rawBytes: der, keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: start }, logId: { keyId: 'AAAA' } };
  const root = (extra: Record<string, unknown> = {}) => ({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [tlog], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [], ...extra });

  it('parses a well-formed root into trust material', () => {
    const tm = trustMaterialFromJSON(root());
    assert.equal(tm.tlogs.length, 1);
    assert.equal(trustMaterialFromJSON(root({ mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json' })).tlogs.length, 1);
  });

  it('rejects other media types, non-lists and authorities without a validity start', () => {
    assert.equal(code(() => trustMaterialFromJSON([])), 'TRUSTED_ROOT_INVALID');
    assert.equal(code(() => trustMaterialFromJSON(root({ mediaType: 'application/json' }))), 'TRUSTED_ROOT_INVALID');
    assert.equal(code(() => trustMaterialFromJSON(root({ tlogs: {} }))), 'TRUSTED_ROOT_INVALID');
    assert.equal(code(() => trustMaterialFromJSON(root({ tlogs: [{ ...tlog, publicKey: { ...tlog.publicKey, validFor: undefined } }] }))), 'TRUSTED_ROOT_INVALID');
  });
});

describe('ECDSA over a given digest', () => {
  for (const [curve, hash] of [['P-256', 'sha256'], ['P-384', 'sha384']] as const) {
    it(`verifies ${curve} signatures against the digest alone`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const data = Buffer.from('artifact bytes');
      const sig = sign(hash, data, privateKey);
      const digest = createHash(hash).update(data).digest();
      assert.ok(verifyPrehashed(publicKey, digest, sig));
      const other = createHash(hash).update('other').digest();
      assert.ok(!verifyPrehashed(publicKey, other, sig));
      const bad = Buffer.from(sig);
      bad[bad.length - 1] ^= 1;
      assert.ok(!verifyPrehashed(publicKey, digest, bad));
    });
  }

  it('a sha256 digest checks a P-384 signature made over SHA-256 (truncation rules do not apply)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const data = Buffer.from('x');
    assert.ok(verifyPrehashed(publicKey, createHash('sha256').update(data).digest(), sign('sha256', data, privateKey)));
  });

  it('refuses keys it cannot check', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    assert.ok(!verifyPrehashed(publicKey, Buffer.alloc(32), Buffer.alloc(64)));
  });
});

describe('keyless signer configuration', () => {
  it('rejects non-URLs and a signer with neither tlog nor TSA', () => {
    assert.equal(code(() => createKeylessSigner({ fulcioURL: 'fulcio.example' })), 'USAGE');
    assert.equal(code(() => createKeylessSigner({ rekorURL: 'ftp://rekor.example' })), 'USAGE');
    assert.equal(code(() => createKeylessSigner({ tlog: false })), 'USAGE');
  });

  it('defaults to the public-good services and turns timestamps on with a TSA URL', () => {
    const s = createKeylessSigner();
    assert.equal(s.fulcioURL, 'https://fulcio.sigstore.dev');
    assert.equal(s.rekorURL, 'https://rekor.sigstore.dev');
    assert.equal(s.tsaURL, undefined);
    assert.equal(createKeylessSigner({ tsaURL: 'https://tsa.example/api/v1/timestamp/' }).tsaURL, 'https://tsa.example/api/v1/timestamp');
    assert.equal(createKeylessSigner({ timestamp: true }).tsaURL, 'https://timestamp.sigstore.dev');
    assert.equal(s.identity(), undefined);
  });
});
