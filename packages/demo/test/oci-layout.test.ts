import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isCustodyError } from '@custody/core';
import { extractImageFiles, imageArtifactMap, listImageFiles, loadImageLayout, writeImageLayout } from '../src/oci/layout.ts';
import { readTar, writeTar } from '../src/oci/tar.ts';

const code = (c: string) => (e: unknown) => isCustodyError(e) && e.code === c;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const files = [
  { path: 'app/server.mjs', data: Buffer.from('console.log("hi")\n'), mode: 0o755 },
  { path: 'app/model/model.safetensors', data: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) },
  { path: '/app/model/config.json', data: Buffer.from('{}\n') },
];

async function tempDir(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'custody-oci-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

for (const compression of ['gzip', 'none'] as const) {
  test(`oci layout (${compression}): every descriptor matches its blob; the layer is a tar GNU tar reads`, async (t) => {
    const dir = await tempDir(t);
    const out = join(dir, 'image');
    const built = await writeImageLayout({ dir: out, files, compression, tag: 'v1', entrypoint: ['node', '/app/server.mjs'], exposedPorts: ['8080/tcp'] });
    assert.deepEqual(JSON.parse(await readFile(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0].digest, built.manifestDigest);
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v1');
    // Every blob file is named by the sha256 of its content (computed here, independently).
    const blobs = await readdir(join(out, 'blobs', 'sha256'));
    assert.equal(blobs.length, 3);
    for (const name of blobs) assert.equal(sha(await readFile(join(out, 'blobs', 'sha256', name))), name);
    const blob = (d: string) => readFile(join(out, 'blobs', 'sha256', d.replace('sha256:', '')));
    const manifestBytes = await blob(built.manifestDigest);
    assert.equal(manifestBytes.length, index.manifests[0].size);
    const manifest = JSON.parse(manifestBytes.toString());
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal((await blob(manifest.config.digest)).length, manifest.config.size);
    const config = JSON.parse((await blob(manifest.config.digest)).toString());
    assert.deepEqual(config.config.Entrypoint, ['node', '/app/server.mjs']);
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    const layer = await blob(manifest.layers[0].digest);
    assert.equal(layer.length, manifest.layers[0].size);
    assert.equal(manifest.layers[0].mediaType, compression === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar');
    const tar = compression === 'gzip' ? gunzipSync(layer) : layer;
    assert.equal(`sha256:${sha(tar)}`, config.rootfs.diff_ids[0], 'diff_id is the uncompressed layer digest');
    await writeFile(join(dir, 'layer.tar'), tar);
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', join(dir, 'layer.tar')], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(listing.map((l) => l.split(/\s+/).slice(-1)[0]), ['app/', 'app/model/', 'app/model/config.json', 'app/model/model.safetensors', 'app/server.mjs']);
    for (const l of listing) assert.match(l, /^\S+ 0\/0 .*1970-01-01 00:00:00/, 'owner 0/0, mtime 0');
    assert.match(listing[4], /^-rwxr-xr-x/);

    // Same input → same digest.
    const again = await writeImageLayout({ dir: join(dir, 'again'), files, compression, tag: 'v1', entrypoint: ['node', '/app/server.mjs'], exposedPorts: ['8080/tcp'] });
    assert.equal(again.manifestDigest, built.manifestDigest);

    const listed = await listImageFiles(out);
    assert.equal(listed.manifestDigest, built.manifestDigest);
    const weights = listed.files.find((f) => f.path === 'app/model/model.safetensors')!;
    assert.equal(weights.sha256, sha(files[1].data));
    assert.equal(weights.size, 9);
    assert.equal(listed.files.find((f) => f.path === 'app/server.mjs')!.mode, 0o755);
    assert.deepEqual(await imageArtifactMap(out, { prefix: 'image-rootfs' }), {
      'image-rootfs/app/model/config.json': { sha256: sha(files[2].data) },
      'image-rootfs/app/model/model.safetensors': { sha256: sha(files[1].data) },
      'image-rootfs/app/server.mjs': { sha256: sha(files[0].data) },
    });
    const extracted = await extractImageFiles(out, join(dir, 'rootfs'));
    assert.deepEqual(extracted.sort(), ['app/model/config.json', 'app/model/model.safetensors', 'app/server.mjs']);
    assert.deepEqual(await readFile(join(dir, 'rootfs', 'app', 'model', 'model.safetensors')), files[1].data);
  });
}

test('oci layout: tampering with a blob, the index or the layout marker is detected', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'image');
  const built = await writeImageLayout({ dir: out, files });
  await loadImageLayout(out);
  const layerPath = join(out, 'blobs', 'sha256', built.layers[0].digest.slice(7));
  const original = await readFile(layerPath);
  await writeFile(layerPath, Buffer.concat([original.subarray(0, original.length - 1), Buffer.from([original[original.length - 1] ^ 1])]));
  await assert.rejects(loadImageLayout(out), (e: unknown) => isCustodyError(e) && e.code === 'OCI_LAYOUT_INVALID' && /hashes to/.test(e.message));
  await writeFile(layerPath, original);
  await rm(join(out, 'blobs', 'sha256', built.configDigest.slice(7)));
  await assert.rejects(loadImageLayout(out), (e: unknown) => isCustodyError(e) && e.code === 'OCI_LAYOUT_INVALID' && /missing/.test(e.message));
  await writeFile(join(out, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(loadImageLayout(out), code('OCI_LAYOUT_INVALID'));
  await assert.rejects(loadImageLayout(join(dir, 'nothing')), code('OCI_LAYOUT_INVALID'));
  await assert.rejects(writeImageLayout({ dir: out, files }), code('FILE_UNWRITABLE'), 'refuses a non-empty folder');
  await assert.rejects(writeImageLayout({ dir: join(dir, 'bad'), files: [{ path: 'app/../etc/passwd', data: Buffer.alloc(1) }] }), code('USAGE'));
});

test('tar: long paths (ustar prefix and PAX), whiteouts across layers', () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
  const longer = 'x'.repeat(300);
  const tar = writeTar([
    { path: long, type: 'file', data: Buffer.from('a') },
    { path: longer, type: 'file', data: Buffer.from('bb') },
  ]);
  assert.deepEqual(readTar(tar).map((e) => [e.path, e.size, e.data.toString()]), [[long, 1, 'a'], [longer, 2, 'bb']]);
  const corrupt = Buffer.from(tar);
  corrupt[10] ^= 0xff;
  assert.throws(() => readTar(corrupt), code('OCI_LAYOUT_INVALID'));
});
