import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isCustodyError } from '@custody/core';
import { BASE_MODEL_FEATURES, createHub, fetchModel } from '../src/hub.ts';
import { decodeSafetensors } from '../src/safetensors.ts';
import { execFileSync } from 'node:child_process';

const code = (c: string) => (e: unknown) => isCustodyError(e) && e.code === c;

test('hub: a deterministic bare repository whose pinned revision clones to a Hugging Face-style model', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-hub-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await createHub({ dir: join(dir, 'a') });
  const b = await createHub({ dir: join(dir, 'b') });
  assert.match(a.revision, /^[0-9a-f]{40}$/);
  assert.equal(a.revision, b.revision, 'same content, identity and dates → same commit id');
  assert.deepEqual(a.files, ['README.md', 'config.json', 'model.safetensors']);
  const bare = execFileSync('git', ['--git-dir', a.path, 'rev-parse', 'refs/heads/main', 'refs/tags/v1.0', '--is-bare-repository'], { encoding: 'utf8' });
  assert.deepEqual(bare.trim().split('\n'), [a.revision, a.revision, 'true']);

  const out = join(dir, 'clone');
  const fetched = await fetchModel({ url: a.url, revision: a.revision, out });
  assert.equal(fetched.revision, a.revision);
  assert.deepEqual((await readdir(out)).sort(), ['README.md', 'config.json', 'model.safetensors'], '.git removed');
  const card = await readFile(join(out, 'README.md'), 'utf8');
  const front = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]);
  assert.equal(front.license, 'mit');
  assert.deepEqual(front.datasets, ['german-credit']);
  assert.ok(front.tags.includes('tabular-classification'));
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(config.num_features, BASE_MODEL_FEATURES);
  const st = decodeSafetensors(await readFile(join(out, 'model.safetensors')));
  assert.deepEqual(st.tensors['linear.weight'].shape, [1, BASE_MODEL_FEATURES]);

  const apache = await createHub({ dir: join(dir, 'c'), license: 'apache-2.0' });
  assert.notEqual(apache.revision, a.revision, 'a different license is a different commit');
  await assert.rejects(createHub({ dir: join(dir, 'a') }), code('USAGE'), 'existing repository without overwrite');
  const again = await createHub({ dir: join(dir, 'a'), overwrite: true });
  assert.equal(again.revision, a.revision);
});

test('hub: fetchModel refuses branch names and unknown revisions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-hub-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hub = await createHub({ dir });
  await assert.rejects(fetchModel({ url: hub.url, revision: 'main', out: join(dir, 'x') }), code('USAGE'));
  await assert.rejects(fetchModel({ url: hub.url, revision: '0'.repeat(40), out: join(dir, 'y') }), code('MODEL_FETCH_FAILED'));
  await assert.rejects(fetchModel({ url: `file://${dir}/missing.git`, revision: hub.revision, out: join(dir, 'z') }), code('MODEL_FETCH_FAILED'));
});
