// An image in a registry (Debian's docker-registry on loopback, started here): the SBOM is read
// through custody's OCI client and describes the same manifest as the layout it was pushed from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '@custody/store';
import { buildImage } from '../../../packages/demo/src/oci/image.ts';
import { sbomOf } from '../src/index.ts';
import { startLocalRegistry } from '../../../packages/store/test/support/local-registry.ts';

test('sbom of oci://host/repo@digest: same packages and manifest as the pushed layout; the subject names the reference', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sbom-reg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const registry = await startLocalRegistry();
  t.after(() => registry.stop());
  await mkdir(join(dir, 'model'));
  for (const f of ['model.safetensors', 'config.json', 'README.md']) await writeFile(join(dir, 'model', f), f);
  const built = await buildImage({ modelDir: join(dir, 'model'), out: join(dir, 'image'), builder: 'custody', packages: [{ ecosystem: 'npm', name: 'lodash', version: '4.17.21', license: 'MIT' }] });
  const client = new RegistryClient({ registry: registry.url });
  const blob = (d: string) => readFile(join(dir, 'image', 'blobs', 'sha256', d.slice(7)));
  const manifestBytes = await blob(built.manifestDigest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) await client.pushBlob('demo/image', await blob(d), d);
  await client.pushManifest('demo/image', 'v1', manifestBytes, 'application/vnd.oci.image.manifest.v1+json');

  const local = await sbomOf({ target: 'image', workdir: dir, timestamp: new Date(0) });
  const remote = await sbomOf({ target: `oci://${registry.host}/demo/image@${built.manifestDigest}`, workdir: dir, timestamp: new Date(0) });
  const purls = (b: Record<string, unknown>) => (b.components as { purl?: string }[]).map((c) => c.purl);
  assert.deepEqual(purls(remote.bom), ['pkg:npm/lodash@4.17.21']);
  assert.deepEqual(purls(remote.bom), purls(local.bom));
  assert.equal((remote.bom.metadata as { component: { version: string } }).component.version, built.manifestDigest);
  assert.deepEqual(remote.subject?.map((s) => [s.name, s.digest?.sha256]), [[`${registry.host}/demo/image@${built.manifestDigest}`, built.manifestDigest.slice(7)]]);
  // by tag too
  const byTag = await sbomOf({ target: `oci://${registry.host}/demo/image:v1`, workdir: dir, timestamp: new Date(0) });
  assert.equal(byTag.subject?.[0].digest?.sha256, built.manifestDigest.slice(7));
});
