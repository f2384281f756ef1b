// Reads a predictions file and produces the bias-metrics and test-result predicates.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CustodyError } from '@custody/core';
import { detectFormat, parseTable, type DatasetFormat } from '@custody/plugin-dataset';
import {
  attributeMetrics, checkThresholds, classify, parseSensitiveSpec, parseThreshold, METRIC_NAMES,
  type AttributeMetrics, type SensitiveSpec, type Threshold, type ThresholdOutcome,
} from './metrics.ts';

export const BIAS_METRICS_PREDICATE_TYPE = 'https://custody.dev/attestation/bias-metrics/v0.1';
export const TEST_RESULT_PREDICATE_TYPE = 'https://in-toto.io/attestation/test-result/v0.1';
/** The four-fifths rule, used when no threshold is configured. */
export const DEFAULT_THRESHOLDS = ['disparateImpact>=0.8'];

export interface BiasOptions {
  label: string;
  prediction: string;
  /** Favorable outcome; inferred for 0/1, true/false and yes/no columns. */
  positive?: string;
  sensitive: string[];
  thresholds?: string[];
  warnThresholds?: string[];
  format?: DatasetFormat;
}

export interface BiasMetricsPredicate {
  predictions: { name: string; digest: { sha256: string } };
  rows: number;
  label: string;
  prediction: string;
  positive: string;
  attributes: AttributeMetrics[];
  /** attribute → metric → value (null when not computable), for short policy rules. */
  metrics: Record<string, Record<string, number | null>>;
  thresholds: ThresholdOutcome[];
}

export interface TestResultPredicate {
  result: 'PASSED' | 'WARNED' | 'FAILED';
  configuration: { name: string; digest: { sha256: string }; annotations: Record<string, unknown> }[];
  url?: string;
  passedTests: string[];
  warnedTests: string[];
  failedTests: string[];
}

function inferPositive(values: Set<string>, file: string): string {
  for (const [pos, neg] of [['1', '0'], ['true', 'false'], ['yes', 'no'], ['1.0', '0.0']] as const) {
    if ([...values].every((v) => v === pos || v === neg)) return pos;
  }
  throw new CustodyError('USAGE', `cannot tell the favorable outcome among ${JSON.stringify([...values].slice(0, 5))}: set --positive`, { file });
}

export function evaluateBias(bytes: Buffer, fileName: string, opts: BiasOptions): { metrics: BiasMetricsPredicate; testResult: TestResultPredicate } {
  const format = opts.format ?? detectFormat(fileName);
  if (format !== 'csv' && format !== 'jsonl' && format !== 'arff') {
    throw new CustodyError('PREDICTIONS_INVALID', 'predictions must be a .csv or .jsonl file (or set format)', { file: fileName });
  }
  if (opts.sensitive.length === 0) throw new CustodyError('USAGE', 'bias: give at least one --sensitive attribute (e.g. sex=male, age>25)');
  const specs: SensitiveSpec[] = opts.sensitive.map(parseSensitiveSpec);
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new CustodyError('USAGE', `sensitive attribute "${s.name}" given twice (name them: sex:personal_status^=male)`);
    names.add(s.name);
  }
  const thresholds: Threshold[] = [
    ...(opts.thresholds ?? (opts.warnThresholds?.length ? [] : DEFAULT_THRESHOLDS)).map((t) => parseThreshold(t)),
    ...(opts.warnThresholds ?? []).map((t) => parseThreshold(t, true)),
  ];
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CustodyError('PREDICTIONS_INVALID', 'predictions file is not UTF-8 text', { file: fileName });
  }
  let table;
  try {
    table = parseTable(text, fileName, format);
  } catch (e) {
    if (e instanceof CustodyError && e.code === 'DATASET_INVALID') throw new CustodyError('PREDICTIONS_INVALID', e.message, { file: fileName, cause: e });
    throw e;
  }
  const col = (name: string, role: string) => {
    const j = table.columns.indexOf(name);
    if (j < 0) throw new CustodyError('PREDICTIONS_INVALID', `${role} column "${name}" not found (columns: ${table.columns.join(', ')})`, { file: fileName });
    return j;
  };
  const li = col(opts.label, 'label');
  const pi = col(opts.prediction, 'prediction');
  const si = specs.map((s) => col(s.column, 'sensitive'));
  if (table.rows.length === 0) throw new CustodyError('PREDICTIONS_INVALID', 'predictions file has no rows', { file: fileName });
  for (const [r, row] of table.rows.entries()) {
    for (const [j, role] of [[li, 'label'], [pi, 'prediction']] as const) {
      if (row[j] === null) throw new CustodyError('PREDICTIONS_INVALID', `line ${table.lines[r]}: ${role} is missing`, { file: fileName });
    }
  }
  const positive = opts.positive ?? inferPositive(new Set(table.rows.flatMap((r) => [r[li]!.trim(), r[pi]!.trim()])), fileName);
  const labels = table.rows.map((r) => r[li]!.trim() === positive);
  const preds = table.rows.map((r) => r[pi]!.trim() === positive);
  const attributes = specs.map((s, k) =>
    attributeMetrics(s, table.rows.map((row, i) => ({ label: labels[i]!, prediction: preds[i]!, group: classify(s, row[si[k]!]!) }))),
  );
  const outcomes = checkThresholds(attributes, thresholds);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const name = basename(fileName);
  const metrics: BiasMetricsPredicate = {
    predictions: { name, digest: { sha256: digest } },
    rows: table.rows.length,
    label: opts.label,
    prediction: opts.prediction,
    positive,
    attributes,
    metrics: Object.fromEntries(attributes.map((a) => [a.attribute, Object.fromEntries(METRIC_NAMES.map((m) => [m, a[m].value]))])),
    thresholds: outcomes,
  };
  const failed = outcomes.filter((o) => o.status === 'failed').map((o) => o.name);
  const warned = outcomes.filter((o) => o.status === 'warned').map((o) => o.name);
  const testResult: TestResultPredicate = {
    result: failed.length > 0 ? 'FAILED' : warned.length > 0 ? 'WARNED' : 'PASSED',
    configuration: [{
      name,
      digest: { sha256: digest },
      annotations: {
        label: opts.label, prediction: opts.prediction, positive,
        sensitive: attributes.map((a) => `${a.attribute}: ${a.privileged}`),
        thresholds: thresholds.map((t) => `${t.attribute ? `${t.attribute}.` : ''}${t.abs ? `abs(${t.metric})` : t.metric}${t.op}${t.value}${t.warn ? ' (warn)' : ''}`),
      },
    }],
    passedTests: outcomes.filter((o) => o.status === 'passed').map((o) => o.name),
    warnedTests: warned,
    failedTests: failed,
  };
  return { metrics, testResult };
}

export async function evaluateBiasFile(path: string, opts: BiasOptions) {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
    throw new CustodyError(code, `cannot read predictions: ${(e as Error).message}`, { file: path, cause: e });
  }
  return evaluateBias(bytes, path, opts);
}
