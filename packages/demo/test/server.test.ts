import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fetchData } from '../src/fetch-data.ts';
import { runTrain } from '../src/train.ts';
import { buildImage } from '../src/oci/image.ts';
import { extractImageFiles } from '../src/oci/layout.ts';
import { parseArff } from '../src/arff.ts';
import { sha256File } from '../src/files.ts';

test('inference server from the image answers with the scores train recorded', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await fetchData({ out: join(dir, 'data') });
  await runTrain({ data: join(dir, 'data'), out: join(dir, 'model') });
  await buildImage({ modelDir: join(dir, 'model'), out: join(dir, 'image'), builder: 'custody' });
  await extractImageFiles(join(dir, 'image'), join(dir, 'rootfs'));

  const child = spawn(process.execPath, [join(dir, 'rootfs', 'app', 'server.mjs')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODEL_DIR: join(dir, 'rootfs', 'app', 'model') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGTERM'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line.toString())?.[1];
  assert.ok(url, line.toString());

  const health = await (await fetch(`${url}/healthz`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.weights_sha256, await sha256File(join(dir, 'model', 'model.safetensors')));

  const data = parseArff(await readFile(join(dir, 'data', 'credit-g.arff'), 'utf8'));
  const csv = (await readFile(join(dir, 'model', 'predictions.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
  const sample = csv.slice(0, 25);
  const records = sample.map(([id]) => Object.fromEntries(data.attributes.filter((a) => a.name !== 'class').map((a) => [a.name, data.rows[Number(id)][data.attributes.indexOf(a)]])));
  const res = await fetch(`${url}/predict`, { method: 'POST', body: JSON.stringify(records), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  const { predictions } = (await res.json()) as { predictions: { score: number; prediction: number; label: string }[] };
  predictions.forEach((p, i) => {
    assert.ok(Math.abs(p.score - Number(sample[i][3])) < 1e-6, `row ${sample[i][0]}: ${p.score} vs ${sample[i][3]}`);
    assert.equal(String(p.prediction), sample[i][2]);
    assert.equal(p.label, p.prediction ? 'good' : 'bad');
  });
  const bad = await fetch(`${url}/predict`, { method: 'POST', body: JSON.stringify({ age: 'old' }) });
  assert.equal(bad.status, 400);
});
