// Deterministic logistic regression on German Credit: one-hot nominal features, standardized
// numeric features (training-split statistics), seeded train/test split, full-batch gradient
// descent with L2. Same input + seed → byte-identical products on the same Node version.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { stringify as yamlStringify } from 'yaml';
import { parseArff, type ArffAttribute, type ArffData } from './arff.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { seededRandom, shuffledIndices } from './random.ts';
import { writeFileAtomic } from '@custody/store/atomic';

export const LABEL_ATTRIBUTE = 'class';
/** The favourable outcome (credit granted); label and prediction 1 mean this. */
export const POSITIVE_CLASS = 'good';

export interface TrainOptions {
  seed?: number;
  testFraction?: number;
  epochs?: number;
  learningRate?: number;
  l2?: number;
  /** Initial weights (from the base model); zeros/seeded small values otherwise. */
  init?: { weight: Float32Array; bias: number };
}

export interface FeatureEncoding {
  /** Input attributes in ARFF order (without the label). */
  attributes: ArffAttribute[];
  featureNames: string[];
  numericNames: string[];
  mean: number[];
  scale: number[];
}

export interface ClassificationMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  roc_auc: number;
  log_loss: number;
  train_accuracy: number;
  n_train: number;
  n_test: number;
}

export interface PredictionRow {
  id: number;
  label: 0 | 1;
  prediction: 0 | 1;
  score: number;
  sex: 'male' | 'female';
  age: number;
}

export interface TrainedModel {
  encoding: FeatureEncoding;
  weight: Float32Array;
  bias: number;
  metrics: ClassificationMetrics;
  predictions: PredictionRow[];
  options: Required<Omit<TrainOptions, 'init'>> & { initializedFromBase: boolean };
}

const DEFAULTS = { seed: 42, testFraction: 0.3, epochs: 400, learningRate: 0.2, l2: 0.001 };

function buildEncoding(data: ArffData, trainRows: number[]): FeatureEncoding {
  const attributes = data.attributes.filter((a) => a.name !== LABEL_ATTRIBUTE);
  const featureNames: string[] = [];
  const numericNames: string[] = [];
  const mean: number[] = [];
  const scale: number[] = [];
  for (const a of attributes) {
    const col = data.attributes.indexOf(a);
    if (a.type === 'numeric') {
      featureNames.push(a.name);
      numericNames.push(a.name);
      let s = 0;
      for (const r of trainRows) s += data.rows[r][col] as number;
      const m = s / trainRows.length;
      let v = 0;
      for (const r of trainRows) v += ((data.rows[r][col] as number) - m) ** 2;
      const sd = Math.sqrt(v / trainRows.length);
      mean.push(m);
      scale.push(sd > 0 ? sd : 1);
    } else {
      for (const value of a.values) featureNames.push(`${a.name}=${value}`);
    }
  }
  return { attributes, featureNames, numericNames, mean, scale };
}

/** Feature vector of one record (ARFF attribute name → value); used by training and the server. */
export function encodeRecord(encoding: FeatureEncoding, record: Record<string, string | number>): Float64Array {
  const x = new Float64Array(encoding.featureNames.length);
  let j = 0;
  let k = 0;
  for (const a of encoding.attributes) {
    const v = record[a.name];
    if (a.type === 'numeric') {
      x[j++] = ((v as number) - encoding.mean[k]) / encoding.scale[k];
      k++;
    } else {
      for (const value of a.values) x[j++] = v === value ? 1 : 0;
    }
  }
  return x;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

function rocAuc(labels: number[], scores: number[]): number {
  // Mann–Whitney U with average ranks for ties.
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    for (let t = i; t <= j; t++) ranks[idx[t]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const pos = labels.filter((l) => l === 1).length;
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  let rankSum = 0;
  labels.forEach((l, i) => {
    if (l === 1) rankSum += ranks[i];
  });
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

const round = (x: number, digits = 6) => Number(x.toFixed(digits));

export function trainCreditModel(data: ArffData, options: TrainOptions = {}): TrainedModel {
  const opts = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) if (options[k] !== undefined) opts[k] = options[k];
  const labelCol = data.attributes.findIndex((a) => a.name === LABEL_ATTRIBUTE);
  const statusCol = data.attributes.findIndex((a) => a.name === 'personal_status');
  const ageCol = data.attributes.findIndex((a) => a.name === 'age');
  if (labelCol < 0 || statusCol < 0 || ageCol < 0) {
    throw new CustodyError('DATASET_INVALID', 'the dataset needs the attributes class, personal_status and age (German Credit)');
  }
  const n = data.rows.length;
  const order = shuffledIndices(n, seededRandom(opts.seed));
  const nTest = Math.round(n * opts.testFraction);
  const testRows = order.slice(0, nTest).sort((a, b) => a - b);
  const trainRows = order.slice(nTest);
  const encoding = buildEncoding(data, trainRows);
  const d = encoding.featureNames.length;
  const recordOf = (r: number) => Object.fromEntries(data.attributes.map((a, i) => [a.name, data.rows[r][i]]));
  const X = trainRows.map((r) => encodeRecord(encoding, recordOf(r)));
  const y = trainRows.map((r) => (data.rows[r][labelCol] === POSITIVE_CLASS ? 1 : 0));

  const w = new Float64Array(d);
  let b = 0;
  if (options.init) {
    if (options.init.weight.length !== d) {
      throw new CustodyError('SAFETENSORS_INVALID', `base model has ${options.init.weight.length} weights, the data has ${d} features`);
    }
    w.set(options.init.weight);
    b = options.init.bias;
  }
  const grad = new Float64Array(d);
  const m = X.length;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    grad.fill(0);
    let gb = 0;
    for (let i = 0; i < m; i++) {
      const xi = X[i];
      let z = b;
      for (let j = 0; j < d; j++) z += w[j] * xi[j];
      const err = sigmoid(z) - y[i];
      for (let j = 0; j < d; j++) grad[j] += err * xi[j];
      gb += err;
    }
    for (let j = 0; j < d; j++) w[j] -= opts.learningRate * (grad[j] / m + opts.l2 * w[j]);
    b -= opts.learningRate * (gb / m);
  }
  // Evaluate with the float32 weights that are written, so the server reproduces the numbers.
  const weight = Float32Array.from(w);
  const bias = Math.fround(b);
  const score = (x: Float64Array) => {
    let z = bias;
    for (let j = 0; j < d; j++) z += weight[j] * x[j];
    return sigmoid(z);
  };
  let trainCorrect = 0;
  X.forEach((x, i) => {
    if ((score(x) >= 0.5 ? 1 : 0) === y[i]) trainCorrect++;
  });
  const predictions: PredictionRow[] = testRows.map((r) => {
    const s = score(encodeRecord(encoding, recordOf(r)));
    return {
      id: r,
      label: data.rows[r][labelCol] === POSITIVE_CLASS ? 1 : 0,
      prediction: s >= 0.5 ? 1 : 0,
      score: round(s),
      sex: String(data.rows[r][statusCol]).startsWith('female') ? 'female' : 'male',
      age: data.rows[r][ageCol] as number,
    };
  });
  let tp = 0, fp = 0, tn = 0, fn = 0, logLoss = 0;
  for (const p of predictions) {
    if (p.prediction === 1 && p.label === 1) tp++;
    else if (p.prediction === 1) fp++;
    else if (p.label === 0) tn++;
    else fn++;
    const s = Math.min(Math.max(p.score, 1e-12), 1 - 1e-12);
    logLoss -= p.label === 1 ? Math.log(s) : Math.log(1 - s);
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const metrics: ClassificationMetrics = {
    accuracy: round((tp + tn) / predictions.length, 4),
    precision: round(precision, 4),
    recall: round(recall, 4),
    f1: round(precision + recall ? (2 * precision * recall) / (precision + recall) : 0, 4),
    roc_auc: round(rocAuc(predictions.map((p) => p.label), predictions.map((p) => p.score)), 4),
    log_loss: round(logLoss / predictions.length, 4),
    train_accuracy: round(trainCorrect / m, 4),
    n_train: m,
    n_test: predictions.length,
  };
  return { encoding, weight, bias, metrics, predictions, options: { ...opts, initializedFromBase: !!options.init } };
}

export const MODEL_NAME = 'credit-risk-lr';

export function modelCard(model: TrainedModel, info: { baseModel?: string; datasetDigest?: string } = {}): string {
  const m = model.metrics;
  const front: Record<string, unknown> = {
    license: 'mit',
    library_name: 'custody-demo',
    pipeline_tag: 'tabular-classification',
    tags: ['tabular-classification', 'logistic-regression', 'credit-scoring', 'custody-demo'],
    datasets: ['german-credit'],
    ...(info.baseModel ? { base_model: info.baseModel } : {}),
    metrics: ['accuracy', 'f1', 'roc_auc'],
    'model-index': [
      {
        name: MODEL_NAME,
        results: [
          {
            task: { type: 'tabular-classification', name: 'Credit risk' },
            dataset: { type: 'german-credit', name: 'German Credit (Statlog)', split: 'test' },
            metrics: [
              { type: 'accuracy', value: m.accuracy },
              { type: 'precision', value: m.precision },
              { type: 'recall', value: m.recall },
              { type: 'f1', value: m.f1 },
              { type: 'roc_auc', value: m.roc_auc },
              { type: 'log_loss', value: m.log_loss },
            ],
          },
        ],
      },
    ],
  };
  return `---\n${yamlStringify(front)}---\n\n# ${MODEL_NAME}\n\n` +
    `Logistic regression predicting whether a German Credit applicant is a good credit risk ` +
    `(prediction 1 = \`${POSITIVE_CLASS}\`, the favourable outcome).\n\n` +
    `- Features: ${model.encoding.featureNames.length} (${model.encoding.numericNames.length} standardized numeric, the rest one-hot nominal)\n` +
    `- Training: full-batch gradient descent, ${model.options.epochs} epochs, learning rate ${model.options.learningRate}, ` +
    `L2 ${model.options.l2}, seed ${model.options.seed}, ${m.n_train} training / ${m.n_test} test rows` +
    `${model.options.initializedFromBase ? ', initialized from the base model' : ''}\n` +
    (info.datasetDigest ? `- Dataset sha256: ${info.datasetDigest}\n` : '') +
    `\n## Test metrics\n\n| metric | value |\n|---|---|\n` +
    ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss'].map((k) => `| ${k} | ${m[k as keyof ClassificationMetrics]} |`).join('\n') +
    `\n\n## Limitations and bias\n\nThe training data contains sex (via personal_status) and age. ` +
    `predictions.csv holds the test-split predictions with sex and age for a fairness test.\n`;
}

export function predictionsCsv(rows: PredictionRow[]): string {
  return 'id,label,prediction,score,sex,age\n' + rows.map((r) => `${r.id},${r.label},${r.prediction},${r.score},${r.sex},${r.age}`).join('\n') + '\n';
}

/** The files train writes, relative to its output folder. */
export const TRAIN_PRODUCTS = ['model.safetensors', 'config.json', 'README.md', 'predictions.csv', 'metrics.json'] as const;

export interface RunTrainOptions extends Omit<TrainOptions, 'init'> {
  /** ARFF file, or a folder holding exactly one *.arff. */
  data: string;
  out: string;
  /** Folder of the base model (config.json + model.safetensors), used as initialization. */
  baseModel?: string;
  /** Recorded in the card as base_model. */
  baseModelId?: string;
}

async function resolveArff(path: string): Promise<string> {
  const st = await stat(path).catch(() => {
    throw new CustodyError('FILE_NOT_FOUND', 'no such file or folder', { file: path });
  });
  if (!st.isDirectory()) return path;
  const arffs = (await readdir(path)).filter((f) => f.endsWith('.arff')).sort();
  if (arffs.length !== 1) throw new CustodyError('DATASET_INVALID', `expected one .arff file in the folder, found ${arffs.length}`, { file: path });
  return join(path, arffs[0]);
}

export async function runTrain(o: RunTrainOptions): Promise<{ model: TrainedModel; files: string[]; trainMs: number }> {
  const arffPath = await resolveArff(o.data);
  const arffBytes = await readFile(arffPath);
  const data = parseArff(arffBytes.toString('utf8'), arffPath);
  let init: TrainOptions['init'];
  let baseModelId = o.baseModelId;
  if (o.baseModel) {
    const stPath = join(o.baseModel, 'model.safetensors');
    const st = decodeSafetensors(await readFile(stPath).catch(() => {
      throw new CustodyError('FILE_NOT_FOUND', 'base model weights missing', { file: stPath });
    }), stPath);
    const weight = st.tensors['linear.weight'];
    const bias = st.tensors['linear.bias'];
    if (!weight || !bias) throw new CustodyError('SAFETENSORS_INVALID', 'base model has no linear.weight / linear.bias', { file: stPath });
    init = { weight: weight.data, bias: bias.data[0] };
    if (!baseModelId) {
      const cfg = JSON.parse(await readFile(join(o.baseModel, 'config.json'), 'utf8').catch(() => '{}')) as { _name_or_path?: string };
      baseModelId = cfg._name_or_path;
    }
  }
  const started = performance.now();
  const model = trainCreditModel(data, { ...o, init });
  const trainMs = performance.now() - started;
  const datasetDigest = createHash('sha256').update(arffBytes).digest('hex');
  await mkdir(o.out, { recursive: true });
  const enc = model.encoding;
  const weights = encodeSafetensors(
    {
      'linear.weight': { shape: [1, enc.featureNames.length], data: model.weight },
      'linear.bias': { shape: [1], data: Float32Array.of(model.bias) },
      'scaler.mean': { shape: [enc.mean.length], data: Float32Array.from(enc.mean) },
      'scaler.scale': { shape: [enc.scale.length], data: Float32Array.from(enc.scale) },
    },
    { format: 'pt', producer: 'custody-demo' },
  );
  const config = {
    _name_or_path: MODEL_NAME,
    architectures: ['LogisticRegression'],
    model_type: 'logistic-regression',
    num_features: enc.featureNames.length,
    positive_label: POSITIVE_CLASS,
    negative_label: 'bad',
    label_attribute: LABEL_ATTRIBUTE,
    threshold: 0.5,
    attributes: enc.attributes,
    feature_names: enc.featureNames,
    numeric_features: enc.numericNames,
  };
  // Flat {metric: value} on the test split: the shape the cyclonedx plugin's `performance` option reads.
  const { accuracy, precision, recall, f1, roc_auc, log_loss } = model.metrics;
  const metricsJson = { accuracy, precision, recall, f1, roc_auc, log_loss };
  const files: Record<string, string | Buffer> = {
    'model.safetensors': weights,
    'config.json': JSON.stringify(config, null, 2) + '\n',
    'README.md': modelCard(model, { baseModel: baseModelId, datasetDigest }),
    'predictions.csv': predictionsCsv(model.predictions),
    'metrics.json': JSON.stringify(metricsJson, null, 2) + '\n',
  };
  for (const [name, content] of Object.entries(files)) await writeFileAtomic(join(o.out, name), content);
  return { model, files: Object.keys(files), trainMs };
}
