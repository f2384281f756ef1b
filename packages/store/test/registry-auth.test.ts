// The registry client against a real docker-registry 2.8 configured for token auth (a token
// server started here signs ES256 JWTs with an x5c certificate the registry trusts), and behind a
// fault proxy: 503 with Retry-After, a stalled registry, a registry that dies mid-push. Plus the
// concurrency of the sha256-<hex> tag fallback: 8 parallel pushes for one subject, 20 times.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCustodyError } from '@custody/core';
import { ATTESTATION_MEDIA_TYPES, ANNOTATIONS, OCI_MEDIA_TYPES, OciRegistryStore, parseChallenges, RegistryClient, retryAfterMs, sha256Digest, type OciDescriptor } from '../src/index.ts';
import { makePki, startFaultProxy, startTokenServer, type TestPki, type TokenServer } from '../../../test/store/fixtures/registry-auth.ts';
import { startLocalRegistry, type LocalRegistry } from './support/local-registry.ts';

const rejectsWith = (c: string, re: RegExp) => (e: unknown) => {
  assert.ok(isCustodyError(e), String(e));
  assert.equal(e.code, c, e.message);
  assert.match(e.message, re);
  return true;
};

async function pushSubject(client: RegistryClient, repository: string, seed: string): Promise<OciDescriptor> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const layer = Buffer.from(`layer ${seed}`);
  await client.pushBlob(repository, config);
  await client.pushBlob(repository, layer);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MEDIA_TYPES.manifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Digest(layer), size: layer.length }],
  }));
  return (await client.pushManifest(repository, seed, manifest, OCI_MEDIA_TYPES.manifest)).descriptor;
}

const att = (n: number | string) => ({
  bytes: Buffer.from(JSON.stringify({ mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, n })),
  mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle,
  annotations: { [ANNOTATIONS.step]: `step${n}`, [ANNOTATIONS.fileName]: `step${n}.0123abcd.sigstore.json` },
});

it('challenge and Retry-After parsing', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="x \\"y\\"", Bearer realm=http://t/token'), [
    { scheme: 'basic', params: { realm: 'x "y"' } },
    { scheme: 'bearer', params: { realm: 'http://t/token' } },
  ]);
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(new Date(Date.now() + 2000).toUTCString(), Date.now()) !== undefined, true);
  assert.equal(retryAfterMs('soon'), undefined);
});

describe('token auth (distribution 2.8 auth: token)', () => {
  let dir: string;
  let pki: TestPki;
  let tokens: TokenServer;
  let registry: LocalRegistry;
  const users = {
    writer: { password: 'w-pass', actions: ['pull', 'push'], refreshToken: 'refresh-writer' },
    reader: { password: 'r-pass', actions: ['pull'] },
  };
  const client = (credentials: ConstructorParameters<typeof RegistryClient>[0]['credentials'], extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
    new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'ml/model', credentials, retryBaseMs: 20, ...extra });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-token-'));
    pki = await makePki(dir);
    tokens = await startTokenServer(pki, users);
    registry = await startLocalRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: pki.tokenCert } });
  });
  after(async () => {
    await registry?.stop();
    await tokens?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the bearer flow: token per scope from the realm (GET with Basic), cached, push and pull work', async () => {
    const store = client({ username: 'writer', password: 'w-pass', source: 'test' });
    const before = tokens.requests.length;
    const subject = await pushSubject(store.client, store.repository, 'v1');
    await store.pushAttestations(subject, [att(1), att(2)]);
    const pulled = await store.pullAttestations(subject.digest);
    assert.deepEqual(pulled.map((p) => p.annotations[ANNOTATIONS.step]).sort(), ['step1', 'step2']);
    const asked = tokens.requests.slice(before);
    // one token per scope (pull; pull,push), not one per request
    assert.deepEqual([...new Set(asked.map((r) => r.scopes.join(' ')))].sort(), ['repository:ml/model:pull', 'repository:ml/model:pull,push']);
    assert.ok(asked.length <= 3, `${asked.length} token requests`);
    assert.ok(asked.every((r) => r.method === 'GET' && r.account === 'writer'));
  });

  it('an identity token is exchanged with the OAuth2 refresh_token form; the password form when asked; access_token is read', async () => {
    const before = tokens.requests.length;
    const viaRefresh = client({ identityToken: 'refresh-writer', source: 'test' });
    const subject = await pushSubject(viaRefresh.client, viaRefresh.repository, 'v2');
    assert.ok(tokens.requests.slice(before).every((r) => r.method === 'POST' && r.grant === 'refresh_token'));
    const viaPassword = client({ username: 'reader', password: 'r-pass', source: 'test' }, { oauth2Password: true });
    assert.equal((await viaPassword.resolve('v2')).digest, subject.digest);
    assert.equal(tokens.requests.at(-1)!.grant, 'password');
  });

  it('a token the registry rejects (expired) is fetched again on the 401; an expired cache entry is not sent', async () => {
    const store = client({ username: 'writer', password: 'w-pass', source: 'test' });
    tokens.issueExpired = 1;
    const before = tokens.requests.length;
    await pushSubject(store.client, store.repository, 'v3');
    assert.equal(tokens.issueExpired, 0);
    assert.equal(tokens.requests.length - before, 3, 'pull,push: rejected token replaced on the 401; then pull');

    tokens.expiresIn = 1; // cached for ~0.9 s
    const reader = client({ username: 'reader', password: 'r-pass', source: 'test' });
    await reader.resolve('v3');
    const n = tokens.requests.length;
    await reader.resolve('v3');
    assert.equal(tokens.requests.length, n, 'cached');
    await new Promise((r) => setTimeout(r, 1000));
    await reader.resolve('v3');
    assert.equal(tokens.requests.length, n + 1, 'expired: fetched again');
    tokens.expiresIn = 300;
  });

  it('a denied scope, a wrong password and no credentials: one-line errors naming the registry or the token server', async () => {
    const reader = client({ username: 'reader', password: 'r-pass', source: 'config.json' });
    const subject = await reader.resolve('v1');
    await assert.rejects(reader.pushAttestation(subject, att(9)), rejectsWith('REGISTRY_AUTH', new RegExp(`^registry ${registry.host}: check blob ml/model@sha256:[0-9a-f]{64}: HTTP 401 Unauthorized \\(UNAUTHORIZED: .*\\) \\(credentials from config\\.json were not accepted\\)$|^registry ${registry.host}: push blob .*HTTP 401`)));
    const wrong = client({ username: 'writer', password: 'nope', source: '/home/u/.docker/config.json' });
    await assert.rejects(wrong.resolve('v1'), rejectsWith('REGISTRY_AUTH', new RegExp(`^registry ${registry.host}: get manifest ml/model:v1: token server ${tokens.host} \\(for registry ${registry.host}\\): get token for repository:ml/model:pull: HTTP 401 \\(credentials from /home/u/\\.docker/config\\.json\\)`)));
    const anonymous = client(null);
    await assert.rejects(anonymous.resolve('v1'), rejectsWith('REGISTRY_AUTH', /HTTP 401 Unauthorized .*no credentials for 127\.0\.0\.1:\d+: custody registry login/));
    // nothing was attached by the rejected push
    assert.equal((await reader.pullAttestations(subject.digest)).length, 2);
  });
});

describe('faults and concurrency (docker-registry 2.8, no referrers API)', () => {
  let registry: LocalRegistry;
  before(async () => {
    registry = await startLocalRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  it('503 with Retry-After is retried after the time asked; past the cap it fails at once', async () => {
    const proxy = await startFaultProxy(registry.port);
    try {
      const store = new OciRegistryStore({ registry: proxy.host, plainHttp: true, repository: 'faults/retry', credentials: null, retryBaseMs: 10 });
      const subject = await pushSubject(store.client, store.repository, 'v1');
      proxy.fail503(2, '1');
      const t0 = Date.now();
      await store.pushAttestation(subject, att(1));
      assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms for two Retry-After: 1`);
      assert.equal((await store.pullAttestations(subject.digest)).length, 1);
      proxy.fail503(1, '3600');
      await assert.rejects(store.pullAttestations(subject.digest), rejectsWith('REGISTRY_ERROR', new RegExp(`^registry ${proxy.host}: .*: HTTP 503, asks to retry after 3600 s`)));
      proxy.fail503(10, '0');
      await assert.rejects(store.resolve('v1'), rejectsWith('REGISTRY_ERROR', new RegExp(`^registry ${proxy.host}: get manifest faults/retry:v1: HTTP 503 Service Unavailable \\(UNAVAILABLE: try later\\)$`)));
    } finally {
      await proxy.close();
    }
  });

  it('a registry slower than the timeout fails with the timeout named, not a hang', async () => {
    const proxy = await startFaultProxy(registry.port);
    try {
      const store = new OciRegistryStore({ registry: proxy.host, plainHttp: true, repository: 'faults/slow', credentials: null, timeoutMs: 300 });
      proxy.stall();
      const t0 = Date.now();
      await assert.rejects(store.resolve('v1'), rejectsWith('NETWORK', new RegExp(`^registry ${proxy.host}: get manifest faults/slow:v1: no complete answer within 300 ms$`)));
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await proxy.close();
    }
  });

  it('the registry dies mid-push: a clear error, and nothing attached that a pull would read', async () => {
    const proxy = await startFaultProxy(registry.port);
    try {
      const store = new OciRegistryStore({ registry: proxy.host, plainHttp: true, repository: 'faults/dies', credentials: null, retries: 2, retryBaseMs: 10 });
      const subject = await pushSubject(store.client, store.repository, 'v1');
      proxy.dieAfter(6); // part way through the blobs and manifests of 5 attestations
      await assert.rejects(store.pushAttestations(subject, [1, 2, 3, 4, 5].map(att)), rejectsWith('NETWORK', new RegExp(`^registry ${proxy.host}: (push|check) (blob|manifest) .*: connection (refused|reset)`)));
      await proxy.heal();
      assert.deepEqual(await store.pullAttestations(subject.digest), [], 'the index was never written');
      // and a re-run completes the push
      await store.pushAttestations(subject, [1, 2, 3, 4, 5].map(att));
      assert.equal((await store.pullAttestations(subject.digest)).length, 5);
    } finally {
      await proxy.close();
    }
  });

  it('chunked upload (PATCH) and cross-repository mount', async () => {
    const store = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'up/chunked', credentials: null, chunkSize: 1000 });
    const big = Buffer.alloc(4500, 7);
    const pushed = await store.client.pushBlob('up/chunked', big);
    assert.equal(pushed.existed, false);
    assert.deepEqual(await store.client.getBlob('up/chunked', pushed.digest), big);
    const mounted = await store.client.pushBlob('up/other', big, sha256Digest(big), { mountFrom: 'up/chunked' });
    assert.equal(mounted.mounted, true);
    assert.equal(await store.client.hasBlob('up/other', pushed.digest), true);
  });

  it('8 concurrent pushes for one subject all survive in the tag index (20 rounds)', async () => {
    const setup = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'race/model', credentials: null });
    for (let round = 0; round < 20; round++) {
      const subject = await pushSubject(setup.client, setup.repository, `r${round}`);
      await Promise.all(Array.from({ length: 8 }, (_, i) => {
        const s = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'race/model', credentials: null, retryBaseMs: 20 });
        return s.pushAttestation(subject, att(`${round}-${i}`)).finally(() => s.close());
      }));
      const pulled = await setup.pullAttestations(subject.digest);
      assert.deepEqual(pulled.map((p) => p.annotations[ANNOTATIONS.step]).sort(), Array.from({ length: 8 }, (_, i) => `step${round}-${i}`).sort(), `round ${round}`);
    }
  });
});
