import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { isCustodyError } from '@custody/core';
import {
  parseSafetensorsBuffer, readSafetensorsHeader, checkSafetensorsHeader, encodeSafetensors,
  parseLfsPointer, looksLikeLfsPointer, lfsObjectPath,
  parseModelCard, hfLicenseToSpdx, identifyLicenseText, resolveModelLicense,
  shardRanges, scanModelDir, fetchModelRepo, stripCredentials, listModelFiles, comparePosixPaths,
  MODEL_PREDICATE_TYPE,
} from '../src/index.ts';
import plugin from '../src/index.ts';
import { MIT_TEXT, lfsPointer, modelRepo, rawSafetensors, sha256, tinySafetensors, tmp, write } from './helpers.ts';

function rejects(fn: () => unknown, code: string, re?: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.ok(isCustodyError(e), `expected CustodyError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}`);
}
async function rejectsAsync(p: Promise<unknown>, code: string, re?: RegExp) {
  try {
    await p;
  } catch (e) {
    assert.ok(isCustodyError(e), `expected CustodyError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('safetensors: header of a real file gives tensors, parameters, dtypes', async () => {
  const s = parseSafetensorsBuffer(tinySafetensors(), 'm.safetensors');
  assert.equal(s.tensorCount, 2);
  assert.equal(s.parameterCount, 9);
  assert.deepEqual(s.dtypes, { F32: 1, I64: 1 });
  assert.deepEqual(s.metadata, { format: 'pt' });
  assert.deepEqual(s.tensors.map((t) => t.name), ['linear.bias', 'linear.weight']);
  const root = tmp();
  const p = write(root, 'a.safetensors', tinySafetensors());
  const fromDisk = await readSafetensorsHeader(p);
  assert.equal(fromDisk.parameterCount, 9);
  // The writer used by the demo produces files the reader accepts.
  const enc = encodeSafetensors([{ name: 'w', dtype: 'BF16', shape: [4], data: new Uint8Array(8) }]);
  assert.equal(parseSafetensorsBuffer(enc, 'enc').parameterCount, 4);
  assert.equal(enc.readBigUInt64LE(0) % 8n, 0n);
});

test('safetensors: every malformed variant is rejected naming the file and the problem', async () => {
  const f = 'bad.safetensors';
  const e = rejects(() => parseSafetensorsBuffer(Buffer.alloc(5), f), 'SAFETENSORS_INVALID', /truncated/);
  assert.equal(e.file, f);
  const good = tinySafetensors();
  rejects(() => parseSafetensorsBuffer(good.subarray(0, 40), f), 'SAFETENSORS_INVALID', /truncated: header needs/);
  rejects(() => parseSafetensorsBuffer(good.subarray(0, good.length - 1), f), 'SAFETENSORS_INVALID', /describes 48 data bytes but the file holds 47/);
  rejects(() => parseSafetensorsBuffer(Buffer.concat([good, Buffer.alloc(4)]), f), 'SAFETENSORS_INVALID', /describes 48 data bytes but the file holds 52/);
  const big = Buffer.alloc(16);
  big.writeBigUInt64LE(100_000_001n);
  rejects(() => parseSafetensorsBuffer(big, f), 'SAFETENSORS_INVALID', /exceeds the 100 MB limit/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(0xffffffffffffffffn);
  rejects(() => parseSafetensorsBuffer(huge, f), 'SAFETENSORS_INVALID', /exceeds/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), f),
    'SAFETENSORS_INVALID', /overlaps/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), f),
    'SAFETENSORS_INVALID', /hole in data buffer between byte 4 and 8/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), f),
    'SAFETENSORS_INVALID', /"a" is 8 bytes but F32 \[3\] needs 12/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), f),
    'SAFETENSORS_INVALID', /unknown dtype "F31"/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), f),
    'SAFETENSORS_INVALID', /invalid shape/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), f),
    'SAFETENSORS_INVALID', /invalid data_offsets/);
  rejects(() => parseSafetensorsBuffer(rawSafetensors([1, 2], new Uint8Array(0)), f), 'SAFETENSORS_INVALID', /does not start with|not a JSON object/);
  const notJson = Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')]);
  rejects(() => parseSafetensorsBuffer(notJson, f), 'SAFETENSORS_INVALID', /not valid JSON/);
  rejects(() => checkSafetensorsHeader({ __metadata__: { n: 1 } }, 0, f), 'SAFETENSORS_INVALID', /__metadata__.n is not a string/);
  // On disk, through the folder scan: the error names the file.
  const root = tmp();
  write(root, 'model.safetensors', good.subarray(0, 30));
  const err = await rejectsAsync(scanModelDir(root), 'SAFETENSORS_INVALID', /truncated/);
  assert.equal(err.file, join(root, 'model.safetensors'));
});

test('Git LFS pointers: parsed, validated, and checked against the local object when present', async () => {
  const content = Buffer.from('real weights');
  const ptr = Buffer.from(lfsPointer(content));
  assert.ok(looksLikeLfsPointer(ptr));
  assert.deepEqual(parseLfsPointer(ptr, 'p'), { oid: sha256(content), size: content.length, extra: {} });
  const withExt = `version https://git-lfs.github.com/spec/v1\next-0-foo sha256:${'a'.repeat(64)}\noid sha256:${sha256(content)}\nsize 12\n`;
  assert.deepEqual(parseLfsPointer(Buffer.from(withExt), 'p').extra, { 'ext-0-foo': `sha256:${'a'.repeat(64)}` });
  rejects(() => parseLfsPointer(Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n'), 'p'), 'LFS_POINTER_INVALID', /oid/);
  rejects(() => parseLfsPointer(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${'b'.repeat(64)}\n`), 'p'), 'LFS_POINTER_INVALID', /no "size"/);
  rejects(() => parseLfsPointer(Buffer.from(`version https://git-lfs.github.com/spec/v1\nsize 3\noid sha256:${'b'.repeat(64)}\n`), 'p'), 'LFS_POINTER_INVALID', /sorted/);
  rejects(() => parseLfsPointer(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${'b'.repeat(64)}\nsize -3\n`), 'p'), 'LFS_POINTER_INVALID', /size/);
  rejects(() => parseLfsPointer(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${'b'.repeat(64)}\nsize 3`), 'p'), 'LFS_POINTER_INVALID', /newline/);
  assert.equal(looksLikeLfsPointer(Buffer.from('hello')), false);

  const root = modelRepo();
  const weights = tinySafetensors();
  write(root, 'big.safetensors', lfsPointer(weights)); // object absent
  write(root, 'present.bin', lfsPointer(content));
  write(root, lfsObjectPath(sha256(content)), content);
  const pred = await scanModelDir(root);
  const big = pred.files.find((f) => f.path === 'big.safetensors')!;
  assert.deepEqual(big.lfs, { oid: sha256(weights), size: weights.length, object: 'absent' });
  assert.equal(big.safetensors, undefined);
  assert.equal(big.sha256, sha256(lfsPointer(weights)));
  assert.equal(pred.files.find((f) => f.path === 'present.bin')!.lfs!.object, 'verified');
  assert.equal(pred.totals.lfsPointers, 2);
  assert.ok(!pred.files.some((f) => f.path.startsWith('.git/')));
  // A local object that does not match its pointer is caught.
  write(root, lfsObjectPath(sha256(content)), Buffer.from('tampered!!!!'));
  await rejectsAsync(scanModelDir(root), 'DIGEST_MISMATCH', /present\.bin/);
  // A malformed pointer in the tree is an error naming the file.
  rmSync(join(root, '.git'), { recursive: true });
  write(root, 'broken.bin', 'version https://git-lfs.github.com/spec/v1\noid md5:00\nsize 1\n');
  const e = await rejectsAsync(scanModelDir(root), 'LFS_POINTER_INVALID');
  assert.equal(e.file, join(root, 'broken.bin'));
});

test('model card front matter: fields, and broken YAML is a clear error', () => {
  const card = parseModelCard(readFileSync(join(modelRepo(), 'README.md'), 'utf8'))!;
  assert.equal(card.license, 'mit');
  assert.deepEqual(card.datasets, ['german-credit']);
  assert.deepEqual(card.baseModel, ['none/tiny-base']);
  assert.deepEqual(card.tags, ['tabular-classification', 'credit']);
  assert.equal((card.modelIndex![0] as { name: string }).name, 'credit-risk');
  assert.equal(parseModelCard('# no front matter\n'), undefined);
  rejects(() => parseModelCard('---\nlicense: mit\ntags: [a, b\n---\n', 'README.md'), 'MODEL_CARD_INVALID', /not valid YAML \(line \d+\)/);
  rejects(() => parseModelCard('---\nlicense: mit\nlicense: apache-2.0\n---\n'), 'MODEL_CARD_INVALID', /not valid YAML/);
  rejects(() => parseModelCard('---\nlicense: mit\n'), 'MODEL_CARD_INVALID', /no closing/);
  rejects(() => parseModelCard('---\n- a\n- b\n---\n'), 'MODEL_CARD_INVALID', /mapping/);
  rejects(() => parseModelCard('---\nlicense: [mit]\n---\n'), 'MODEL_CARD_INVALID', /"license" must be a string/);
  rejects(() => parseModelCard('---\nmodel-index: {a: 1}\n---\n'), 'MODEL_CARD_INVALID', /model-index/);
});

test('license: HF ids map to SPDX case-insensitively; other falls back to license_link / LICENSE', () => {
  assert.equal(hfLicenseToSpdx('MIT'), 'MIT');
  assert.equal(hfLicenseToSpdx('mit'), 'MIT');
  assert.equal(hfLicenseToSpdx('Apache-2.0'), 'Apache-2.0');
  assert.equal(hfLicenseToSpdx('bsd-3-clause'), 'BSD-3-Clause');
  assert.equal(hfLicenseToSpdx('CC-BY-4.0'), 'CC-BY-4.0');
  assert.equal(hfLicenseToSpdx('openrail'), 'LicenseRef-hf-openrail');
  assert.equal(hfLicenseToSpdx('llama2'), 'LicenseRef-hf-llama2');
  assert.equal(hfLicenseToSpdx('other'), undefined);
  assert.equal(identifyLicenseText(MIT_TEXT), 'MIT');
  assert.equal(identifyLicenseText('                                 Apache License\n                           Version 2.0, January 2004\n'), 'Apache-2.0');
  assert.equal(identifyLicenseText('All rights reserved.'), 'NOASSERTION');
  const files = (m: Record<string, string>) => (n: string) => m[n];
  const card = (fm: string) => parseModelCard(`---\n${fm}\n---\n`);
  assert.deepEqual(resolveModelLicense(card('license: MIT'), files({})), { spdxId: 'MIT', source: 'README.md front matter', file: 'README.md', raw: 'MIT' });
  const viaLink = resolveModelLicense(card('license: other\nlicense_name: custom\nlicense_link: LICENSE.md'), files({ 'LICENSE.md': MIT_TEXT }));
  assert.equal(viaLink.spdxId, 'MIT');
  assert.equal(viaLink.source, 'LICENSE');
  assert.equal(viaLink.file, 'LICENSE.md');
  const viaFile = resolveModelLicense(card('license: other\nlicense_link: https://example.com/l'), files({ LICENSE: MIT_TEXT }));
  assert.deepEqual([viaFile.spdxId, viaFile.file, viaFile.link], ['MIT', 'LICENSE', 'https://example.com/l']);
  assert.equal(resolveModelLicense(card('license: other\nlicense_name: acme-model-license'), files({})).spdxId, 'LicenseRef-acme-model-license');
  assert.deepEqual(resolveModelLicense(undefined, files({})), { spdxId: 'NOASSERTION', source: 'none' });
  assert.equal(resolveModelLicense(undefined, files({ 'LICENSE.txt': MIT_TEXT })).file, 'LICENSE.txt');
});

test('sharded hashing: shard boundaries and digests as model_signing computes them', async () => {
  assert.deepEqual(shardRanges(8, 2), [{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 4, end: 6 }, { start: 6, end: 8 }]);
  assert.deepEqual(shardRanges(9, 2).at(-1), { start: 8, end: 9 });
  assert.deepEqual(shardRanges(2, 2), [{ start: 0, end: 2 }]);
  assert.deepEqual(shardRanges(0, 2), []);
  const root = tmp();
  const data = Buffer.alloc(10_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  write(root, 'weights/w.bin', data);
  write(root, 'small.txt', 'x');
  const pred = await scanModelDir(root, { shardSize: 3000, concurrency: 2 });
  const rec = pred.files.find((f) => f.path === 'weights/w.bin')!;
  assert.equal(rec.sha256, sha256(data));
  assert.deepEqual(rec.shards, [0, 3000, 6000, 9000].map((s) => {
    const e = Math.min(s + 3000, 10_000);
    return { name: `weights/w.bin:${s}:${e}`, sha256: sha256(data.subarray(s, e)) };
  }));
  assert.equal(pred.files.find((f) => f.path === 'small.txt')!.shards, undefined);
  assert.equal(pred.hashing.shardSize, 3000);
});

test('model folder scan: full predicate, schema-valid, include/exclude globs, symlinks refused', async () => {
  const root = modelRepo();
  write(root, 'extra/onnx/model.onnx', 'onnx bytes');
  const pred = await scanModelDir(root, { name: 'credit-risk' });
  assert.equal(pred.name, 'credit-risk');
  assert.deepEqual(pred.files.map((f) => f.path), ['README.md', 'config.json', 'extra/onnx/model.onnx', 'model.safetensors']);
  const st = pred.files.find((f) => f.path === 'model.safetensors')!;
  assert.equal(st.sha256, sha256(tinySafetensors()));
  assert.deepEqual(st.safetensors!.dtypes, { F32: 1, I64: 1 });
  assert.deepEqual(pred.totals, { files: 4, bytes: pred.files.reduce((a, f) => a + f.size, 0), lfsPointers: 0, safetensorsFiles: 1, tensorCount: 2, parameterCount: 9, dtypes: { F32: 1, I64: 1 } });
  assert.deepEqual(pred.license, { spdxId: 'MIT', source: 'README.md front matter', file: 'README.md', raw: 'mit' });
  assert.deepEqual(pred.config, { modelType: 'logistic', architectures: ['LogisticRegression'] });
  assert.deepEqual(pred.modelCard!.datasets, ['german-credit']);
  const { validatePredicate } = await import('@custody/engine');
  await validatePredicate(plugin, { predicateType: MODEL_PREDICATE_TYPE, predicate: JSON.parse(JSON.stringify(pred)) });
  await rejectsAsync(validatePredicate(plugin, { predicateType: MODEL_PREDICATE_TYPE, predicate: { ...pred, license: { spdxId: 'MIT' } } as never }), 'PREDICATE_INVALID');
  const only = await scanModelDir(root, { include: ['*.safetensors', '*.json'], exclude: ['extra'] });
  assert.deepEqual(only.files.map((f) => f.path), ['config.json', 'model.safetensors']);
  const excluded = await scanModelDir(root, { exclude: ['extra'] });
  assert.ok(!excluded.files.some((f) => f.path.startsWith('extra/')));
  symlinkSync('/etc/hostname', join(root, 'link'));
  await rejectsAsync(scanModelDir(root), 'FILE_UNREADABLE', /symbolic link.*link/);
  write(root, 'config.json', '{oops');
  rmSync(join(root, 'link'));
  await rejectsAsync(scanModelDir(root), 'MALFORMED_JSON', /config\.json/);
  await rejectsAsync(scanModelDir(join(root, 'nope')), 'FILE_NOT_FOUND');
});

test('path ordering follows Python PurePosixPath (component-wise)', async () => {
  assert.ok(comparePosixPaths('a/b', 'a.b') < 0); // plain string order would say the opposite
  assert.ok(comparePosixPaths('a', 'a/b') < 0);
  const root = tmp();
  write(root, 'a.b', '1');
  write(root, 'a/b', '2');
  assert.deepEqual((await listModelFiles(root)).map((f) => f.path), ['a/b', 'a.b']);
});

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
}

test('fetch-model: clone at a pinned commit, only the selected files', async () => {
  const hub = modelRepo();
  write(hub, 'pytorch_model.bin', 'pickle! not wanted');
  git(hub, 'init', '-q', '-b', 'main');
  git(hub, 'add', '.');
  git(hub, 'commit', '-q', '-m', 'v1');
  const v1 = git(hub, 'rev-parse', 'HEAD');
  write(hub, 'config.json', '{"model_type":"changed"}');
  git(hub, 'commit', '-q', '-am', 'v2');
  const dest = join(tmp(), 'model');
  const r = await fetchModelRepo({ url: hub, revision: v1, dest, include: ['*.safetensors', '*.json', 'README.md'], exclude: ['*.bin'] });
  assert.equal(r.commit, v1);
  assert.deepEqual(r.files.sort(), ['README.md', 'config.json', 'model.safetensors']);
  assert.equal(JSON.parse(readFileSync(join(dest, 'config.json'), 'utf8')).model_type, 'logistic');
  assert.throws(() => readFileSync(join(dest, 'pytorch_model.bin')));
  assert.equal(git(dest, 'rev-parse', 'HEAD'), v1);
  await rejectsAsync(fetchModelRepo({ url: hub, revision: 'f'.repeat(40), dest: join(tmp(), 'm') }), 'MODEL_FETCH_FAILED', /not found/);
  await rejectsAsync(fetchModelRepo({ url: join(hub, 'missing'), revision: v1, dest: join(tmp(), 'm') }), 'MODEL_FETCH_FAILED', /git clone failed/);
  await rejectsAsync(fetchModelRepo({ url: hub, revision: v1, dest }), 'MODEL_FETCH_FAILED', /not empty/);
  assert.equal(stripCredentials('https://user:tok@hub.example/m.git'), 'https://hub.example/m.git');
});

test('plugin through the engine: fetch in execute, predicate validated against its schema', async () => {
  const { runStep } = await import('@custody/engine');
  const hub = modelRepo();
  git(hub, 'init', '-q', '-b', 'main');
  git(hub, 'add', '.');
  git(hub, 'commit', '-q', '-m', 'v1');
  const commit = git(hub, 'rev-parse', 'HEAD');
  const workdir = tmp();
  const result = await runStep({
    stepName: 'fetch-model', workdir, noCommand: true, products: ['.'],
    plugins: [{ plugin, options: { dir: 'model', url: `file://${hub}`, revision: commit }, source: 'built-in' }],
  });
  assert.equal(result.predicates.length, 1);
  const emitted = result.predicates[0]!.predicate;
  assert.equal(emitted.predicateType, MODEL_PREDICATE_TYPE);
  const p = emitted.predicate as { source: { commit: string; uri: string }; license: { spdxId: string }; files: { path: string }[] };
  assert.equal(p.source.commit, commit);
  assert.equal(p.license.spdxId, 'MIT');
  assert.ok(p.files.some((f) => f.path === 'model.safetensors'));
});
