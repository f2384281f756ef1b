// The license-only layout's rules against model predicates produced from real repositories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { compileRule, evaluateRule } from '@custody/core';
import { scanModelDir, MODEL_PREDICATE_TYPE } from '../src/index.ts';
import { MIT_TEXT, modelRepo } from './helpers.ts';

const layoutPath = fileURLToPath(new URL('../../../layouts/license-only.yaml', import.meta.url));

interface Layout {
  keys: Record<string, string>;
  steps: { name: string; pubkeys: string[]; expectedPredicates: { predicateType: string; expectedAttributes: { rule: string }[] }[] }[];
}

async function verdicts(repo: string) {
  const layout = parse(readFileSync(layoutPath, 'utf8')) as Layout;
  const ep = layout.steps.find((s) => s.name === 'fetch-model')!.expectedPredicates[0]!;
  assert.equal(ep.predicateType, MODEL_PREDICATE_TYPE);
  assert.deepEqual(layout.steps[0]!.pubkeys, Object.keys(layout.keys));
  const predicate = JSON.parse(JSON.stringify(await scanModelDir(repo)));
  return {
    license: predicate.license,
    outcomes: ep.expectedAttributes.map((a) => evaluateRule(compileRule(a.rule), { predicateType: MODEL_PREDICATE_TYPE, predicate, subject: [] })),
  };
}

test('license-only layout: an MIT model passes (front matter id, any case)', async () => {
  for (const id of ['mit', 'MIT']) {
    const { license, outcomes } = await verdicts(modelRepo({ frontMatter: `license: ${id}\n` }));
    assert.deepEqual(license, { spdxId: 'MIT', source: 'README.md front matter', file: 'README.md', raw: id });
    assert.deepEqual(outcomes.map((o) => o.verdict), ['pass']);
  }
});

test('license-only layout: `other` resolved through a MIT LICENSE file passes, naming LICENSE', async () => {
  const { license, outcomes } = await verdicts(modelRepo({ frontMatter: 'license: other\nlicense_name: see LICENSE\nlicense_link: LICENSE\n', license: MIT_TEXT }));
  assert.equal(license.spdxId, 'MIT');
  assert.equal(license.source, 'LICENSE');
  assert.equal(license.file, 'LICENSE');
  assert.deepEqual(outcomes.map((o) => o.verdict), ['pass']);
});

test('license-only layout: Apache-2.0, OpenRAIL and no license fail, and the values read name license and file', async () => {
  const apache = await verdicts(modelRepo({ frontMatter: 'license: apache-2.0\n' }));
  assert.deepEqual(apache.license, { spdxId: 'Apache-2.0', source: 'README.md front matter', file: 'README.md', raw: 'apache-2.0' });
  assert.deepEqual(apache.outcomes.map((o) => o.verdict), ['fail']);
  const observed = JSON.stringify(apache.outcomes[0]!.observed);
  assert.match(observed, /Apache-2\.0/);
  assert.match(observed, /README\.md/);
  const openrail = await verdicts(modelRepo({ frontMatter: 'license: openrail\n' }));
  assert.equal(openrail.license.spdxId, 'LicenseRef-hf-openrail');
  assert.deepEqual(openrail.outcomes.map((o) => o.verdict), ['fail']);
  const none = await verdicts(modelRepo({ frontMatter: 'tags: [x]\n' }));
  assert.deepEqual(none.license, { spdxId: 'NOASSERTION', source: 'none' });
  assert.equal(none.outcomes[0]!.verdict, 'fail');
});
