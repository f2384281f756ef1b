import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCustodyError } from '@custody/core';
import { scanModelDir, encodeSafetensors } from '@custody/plugin-model';
import { describeDatasetFile } from '@custody/plugin-dataset';
import plugin, { buildMlBom, bomSchemaErrors, assertValidBom, isSpdxLicenseId, licenseEntry, modelIndexMetrics, CYCLONEDX_PREDICATE_TYPE, type BomFairnessInput } from '../src/index.ts';

const creditPath = fileURLToPath(new URL('../../../packages/demo/data/german-credit/credit-g.arff', import.meta.url));

function workspace(license = 'mit'): string {
  const dir = mkdtempSync(join(tmpdir(), 'custody-cdx-'));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'README.md'), `---
license: ${license}
pipeline_tag: tabular-classification
datasets: [german-credit]
tags: [credit]
model-index:
  - name: credit-risk
    results:
      - task: { type: tabular-classification }
        dataset: { name: German Credit, type: german-credit }
        metrics:
          - { type: accuracy, value: 0.745 }
---
# credit risk
`);
  writeFileSync(join(dir, 'model', 'config.json'), JSON.stringify({ model_type: 'logistic-regression', architectures: ['LogisticRegression'] }));
  writeFileSync(join(dir, 'model', 'model.safetensors'), encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [20], data: new Uint8Array(80) }, { name: 'b', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]));
  copyFileSync(creditPath, join(dir, 'credit-g.arff'));
  return dir;
}

const fairness: BomFairnessInput[] = [{
  attribute: 'sex', privileged: 'personal_status starts with "male"',
  demographicParityDifference: { value: 0.05 }, demographicParityRatio: { value: 0.93 }, equalizedOddsDifference: { value: 0.08 },
  equalOpportunityDifference: { value: -0.02 }, disparateImpact: { value: null },
  groups: { privileged: { selectionRate: { value: 0.7 } }, unprivileged: { selectionRate: { value: 0.65 } } },
}];

test('ML-BOM: model component with modelCard, data component, hashes, licenses, dependencies — valid CycloneDX 1.6', async () => {
  const dir = workspace();
  const model = await scanModelDir(join(dir, 'model'), { name: 'credit-risk' });
  const dataset = await describeDatasetFile(join(dir, 'credit-g.arff'), { name: 'credit-g.arff', license: 'CC-BY-4.0', sourceUrl: 'https://archive.ics.uci.edu/dataset/144' });
  const bom = buildMlBom({
    model, datasets: [dataset], fairness, approach: 'supervised', performance: [{ type: 'f1', value: 0.81 }],
    considerations: { useCases: ['credit scoring research'], technicalLimitations: ['trained on 1000 rows from 1994'] },
    timestamp: new Date('2026-11-26T08:00:00.123Z'), serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79',
  }) as any;
  assert.deepEqual(bomSchemaErrors(bom), []);
  assert.equal(bom.specVersion, '1.6');
  assert.equal(bom.metadata.timestamp, '2026-11-26T08:00:00Z');
  const m = bom.components.find((c: any) => c.type === 'machine-learning-model');
  assert.equal(m.name, 'credit-risk');
  assert.deepEqual(m.licenses, [{ license: { id: 'MIT' } }]);
  assert.deepEqual(m.modelCard.modelParameters, {
    approach: { type: 'supervised' }, task: 'tabular-classification', architectureFamily: 'logistic-regression',
    modelArchitecture: 'LogisticRegression', datasets: [{ ref: 'dataset:credit-g.arff' }],
  });
  const metrics = m.modelCard.quantitativeAnalysis.performanceMetrics;
  assert.deepEqual(metrics.slice(0, 2), [{ type: 'accuracy', value: '0.745', slice: 'dataset: German Credit' }, { type: 'f1', value: '0.81' }]);
  assert.ok(metrics.some((x: any) => x.type === 'demographicParityDifference' && x.value === '0.05' && /sex/.test(x.slice)));
  assert.ok(!metrics.some((x: any) => x.type === 'disparateImpact'), 'a not computable metric is left out, not written as null');
  assert.equal(m.modelCard.considerations.fairnessAssessments.length, 1);
  assert.match(m.modelCard.considerations.fairnessAssessments[0].harms, /disparate impact not computable/);
  const weights = m.components.find((c: any) => c.name === 'model.safetensors');
  assert.deepEqual(weights.hashes, [{ alg: 'SHA-256', content: model.files.find((f) => f.path === 'model.safetensors')!.sha256 }]);
  assert.ok(m.properties.some((p: any) => p.name === 'custody:model:parameterCount' && p.value === '21'));
  const data = bom.components.find((c: any) => c.type === 'data');
  assert.deepEqual(data.hashes, [{ alg: 'SHA-256', content: 'bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed' }]);
  assert.deepEqual(data.licenses, [{ license: { id: 'CC-BY-4.0' } }]);
  assert.equal(data.data[0].type, 'dataset');
  assert.equal(data.data[0].contents.url, 'https://archive.ics.uci.edu/dataset/144');
  assert.match(data.data[0].description, /1000 rows, 21 columns/);
  assert.deepEqual(bom.dependencies, [{ ref: 'model:credit-risk', dependsOn: ['dataset:credit-g.arff'] }, { ref: 'dataset:credit-g.arff', dependsOn: [] }]);
});

test('invalid BOMs are rejected by the official schema', () => {
  const base = buildMlBom({ model: { name: 'm', files: [], totals: { parameterCount: 0, tensorCount: 0, dtypes: {} }, license: { spdxId: 'MIT' }, modelCard: null, config: null }, timestamp: new Date(0) }) as any;
  assert.deepEqual(bomSchemaErrors(base), []);
  const bad = (mutate: (b: any) => void, re: RegExp) => {
    const b = structuredClone(base);
    mutate(b);
    assert.throws(() => assertValidBom(b, 'bom.json'), (e: unknown) => isCustodyError(e) && e.code === 'BOM_INVALID' && re.test(e.message) || assert.fail(String(e)));
  };
  bad((b) => { b.components[0].type = 'ai-model'; }, /type/);
  bad((b) => { b.components[0].licenses = [{ license: { id: 'LicenseRef-hf-openrail' } }]; }, /license/);
  bad((b) => { b.components[0].modelCard.quantitativeAnalysis = { performanceMetrics: [{ type: 'accuracy', value: 0.9 }] }; }, /value/);
  bad((b) => { b.components[0].modelCard.modelParameters = { approach: { type: 'guessing' } }; }, /approach/);
  bad((b) => { b.components[0].modelCard.unknownField = 1; }, /unknownField/);
  bad((b) => { b.serialNumber = 'not-a-urn'; }, /serialNumber/);
  bad((b) => { b.components[0].hashes = [{ alg: 'SHA-256', content: 'xyz' }]; }, /hashes/);
  bad((b) => { delete b.specVersion; }, /specVersion/);
});

test('licenses: SPDX ids as id, others as name; model-index metrics', () => {
  assert.ok(isSpdxLicenseId('MIT'));
  assert.ok(!isSpdxLicenseId('LicenseRef-hf-llama2'));
  assert.deepEqual(licenseEntry('Apache-2.0'), [{ license: { id: 'Apache-2.0' } }]);
  assert.deepEqual(licenseEntry('LicenseRef-hf-llama2'), [{ license: { name: 'LicenseRef-hf-llama2' } }]);
  assert.deepEqual(licenseEntry('NOASSERTION'), []);
  assert.deepEqual(modelIndexMetrics([{ results: [{ metrics: [{ type: 'auc', value: 0.8 }, { name: 'no type' }] }] }]), [{ type: 'auc', value: '0.8' }]);
  assert.deepEqual(modelIndexMetrics(undefined), []);
});

test('plugin through the engine: scans model + dataset, reads bias metrics, emits a valid BOM', async () => {
  const { runStep } = await import('@custody/engine');
  const dir = workspace('llama2');
  writeFileSync(join(dir, 'bias.json'), JSON.stringify({ predicateType: 'https://custody.dev/attestation/bias-metrics/v0.1', predicate: { attributes: fairness } }));
  writeFileSync(join(dir, 'perf.json'), JSON.stringify({ accuracy: 0.75 }));
  const r = await runStep({
    stepName: 'sbom', workdir: dir, noCommand: true, products: ['.'],
    plugins: [{ plugin, options: { model: 'model', dataset: ['credit-g.arff'], biasMetrics: 'bias.json', performance: 'perf.json' }, source: 'built-in' }],
  });
  assert.equal(r.predicates.length, 1);
  const p = r.predicates[0]!.predicate;
  assert.equal(p.predicateType, CYCLONEDX_PREDICATE_TYPE);
  assert.deepEqual(bomSchemaErrors(p.predicate), []);
  const m = (p.predicate as any).components[0];
  assert.deepEqual(m.licenses, [{ license: { name: 'LicenseRef-hf-llama2' } }]);
  assert.ok(m.modelCard.quantitativeAnalysis.performanceMetrics.some((x: any) => x.type === 'accuracy' && x.value === '0.75'));
  writeFileSync(join(dir, 'bias.json'), '{"nothing": true}');
  await assert.rejects(runStep({ stepName: 'sbom', workdir: dir, noCommand: true, plugins: [{ plugin, options: { model: 'model', biasMetrics: 'bias.json' }, source: 'built-in' }] }),
    (e: unknown) => isCustodyError(e) && /bias-metrics/.test(e.message));
});
