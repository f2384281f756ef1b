// OCI registry store against a real distribution registry (Debian's docker-registry), started
// here on a free loopback port. Registry 2.8 has no referrers API, so the plain tests exercise
// the `sha256-<hex>` tag schema; a small proxy in front of it adds the referrers API (as a v1.1
// registry would) to test that path. Without docker-registry installed these tests fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCustodyError } from '@custody/core';
import { ATTESTATION_MEDIA_TYPES, ANNOTATIONS, OCI_MEDIA_TYPES, OciRegistryStore, RegistryClient, referrersTag, sha256Digest, type OciDescriptor } from '../src/index.ts';
import { startLocalRegistry, type LocalRegistry } from './support/local-registry.ts';

const code = (c: string) => (e: unknown) => isCustodyError(e) && e.code === c;
let registry: LocalRegistry;

before(async () => {
  registry = await startLocalRegistry();
});
after(async () => {
  await registry?.stop();
});

/** Pushes a minimal image (empty config, one small layer) and returns its manifest descriptor. */
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

const bundle = (n: number) => Buffer.from(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', n }));

test('registry store: attestations attached to an image via the sha256-<hex> tag schema', async () => {
  const store = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'custody/credit-model' });
  const subject = await pushSubject(store.client, store.repository, 'v1');
  assert.deepEqual(await store.resolve('v1'), subject);

  const a = await store.pushAttestation(subject, { bytes: bundle(1), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, annotations: { [ANNOTATIONS.step]: 'train', [ANNOTATIONS.fileName]: 'train.sigstore.json' } });
  const b = await store.pushAttestation(subject, { bytes: bundle(2), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, annotations: { [ANNOTATIONS.step]: 'bias-test' } });
  const c = await store.pushAttestation(subject, { bytes: Buffer.from('{"signed":{}}'), mediaType: ATTESTATION_MEDIA_TYPES.inTotoMetablock, annotations: { [ANNOTATIONS.step]: 'train' } });
  assert.equal(a.indexedBy, 'tag-schema', 'registry 2.8 does not return OCI-Subject');
  await store.pushAttestation(subject, { bytes: bundle(1), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, annotations: { [ANNOTATIONS.step]: 'train', [ANNOTATIONS.fileName]: 'train.sigstore.json' } });

  // The fallback tag, read with a plain HTTP request: an image index listing each referrer once.
  const res = await fetch(`${registry.url}/v2/custody/credit-model/manifests/${referrersTag(subject.digest)}`, { headers: { accept: OCI_MEDIA_TYPES.index } });
  assert.equal(res.status, 200);
  const index = await res.json();
  assert.equal(index.mediaType, OCI_MEDIA_TYPES.index);
  assert.deepEqual(index.manifests.map((d: OciDescriptor) => d.digest), [a.descriptor.digest, b.descriptor.digest, c.descriptor.digest]);
  assert.equal(index.manifests[0].artifactType, ATTESTATION_MEDIA_TYPES.sigstoreBundle);
  assert.equal(index.manifests[0].annotations[ANNOTATIONS.step], 'train');
  // Each referrer is an artifact manifest whose subject is the image.
  const m = await (await fetch(`${registry.url}/v2/custody/credit-model/manifests/${a.descriptor.digest}`, { headers: { accept: OCI_MEDIA_TYPES.manifest } })).json();
  assert.deepEqual(m.subject, subject);
  assert.equal(m.config.mediaType, 'application/vnd.oci.empty.v1+json');
  assert.equal(m.layers[0].digest, sha256Digest(bundle(1)));

  const listed = await store.listReferrers(subject.digest);
  assert.equal(listed.via, 'tag-schema');
  assert.equal(listed.referrers.length, 3);
  const pulled = await store.pullAttestations(subject.digest);
  assert.deepEqual(pulled.map((p) => p.bytes.toString()), [bundle(1).toString(), bundle(2).toString(), '{"signed":{}}']);
  assert.equal(pulled[0].annotations[ANNOTATIONS.fileName], 'train.sigstore.json');
  const bundles = await store.pullAttestations(subject.digest, { artifactType: ATTESTATION_MEDIA_TYPES.sigstoreBundle });
  assert.equal(bundles.length, 2);
  const trainOnly = await store.pullAttestations(subject.digest, { step: 'train' });
  assert.deepEqual(trainOnly.map((p) => p.mediaType), [ATTESTATION_MEDIA_TYPES.sigstoreBundle, ATTESTATION_MEDIA_TYPES.inTotoMetablock]);

  const other = await pushSubject(store.client, store.repository, 'v2');
  assert.deepEqual(await store.pullAttestations(other.digest), [], 'no attestations for another image');
});

test('registry store: pulled content is checked against digests and subjects', async () => {
  const store = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'custody/tamper' });
  const subject = await pushSubject(store.client, store.repository, 'v1');
  const other = await pushSubject(store.client, store.repository, 'v2');
  const att = await store.pushAttestation(other, { bytes: bundle(9), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle });
  // Someone lists v2's attestation under v1's fallback tag.
  const forged = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: [att.descriptor] }));
  await store.client.pushManifest(store.repository, referrersTag(subject.digest), forged, OCI_MEDIA_TYPES.index);
  await assert.rejects(store.pullAttestations(subject.digest), code('DIGEST_MISMATCH'));

  // A blob changed in the registry's storage is refused on download.
  const hex = sha256Digest(bundle(9)).slice(7);
  const path = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const original = await readFile(path);
  await writeFile(path, Buffer.from(original.toString().replace('9', '8')));
  await assert.rejects(store.pullAttestations(other.digest), code('DIGEST_MISMATCH'));
});

test('registry store: bad names, an unreachable registry and a missing binary fail with codes', async () => {
  assert.throws(() => new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'Bad/Name' }), code('USAGE'));
  const store = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: 'custody/x' });
  await assert.rejects(store.client.getBlob('custody/x', 'sha256:abc'), code('USAGE'));
  await assert.rejects(store.client.getBlob('custody/x', 'sha256:' + '0'.repeat(64)), code('REGISTRY_ERROR'));
  await assert.rejects(store.resolve('missing'), code('REGISTRY_ERROR'));
  await assert.rejects(store.client.pushManifest('custody/x', 'bad', Buffer.from('{"schemaVersion":2}'), OCI_MEDIA_TYPES.manifest), code('REGISTRY_ERROR'));
  const down = new OciRegistryStore({ registry: '127.0.0.1:9', plainHttp: true, retries: 1, repository: 'custody/x' });
  await assert.rejects(down.listReferrers('sha256:' + '0'.repeat(64)), code('NETWORK'));
  await assert.rejects(startLocalRegistry({ binary: '/nonexistent/docker-registry' }), code('COMMAND_NOT_FOUND'));
});

/** A v1.1-style front: forwards to the registry, indexes manifests with a subject, serves /referrers/. */
async function referrersProxy(upstream: string): Promise<{ host: string; close(): Promise<void> }> {
  const bySubject = new Map<string, OciDescriptor[]>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const ref = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})(\?.*)?$/.exec(req.url!);
    if (req.method === 'GET' && ref) {
      const wanted = new URLSearchParams(ref[3] ?? '').get('artifactType');
      const manifests = (bySubject.get(ref[2]) ?? []).filter((d) => !wanted || d.artifactType === wanted);
      res.writeHead(200, { 'content-type': OCI_MEDIA_TYPES.index, ...(wanted ? { 'oci-filters-applied': 'artifactType' } : {}) });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v;
    const up = await fetch(`${upstream}${req.url}`, { method: req.method, headers, body: body.length ? body : undefined, redirect: 'manual' });
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => (out[k] = v));
    const upBody = Buffer.from(await up.arrayBuffer());
    if (req.method === 'PUT' && up.status === 201 && /\/manifests\//.test(req.url!)) {
      const m = JSON.parse(body.toString());
      if (m.subject) {
        const list = bySubject.get(m.subject.digest) ?? [];
        list.push({ mediaType: m.mediaType, digest: sha256Digest(body), size: body.length, artifactType: m.artifactType ?? m.config.mediaType, ...(m.annotations ? { annotations: m.annotations } : {}) });
        bySubject.set(m.subject.digest, list);
        out['oci-subject'] = m.subject.digest;
      }
    }
    delete out['content-length'];
    delete out['transfer-encoding'];
    res.writeHead(up.status, out);
    res.end(upBody);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { host: `127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

test('registry store: uses the referrers API when the registry supports it (no fallback tag)', async () => {
  const proxy = await referrersProxy(registry.url);
  try {
    const store = new OciRegistryStore({ registry: proxy.host, plainHttp: true, repository: 'custody/referrers' });
    const subject = await pushSubject(store.client, store.repository, 'v1');
    const a = await store.pushAttestation(subject, { bytes: bundle(1), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, annotations: { [ANNOTATIONS.step]: 'train' } });
    await store.pushAttestation(subject, { bytes: Buffer.from('{"payload":""}'), mediaType: ATTESTATION_MEDIA_TYPES.dsse });
    assert.equal(a.indexedBy, 'referrers-api');
    assert.equal(await store.client.getManifest(store.repository, referrersTag(subject.digest)), null, 'no sha256-<hex> tag was written');
    const listed = await store.listReferrers(subject.digest);
    assert.equal(listed.via, 'referrers-api');
    assert.equal(listed.referrers.length, 2);
    const dsse = await store.pullAttestations(subject.digest, { artifactType: ATTESTATION_MEDIA_TYPES.dsse });
    assert.deepEqual(dsse.map((p) => p.bytes.toString()), ['{"payload":""}']);
    assert.deepEqual((await store.pullAttestations(subject.digest, { step: 'train' })).map((p) => p.bytes.toString()), [bundle(1).toString()]);
  } finally {
    await proxy.close();
  }
});
