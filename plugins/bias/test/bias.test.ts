import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCustodyError } from '@custody/core';
import plugin, { evaluateBias, parseSensitiveSpec, parseThreshold, classify, BIAS_METRICS_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE } from '../src/index.ts';

const creditPath = fileURLToPath(new URL('../../../packages/demo/data/german-credit/credit-g.arff', import.meta.url));

// ---- the German Credit rows, read naively (this file has no commas inside quoted values) ----
interface Applicant { checking: string; duration: number; history: string; personalStatus: string; age: number; cls: string }
function applicants(): Applicant[] {
  const lines = readFileSync(creditPath, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.trim() === '@data') + 1;
  return lines.slice(start).filter((l) => l.trim() !== '' && !l.startsWith('%')).map((l) => {
    const f = l.split(',').map((x) => x.trim().replace(/^'(.*)'$/, '$1'));
    return { checking: f[0]!, duration: Number(f[1]), history: f[2]!, personalStatus: f[8]!, age: Number(f[12]), cls: f[20]! };
  });
}
/** A deterministic stand-in for a model: approve short loans or applicants without a checking account. */
function rule(a: Applicant): string {
  return a.checking === 'no checking' || a.duration <= 12 || a.history === 'critical/other existing credit' ? 'good' : 'bad';
}

// ---- reference: the definitions, written out as plainly as possible ----
function reference(rows: { label: string; pred: string; privileged: boolean }[]) {
  const rate = (num: number, den: number) => num / den;
  const stats = (priv: boolean) => {
    const g = rows.filter((r) => r.privileged === priv);
    const selected = g.filter((r) => r.pred === 'good').length;
    const actualGood = g.filter((r) => r.label === 'good');
    const actualBad = g.filter((r) => r.label === 'bad');
    return {
      count: g.length,
      sr: rate(selected, g.length),
      tpr: rate(actualGood.filter((r) => r.pred === 'good').length, actualGood.length),
      fpr: rate(actualBad.filter((r) => r.pred === 'good').length, actualBad.length),
    };
  };
  const p = stats(true);
  const u = stats(false);
  return {
    p, u,
    dpd: Math.abs(u.sr - p.sr),
    dpr: Math.min(u.sr, p.sr) / Math.max(u.sr, p.sr),
    eod: Math.max(Math.abs(u.tpr - p.tpr), Math.abs(u.fpr - p.fpr)),
    eopd: u.tpr - p.tpr,
    di: u.sr / p.sr,
  };
}

function close(actual: number | null, expected: number, what: string) {
  assert.ok(actual !== null, `${what} is null`);
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);
}

function predictionsCsv(): Buffer {
  const q = (s: string) => `"${s}"`;
  return Buffer.from(['class,predicted,personal_status,age', ...applicants().map((a) => [a.cls, rule(a), q(a.personalStatus), a.age].join(','))].join('\n') + '\n');
}

test('German Credit: metrics by sex (personal_status prefix) and age > 25 match the reference', () => {
  const people = applicants();
  assert.equal(people.length, 1000);
  const { metrics, testResult } = evaluateBias(predictionsCsv(), 'predictions.csv', {
    label: 'class', prediction: 'predicted', positive: 'good',
    sensitive: ['sex:personal_status^=male', 'age>25'],
    thresholds: ['disparateImpact>=0.8', 'abs(sex.equalOpportunityDifference)<=0.1', 'age.demographicParityDifference<=0.01'],
  });
  assert.equal(metrics.rows, 1000);
  const cases = {
    sex: reference(people.map((a) => ({ label: a.cls, pred: rule(a), privileged: a.personalStatus.startsWith('male') }))),
    age: reference(people.map((a) => ({ label: a.cls, pred: rule(a), privileged: a.age > 25 }))),
  };
  for (const [name, ref] of Object.entries(cases)) {
    const m = metrics.attributes.find((a) => a.attribute === name)!;
    assert.equal(m.groups.privileged.count, ref.p.count);
    assert.equal(m.groups.unprivileged.count, ref.u.count);
    assert.equal(m.excludedRows, 0);
    close(m.groups.privileged.selectionRate.value, ref.p.sr, `${name} SR priv`);
    close(m.groups.unprivileged.selectionRate.value, ref.u.sr, `${name} SR unpriv`);
    close(m.groups.privileged.truePositiveRate.value, ref.p.tpr, `${name} TPR priv`);
    close(m.groups.unprivileged.falsePositiveRate.value, ref.u.fpr, `${name} FPR unpriv`);
    close(m.demographicParityDifference.value, ref.dpd, `${name} DPD`);
    close(m.demographicParityRatio.value, ref.dpr, `${name} DPR`);
    close(m.equalizedOddsDifference.value, ref.eod, `${name} EOD`);
    close(m.equalOpportunityDifference.value, ref.eopd, `${name} EOpD`);
    close(m.disparateImpact.value, ref.di, `${name} DI`);
    close(metrics.metrics[name]!.disparateImpact!, ref.di, `${name} metrics map`);
  }
  assert.equal(cases.sex.p.count, 690); // 310 applicants are female in this dataset
  // One named test per threshold and attribute, with the status the reference implies.
  const expect = (ok: boolean) => (ok ? 'passed' : 'failed');
  const statuses = Object.fromEntries(metrics.thresholds.map((t) => [t.name, t.status]));
  assert.deepEqual(statuses, {
    'sex.disparateImpact >= 0.8': expect(cases.sex.di >= 0.8),
    'age.disparateImpact >= 0.8': expect(cases.age.di >= 0.8),
    'abs(sex.equalOpportunityDifference) <= 0.1': expect(Math.abs(cases.sex.eopd) <= 0.1),
    'age.demographicParityDifference <= 0.01': expect(cases.age.dpd <= 0.01),
  });
  assert.equal(testResult.result, Object.values(statuses).includes('failed') ? 'FAILED' : 'PASSED');
  assert.deepEqual([...testResult.passedTests, ...testResult.failedTests].sort(), Object.keys(statuses).sort());
  assert.deepEqual(testResult.warnedTests, []);
  assert.equal(testResult.configuration[0]!.name, 'predictions.csv');
  assert.match(testResult.configuration[0]!.digest.sha256, /^[0-9a-f]{64}$/);
});

test('a group with no members is not computable (null + reason), never NaN; its checks fail closed', () => {
  const { metrics, testResult } = evaluateBias(predictionsCsv(), 'p.csv', {
    label: 'class', prediction: 'predicted', positive: 'good', sensitive: ['age>200'], warnThresholds: ['demographicParityRatio>=0.8'], thresholds: ['disparateImpact>=0.8'],
  });
  const m = metrics.attributes[0]!;
  assert.equal(m.groups.privileged.count, 0);
  assert.deepEqual(m.groups.privileged.selectionRate, { value: null, reason: 'privileged group has no members' });
  for (const k of ['demographicParityDifference', 'demographicParityRatio', 'equalizedOddsDifference', 'equalOpportunityDifference', 'disparateImpact'] as const) {
    assert.equal(m[k].value, null, k);
    assert.match(m[k].reason!, /no members/);
  }
  assert.ok(!JSON.stringify(metrics).includes('NaN'));
  assert.equal(testResult.result, 'FAILED');
  assert.deepEqual(testResult.failedTests, ['age.disparateImpact >= 0.8']);
  assert.deepEqual(testResult.warnedTests, ['age.demographicParityRatio >= 0.8']);
  assert.match(metrics.thresholds[0]!.reason!, /not computable/);
});

test('JSONL predictions, 0/1 inferred, rates with zero denominators, missing values excluded', () => {
  const rows = [
    { y: 1, yhat: 1, g: 'a', age: 30 }, { y: 1, yhat: 0, g: 'a', age: 40 }, { y: 0, yhat: 1, g: 'a', age: null },
    { y: 1, yhat: 1, g: 'b', age: 20 }, { y: 1, yhat: 1, g: 'b', age: 'n/a' },
  ];
  const { metrics, testResult } = evaluateBias(Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n')), 'p.jsonl', { label: 'y', prediction: 'yhat', sensitive: ['g=a', 'age>=25'] });
  assert.equal(metrics.positive, '1');
  const g = metrics.attributes[0]!;
  assert.deepEqual([g.groups.privileged.count, g.groups.unprivileged.count], [3, 2]);
  close(g.groups.privileged.selectionRate.value, 2 / 3, 'SR a');
  close(g.groups.privileged.truePositiveRate.value, 1 / 2, 'TPR a');
  close(g.groups.privileged.falsePositiveRate.value, 1, 'FPR a');
  // group b has no negative labels: FPR and equalized odds are not computable, the rest is
  assert.equal(g.groups.unprivileged.falsePositiveRate.value, null);
  assert.match(g.groups.unprivileged.falsePositiveRate.reason!, /no negative labels/);
  assert.equal(g.equalizedOddsDifference.value, null);
  close(g.equalOpportunityDifference.value, 1 - 1 / 2, 'EOpD');
  close(g.disparateImpact.value, 1 / (2 / 3), 'DI');
  const age = metrics.attributes[1]!;
  assert.equal(age.excludedRows, 2); // null and "n/a"
  assert.deepEqual(testResult.passedTests.concat(testResult.failedTests).sort(), ['age.disparateImpact >= 0.8', 'g.disparateImpact >= 0.8']);
});

test('bad input: missing columns, missing values, ragged rows, bad specs', () => {
  const csv = Buffer.from('label,pred,sex\n1,1,m\n0,,f\n');
  const code = (fn: () => unknown, c: string, re: RegExp) =>
    assert.throws(fn, (e: unknown) => isCustodyError(e) && e.code === c && re.test(e.message) || assert.fail(String(e)));
  code(() => evaluateBias(csv, 'p.csv', { label: 'label', prediction: 'score', sensitive: ['sex=m'] }), 'PREDICTIONS_INVALID', /prediction column "score" not found \(columns: label, pred, sex\)/);
  code(() => evaluateBias(csv, 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['gender=m'] }), 'PREDICTIONS_INVALID', /sensitive column "gender" not found/);
  code(() => evaluateBias(csv, 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['sex=m'] }), 'PREDICTIONS_INVALID', /line 3: prediction is missing/);
  code(() => evaluateBias(Buffer.from('label,pred,sex\n1,1\n'), 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['sex=m'] }), 'PREDICTIONS_INVALID', /line 2: row has 2 field/);
  code(() => evaluateBias(Buffer.from('label,pred,sex\ngood,bad,m\n'), 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['sex=m'] }), 'USAGE', /--positive/);
  code(() => evaluateBias(csv, 'p.csv', { label: 'label', prediction: 'pred', sensitive: [] }), 'USAGE', /--sensitive/);
  code(() => evaluateBias(Buffer.from('label,pred,sex\n1,1,m\n'), 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['sex=m'], thresholds: ['age.disparateImpact>=0.8'] }), 'USAGE', /attribute "age"/);
  code(() => evaluateBias(Buffer.from('label,pred\n'), 'p.csv', { label: 'label', prediction: 'pred', sensitive: ['label=1'] }), 'PREDICTIONS_INVALID', /no rows/);
  code(() => parseSensitiveSpec('age>old'), 'USAGE', /needs a number/);
  code(() => parseSensitiveSpec('age'), 'USAGE', /expected/);
  code(() => parseThreshold('fairness>=1'), 'USAGE', /metrics:/);
  code(() => parseThreshold('abs(disparateImpact>=1'), 'USAGE', /expected/);
  assert.deepEqual(parseSensitiveSpec('sex:personal_status^=male'), { name: 'sex', column: 'personal_status', op: '^=', value: 'male' });
  assert.deepEqual(parseSensitiveSpec("sex='male single'"), { name: 'sex', column: 'sex', op: '=', value: 'male single' });
  assert.deepEqual(parseSensitiveSpec('age > 25'), { name: 'age', column: 'age', op: '>', value: '25' });
  assert.equal(classify(parseSensitiveSpec('personal_status^=male'), 'female single'), false);
  assert.equal(classify(parseSensitiveSpec('age>25'), '25'), false);
  assert.equal(classify(parseSensitiveSpec('age>=25'), '25'), true);
  assert.deepEqual(parseThreshold('abs(sex.equalOpportunityDifference) <= 0.1'), { attribute: 'sex', metric: 'equalOpportunityDifference', op: '<=', value: 0.1, abs: true, warn: false });
});

test('plugin through the engine: test-result and bias-metrics predicates, schema-valid', async () => {
  const { runStep } = await import('@custody/engine');
  const dir = mkdtempSync(join(tmpdir(), 'custody-bias-'));
  writeFileSync(join(dir, 'predictions.csv'), predictionsCsv());
  const r = await runStep({
    stepName: 'bias-test', workdir: dir, noCommand: true, products: ['.'],
    plugins: [{ plugin, options: { predictions: 'predictions.csv', label: 'class', prediction: 'predicted', positive: 'good', sensitive: ['sex:personal_status^=male', 'age>25'] }, source: 'built-in' }],
  });
  assert.deepEqual(r.predicates.map((p) => p.predicate.predicateType), [TEST_RESULT_PREDICATE_TYPE, BIAS_METRICS_PREDICATE_TYPE]);
  const tr = r.predicates[0]!.predicate.predicate as { passedTests: string[]; failedTests: string[] };
  assert.deepEqual([...tr.passedTests, ...tr.failedTests].sort(), ['age.disparateImpact >= 0.8', 'sex.disparateImpact >= 0.8']);
  await assert.rejects(runStep({ stepName: 's', workdir: dir, noCommand: true, plugins: [{ plugin, options: { predictions: 'predictions.csv' }, source: 'built-in' }] }),
    (e: unknown) => isCustodyError(e) && /label/.test(e.message));
});
