import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isCustodyError } from '@custody/core';
import { runTrain, TRAIN_PRODUCTS } from '../src/train.ts';
import { parseArff } from '../src/arff.ts';
import { BASE_MODEL_FEATURES, createHub, fetchModel } from '../src/hub.ts';
import { fetchData, GERMAN_CREDIT_SHA256 } from '../src/fetch-data.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/safetensors.ts';
import { sha256Hex } from '../src/files.ts';

const code = (c: string) => (e: unknown) => isCustodyError(e) && e.code === c;

/** Independent reading of the ARFF data rows: [personal_status, age, class] per row. */
function referenceRows(arff: string): { status: string; age: number; cls: string }[] {
  const data = arff.split('\n@data\n')[1].split('\n').filter((l) => l.trim() && !l.startsWith('%'));
  return data.map((line) => {
    const cells: string[] = [];
    for (const m of line.matchAll(/'([^']*)'|([^,]+)/g)) cells.push(m[1] ?? m[2]);
    assert.equal(cells.length, 21, line);
    return { status: cells[8], age: Number(cells[12]), cls: cells[20] };
  });
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'custody-train-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await fetchData({ out: join(dir, 'data') });
  return dir;
}

test('fetch-data: copies the pinned German Credit ARFF with its attribution', async (t) => {
  const dir = await setup(t);
  const bytes = await readFile(join(dir, 'data', 'credit-g.arff'));
  assert.equal(sha256Hex(bytes), GERMAN_CREDIT_SHA256);
  assert.match(await readFile(join(dir, 'data', 'SOURCE.md'), 'utf8'), /Hofmann/);
  await mkdir(join(dir, 'changed'));
  await writeFile(join(dir, 'changed', 'credit-g.arff'), bytes.toString('utf8').replace("'<0',6,", "'<0',7,"));
  await assert.rejects(fetchData({ out: join(dir, 'x'), source: join(dir, 'changed') }), code('DIGEST_MISMATCH'));
  const any = await fetchData({ out: join(dir, 'y'), source: join(dir, 'changed'), expectedSha256: null });
  assert.notEqual(any.sha256, GERMAN_CREDIT_SHA256);
});

test('train: deterministic products, consistent metrics, predictions for the bias test', async (t) => {
  const dir = await setup(t);
  const first = await runTrain({ data: join(dir, 'data'), out: join(dir, 'm1') });
  const second = await runTrain({ data: join(dir, 'data', 'credit-g.arff'), out: join(dir, 'm2') });
  t.diagnostic(`training time ${first.trainMs.toFixed(0)} ms / ${second.trainMs.toFixed(0)} ms`);
  assert.deepEqual(first.files, [...TRAIN_PRODUCTS]);
  for (const f of TRAIN_PRODUCTS) {
    assert.equal(sha256Hex(await readFile(join(dir, 'm1', f))), sha256Hex(await readFile(join(dir, 'm2', f))), `${f} is byte-identical across runs`);
  }
  const other = await runTrain({ data: join(dir, 'data'), out: join(dir, 'm3'), seed: 7 });
  assert.notEqual(sha256Hex(await readFile(join(dir, 'm3', 'model.safetensors'))), sha256Hex(await readFile(join(dir, 'm1', 'model.safetensors'))), 'another seed, another split');
  assert.ok(other.model.metrics.accuracy > 0.6);

  // Weights: F32 tensors with contiguous offsets; 63 features like the base model.
  const weightsBytes = await readFile(join(dir, 'm1', 'model.safetensors'));
  const headerLen = Number(weightsBytes.readBigUInt64LE(0));
  const header = JSON.parse(weightsBytes.subarray(8, 8 + headerLen).toString());
  const tensors = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
  tensors.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let offset = 0;
  for (const [name, info] of tensors) {
    assert.equal(info.dtype, 'F32', name);
    assert.equal(info.data_offsets[0], offset, `${name} starts where the previous ends`);
    offset = info.data_offsets[1];
    assert.equal(offset - info.data_offsets[0], 4 * info.shape.reduce((a, b) => a * b, 1));
  }
  assert.equal(8 + headerLen + offset, weightsBytes.length);
  assert.deepEqual(header['linear.weight'].shape, [1, BASE_MODEL_FEATURES]);
  assert.deepEqual(header['scaler.mean'].shape, [7]);

  // predictions.csv: recompute the test metrics and the sensitive attributes independently.
  const arff = await readFile(join(dir, 'data', 'credit-g.arff'), 'utf8');
  const ref = referenceRows(arff);
  assert.equal(ref.length, 1000);
  const lines = (await readFile(join(dir, 'm1', 'predictions.csv'), 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'id,label,prediction,score,sex,age');
  const rows = lines.slice(1).map((l) => l.split(','));
  assert.equal(rows.length, 300);
  let correct = 0;
  let tp = 0, predictedPositive = 0, positives = 0;
  const ids = new Set<number>();
  for (const [id, label, prediction, score, sex, age] of rows) {
    const r = ref[Number(id)];
    ids.add(Number(id));
    assert.equal(label, r.cls === 'good' ? '1' : '0', `label of row ${id}`);
    assert.equal(sex, r.status.startsWith('female') ? 'female' : 'male', `sex of row ${id}`);
    assert.equal(Number(age), r.age);
    assert.equal(prediction, Number(score) >= 0.5 ? '1' : '0');
    if (label === prediction) correct++;
    if (label === '1') positives++;
    if (prediction === '1') predictedPositive++;
    if (label === '1' && prediction === '1') tp++;
  }
  assert.equal(ids.size, 300, 'distinct test rows');
  const metrics = JSON.parse(await readFile(join(dir, 'm1', 'metrics.json'), 'utf8'));
  assert.deepEqual(Object.keys(metrics), ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss']);
  assert.equal(metrics.accuracy, Number((correct / 300).toFixed(4)));
  assert.equal(metrics.precision, Number((tp / predictedPositive).toFixed(4)));
  assert.equal(metrics.recall, Number((tp / positives).toFixed(4)));
  assert.equal(first.model.metrics.n_train, 700);
  assert.ok(metrics.accuracy >= 0.7 && metrics.accuracy <= 0.85, `accuracy ${metrics.accuracy} is what logistic regression reaches on German Credit`);
  assert.ok(metrics.roc_auc > 0.7);
  const females = rows.filter((r) => r[4] === 'female').length;
  assert.ok(females > 50 && females < 150, 'both sexes are represented in the test split');

  // Model card: MIT license and the same metrics in model-index.
  const card = await readFile(join(dir, 'm1', 'README.md'), 'utf8');
  const front = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]);
  assert.equal(front.license, 'mit');
  assert.deepEqual(front.datasets, ['german-credit']);
  const cardMetrics = Object.fromEntries(front['model-index'][0].results[0].metrics.map((m: { type: string; value: number }) => [m.type, m.value]));
  assert.equal(cardMetrics.accuracy, metrics.accuracy);
  assert.equal(cardMetrics.roc_auc, metrics.roc_auc);
});

test('train: starts from the fetched base model; a base of the wrong width is refused', async (t) => {
  const dir = await setup(t);
  const hub = await createHub({ dir: join(dir, 'hub') });
  await fetchModel({ url: hub.url, revision: hub.revision, out: join(dir, 'base') });
  const r = await runTrain({ data: join(dir, 'data'), out: join(dir, 'model'), baseModel: join(dir, 'base') });
  assert.equal(r.model.options.initializedFromBase, true);
  const front = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(await readFile(join(dir, 'model', 'README.md'), 'utf8'))![1]);
  assert.equal(front.base_model, 'custody-hub/credit-base');
  const w = decodeSafetensors(await readFile(join(dir, 'model', 'model.safetensors'))).tensors['linear.weight'];
  assert.equal(w.data.length, BASE_MODEL_FEATURES);

  await mkdir(join(dir, 'narrow'));
  await writeFile(join(dir, 'narrow', 'model.safetensors'), encodeSafetensors({ 'linear.weight': { shape: [1, 5], data: new Float32Array(5) }, 'linear.bias': { shape: [1], data: new Float32Array(1) } }));
  await assert.rejects(runTrain({ data: join(dir, 'data'), out: join(dir, 'x'), baseModel: join(dir, 'narrow') }), code('SAFETENSORS_INVALID'));
});

test('arff: malformed input names the line', () => {
  const header = "@relation r\n@attribute a numeric\n@attribute b {x,'y z'}\n@data\n";
  assert.deepEqual(parseArff(header + "1,'y z'\n2,x\n").rows, [[1, 'y z'], [2, 'x']]);
  assert.throws(() => parseArff(header + '1,x,3\n'), (e: unknown) => isCustodyError(e) && e.code === 'DATASET_INVALID' && /line 5/.test(e.message));
  assert.throws(() => parseArff(header + 'q,x\n'), code('DATASET_INVALID'));
  assert.throws(() => parseArff(header + '1,w\n'), code('DATASET_INVALID'));
  assert.throws(() => parseArff("@relation r\n@attribute a numeric\n"), code('DATASET_INVALID'));
});
