import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { CustodyError } from '@custody/core';
import { buildImage } from '../../../packages/demo/src/oci/image.ts';
import { catalog, parseRequirements, readFolder, sbomOf, sbomSchemaErrors, safeEntryPath, type Tree } from '../src/index.ts';

async function fakeModel(dir: string): Promise<string> {
  const model = join(dir, 'model');
  await mkdir(model, { recursive: true });
  await writeFile(join(model, 'model.safetensors'), 'weights');
  await writeFile(join(model, 'config.json'), '{"model_type":"logreg"}');
  await writeFile(join(model, 'README.md'), '---\nlicense: mit\n---\n');
  return model;
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

test('sbom of a buildah image: the planted Python and npm packages with their purls, licenses, pins; the model linked by bom-ref; subject is the manifest', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sbom-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const model = await fakeModel(dir);
  const built = await buildImage({
    modelDir: model, out: join(dir, 'image'), builder: 'buildah',
    packages: [
      { ecosystem: 'pypi', name: 'Jinja2', version: '2.10', license: 'BSD-3-Clause' },
      { ecosystem: 'npm', name: '@scope/left-pad', version: '1.3.0', license: 'WTFPL' },
      { ecosystem: 'npm', name: 'lodash', version: '4.17.20', license: 'MIT' },
    ],
  });
  assert.equal(built.builder, 'buildah');
  const mlBom = {
    bomFormat: 'CycloneDX', specVersion: '1.6', serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79', version: 1,
    components: [{ type: 'machine-learning-model', 'bom-ref': 'model:model', name: 'model', version: 'abc123', licenses: [{ license: { id: 'MIT' } }],
      components: [{ type: 'file', name: 'model.safetensors', hashes: [{ alg: 'SHA-256', content: sha('weights') }] }] }],
  };
  await writeFile(join(dir, 'ml-bom.json'), JSON.stringify(mlBom));
  const { bom, subject, modelMismatches } = await sbomOf({ target: 'image', workdir: dir, model: 'app/model', mlBom: 'ml-bom.json', timestamp: new Date('2026-01-01T00:00:00Z') });
  assert.equal(await sbomSchemaErrors(bom), null, 'the CycloneDX library validator accepts it');
  assert.equal(bom.specVersion, '1.6');
  const comps = bom.components as { type: string; name: string; group?: string; version?: string; purl?: string; 'bom-ref': string; licenses?: unknown[]; properties?: { name: string; value: string }[]; components?: { name: string; hashes?: { content: string }[] }[]; externalReferences?: { type: string; url: string }[] }[];
  const byPurl = new Map(comps.filter((c) => c.purl).map((c) => [c.purl, c]));
  assert.deepEqual([...byPurl.keys()].sort(), ['pkg:npm/%40scope/left-pad@1.3.0', 'pkg:npm/lodash@4.17.20', 'pkg:pypi/jinja2@2.10']);
  const jinja = byPurl.get('pkg:pypi/jinja2@2.10')!;
  assert.equal(jinja.name, 'Jinja2');
  assert.deepEqual(jinja.licenses, [{ license: { id: 'BSD-3-Clause' } }]);
  assert.equal(jinja.properties?.find((p) => p.name === 'custody:python:pinned')?.value, 'true');
  assert.equal(byPurl.get('pkg:npm/%40scope/left-pad@1.3.0')!.group, '@scope');
  assert.deepEqual(byPurl.get('pkg:npm/lodash@4.17.20')!.licenses, [{ license: { id: 'MIT' } }]);
  const ml = comps.find((c) => c.type === 'machine-learning-model')!;
  assert.equal(ml['bom-ref'], 'model:model', 'the ML-BOM\'s bom-ref');
  assert.equal(ml.version, 'abc123');
  assert.deepEqual(ml.externalReferences?.map((r) => [r.type, r.url]), [['bom', 'urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#model%3Amodel']]);
  assert.equal(ml.components?.find((f) => f.name === 'model.safetensors')?.hashes?.[0].content, sha('weights'));
  assert.deepEqual(modelMismatches.sort(), ['README.md: not in the ML-BOM', 'config.json: not in the ML-BOM']);
  const meta = bom.metadata as { component: { type: string; version: string; 'bom-ref': string } };
  assert.equal(meta.component.type, 'container');
  assert.equal(meta.component.version, built.manifestDigest);
  assert.deepEqual(subject, [{ name: `image/blobs/sha256/${built.manifestDigest.slice(7)}`, digest: { sha256: built.manifestDigest.slice(7) }, mediaType: 'application/vnd.oci.image.manifest.v1+json' }]);
});

/** An OCI layout whose one layer holds the given raw tar entries. */
async function layoutWithEntries(dir: string, entries: { name: string; data?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string }[]): Promise<string> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => pack.on('end', r));
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.data ?? '');
  pack.finalize();
  await ended;
  const tar = Buffer.concat(chunks);
  const layer = gzipSync(tar);
  const out = join(dir, 'layout');
  await mkdir(join(out, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    await writeFile(join(out, 'blobs', 'sha256', sha(b)), b);
    return `sha256:${sha(b)}`;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(layer), size: layer.length }],
  }));
  const md = await put(manifest);
  await writeFile(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }] }));
  return out;
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CustodyError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

test('layer entries that climb out with .. or are absolute are refused; a hard link to one too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sbom-tar-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await rejects(sbomOf({ target: await layoutWithEntries(join(dir, 'a'), [{ name: 'ok.txt', data: 'x' }, { name: 'app/../../etc/passwd', data: 'x' }]), workdir: dir, timestamp: new Date(0) }),
    'IMAGE_LAYER_UNSAFE', /layer entry 'app\/\.\.\/\.\.\/etc\/passwd' climbs out of the image root/);
  await rejects(sbomOf({ target: await layoutWithEntries(join(dir, 'b'), [{ name: '/usr/lib/node_modules/x/package.json', data: '{}' }]), workdir: dir, timestamp: new Date(0) }),
    'IMAGE_LAYER_UNSAFE', /is an absolute path/);
  assert.throws(() => safeEntryPath('a/..', 'l'), /climbs out/);
  assert.equal(safeEntryPath('./usr/lib/', 'l'), 'usr/lib');
  // whiteouts remove what a lower layer... here: a symlink is recorded, not followed
  const ok = await sbomOf({ target: await layoutWithEntries(join(dir, 'c'), [{ name: 'app/node_modules/evil', type: 'symlink', linkname: '/etc' }, { name: 'app/node_modules/a/package.json', data: '{"name":"a","version":"1.0.0","license":"ISC"}' }]), workdir: dir, timestamp: new Date(0) });
  assert.deepEqual((ok.bom.components as { purl?: string }[]).map((c) => c.purl), ['pkg:npm/a@1.0.0']);
});

test('a layer blob that does not hash to its digest is refused before anything is catalogued', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sbom-dig-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const layout = await layoutWithEntries(dir, [{ name: 'x', data: 'x' }]);
  const index = JSON.parse(await (await import('node:fs/promises')).readFile(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await (await import('node:fs/promises')).readFile(join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  await writeFile(join(layout, 'blobs', 'sha256', manifest.layers[0].digest.slice(7)), gzipSync(Buffer.alloc(1024)));
  await rejects(sbomOf({ target: layout, workdir: dir, timestamp: new Date(0) }), 'OCI_LAYOUT_INVALID', /layer blob hashes to sha256:[0-9a-f]{64}, not sha256:/);
});

function tree(files: Record<string, string>): Tree {
  return { kind: 'folder', files: new Map(Object.entries(files).map(([path, d]) => [path, { path, type: 'file' as const, size: d.length, data: Buffer.from(d) }])) };
}

test('catalogers: dpkg status (installed only, DEP-5 licenses), apk, egg-info, requirements pins', () => {
  const c = catalog(tree({
    'etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
    'var/lib/dpkg/status': 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\n',
    'usr/share/doc/zlib1g/copyright': 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Zlib\n',
    'lib/apk/db/installed': 'C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n',
    'usr/lib/python3/site-packages/six.egg-info/PKG-INFO': 'Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n',
    'srv/requirements.txt': 'six>=1.0  # not a pin\nurllib3==1.26.4 --hash=sha256:abc\n-r other.txt\n',
  }));
  const purls = c.packages.map((p) => p.purl);
  assert.deepEqual(purls, [
    'pkg:apk/debian/busybox@1.36.1-r5?arch=x86_64',
    'pkg:apk/debian/musl@1.2.4-r2?arch=x86_64',
    'pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12',
    'pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12',
    'pkg:pypi/six@1.16.0',
    'pkg:pypi/urllib3@1.26.4',
  ].sort());
  assert.deepEqual(c.packages.find((p) => p.name === 'zlib1g')!.license.names, ['Zlib']);
  assert.equal(c.packages.find((p) => p.name === 'six')!.pinned, false, 'six>=1.0 is not a pin');
  assert.equal(c.packages.find((p) => p.name === 'urllib3')!.pinned, true);
  assert.deepEqual(parseRequirements('a==1.*\nb===2.0\nc [x] == 3.1 ; python_version<"3.9"\n', 'r.txt').map((r) => [r.name, r.version]), [['a', undefined], ['b', '2.0'], ['c', '3.1']]);
});

test('a folder is catalogued without following symlinks; unknown targets are a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sbom-dir-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'node_modules', 'x'), { recursive: true });
  await writeFile(join(dir, 'node_modules', 'x', 'package.json'), '{"name":"x","version":"0.1.0","license":"MIT"}');
  const tr = await readFolder(dir);
  assert.equal(tr.files.get('node_modules/x/package.json')?.sha256, sha('{"name":"x","version":"0.1.0","license":"MIT"}'));
  const { bom, subject } = await sbomOf({ target: '.', workdir: dir, timestamp: new Date(0) });
  assert.equal(subject, undefined, 'a folder SBOM describes the step\'s products');
  assert.deepEqual((bom.components as { purl: string }[]).map((c) => c.purl), ['pkg:npm/x@0.1.0']);
  await rejects(sbomOf({ target: 'missing', workdir: dir, timestamp: new Date(0) }), 'FILE_NOT_FOUND', /does not exist/);
});
