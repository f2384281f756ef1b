// The buildah path: CI installs buildah (.ci/run); without it this test fails, it does not skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, hasBuildah } from '../src/oci/image.ts';
import { listImageFiles, loadImageLayout } from '../src/oci/layout.ts';
import { runTrain } from '../src/train.ts';
import { fetchData } from '../src/fetch-data.ts';
import { sha256File } from '../src/files.ts';

test('build-image: buildah (vfs, from scratch) and the built-in writer give images with the same files', async (t) => {
  assert.ok(await hasBuildah(), 'buildah is not installed: run .ci/services.sh (apt-get install buildah)');
  const dir = await mkdtemp(join(tmpdir(), 'custody-build-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await fetchData({ out: join(dir, 'data') });
  await runTrain({ data: join(dir, 'data'), out: join(dir, 'model') });

  const viaBuildah = await buildImage({ modelDir: join(dir, 'model'), out: join(dir, 'image-buildah'), builder: 'buildah' });
  const viaWriter = await buildImage({ modelDir: join(dir, 'model'), out: join(dir, 'image-custody'), builder: 'custody' });
  t.diagnostic(`build time: buildah ${viaBuildah.buildMs.toFixed(0)} ms, built-in writer ${viaWriter.buildMs.toFixed(0)} ms`);
  assert.equal(viaBuildah.builder, 'buildah');
  assert.equal(viaWriter.builder, 'custody');
  const image = await loadImageLayout(join(dir, 'image-buildah'));
  assert.equal(image.manifestDigest, viaBuildah.manifestDigest);
  assert.deepEqual(image.config.config?.Entrypoint, ['node', '/app/server.mjs']);
  assert.ok(image.config.config?.ExposedPorts?.['8080/tcp']);
  assert.equal(image.config.config?.Labels?.['org.opencontainers.image.licenses'], 'MIT');

  const a = await listImageFiles(join(dir, 'image-buildah'));
  const b = await listImageFiles(join(dir, 'image-custody'));
  const view = (fs: typeof a.files) => fs.map((f) => `${f.type} ${f.path} ${f.mode.toString(8)} ${f.sha256 ?? ''}`);
  assert.deepEqual(view(a.files), view(b.files));
  const weights = a.files.find((f) => f.path === 'app/model/model.safetensors');
  assert.equal(weights?.sha256, await sha256File(join(dir, 'model', 'model.safetensors')), 'the weights in the image are train\'s product');

  // --timestamp 0 and a private vfs root: rebuilding gives the same image digest.
  const rebuilt = await buildImage({ modelDir: join(dir, 'model'), out: join(dir, 'image-buildah'), builder: 'buildah', overwrite: true });
  assert.equal(rebuilt.manifestDigest, viaBuildah.manifestDigest);
});
