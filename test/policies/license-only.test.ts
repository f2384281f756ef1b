// layouts/license-only.yaml end to end, as its header says to use it: sign it, record the
// fetch-model step with the model plugin, verify. An Apache-2.0 model must fail naming the
// license found and the file it came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody, REPO_ROOT } from '../helpers/cli.ts';

async function setUp(license: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'custody-license-'));
  copyFileSync(join(REPO_ROOT, 'layouts/license-only.yaml'), join(dir, 'license-only.yaml'));
  for (const name of ['owner', 'model-fetcher']) assert.equal((await custody(['keygen', name], { cwd: dir })).code, 0);
  const signed = await custody(['layout', 'sign', '--key', 'owner', '--format', 'dsse', 'license-only.yaml', '-o', 'root.layout'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  // "Fetching" the model: a model card with front matter and a config.
  const fetch = `mkdir -p model && printf -- '---\\nlicense: ${license}\\ntags: [demo]\\n---\\n# A model\\n' > model/README.md && echo '{}' > model/config.json`;
  const run = await custody(['run', '--step', 'fetch-model', '--key', 'model-fetcher', '--layout', 'root.layout', '--products', 'model', '--', 'sh', '-c', fetch], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  return dir;
}

test('license-only layout: an MIT model passes', async () => {
  const dir = await setUp('mit');
  const r = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.verdict, 'pass');
  assert.ok(report.checks.some((c: { check: string; step?: string; verdict?: string }) => c.check === 'predicate-rules' && c.step === 'fetch-model'));
  // The human report states the verdict first and last; the step ran `sh`, not the expected
  // (empty) command, which is the reference's warning.
  const tree = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub'], { cwd: dir });
  const lines = tree.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'custody verify root.layout: PASS');
  assert.equal(lines.at(-1), 'PASSED with 1 warning');
});

test('license-only layout: an Apache-2.0 model fails, naming the license and README.md', async () => {
  const dir = await setUp('apache-2.0');
  const r = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json'], { cwd: dir });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.failure.code, 'PREDICATE_RULE');
  assert.equal(report.failure.check, 'predicate-rules');
  assert.equal(report.failure.step, 'fetch-model');
  const tree = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub'], { cwd: dir });
  assert.equal(tree.code, 1);
  assert.match(tree.stdout, /Apache-2\.0/);
  assert.match(tree.stdout, /README\.md/);
  assert.match(tree.stdout.trimEnd().split('\n').at(-1)!, /^FAILED PREDICATE_RULE at predicate-rules \(fetch-model\)/);
});

test('license-only layout: a model folder that is not what the step may create fails the artifact rules', async () => {
  const dir = await setUp('mit');
  mkdirSync(join(dir, 'extra'));
  writeFileSync(join(dir, 'extra/backdoor.pkl'), 'x');
  const r = await custody(['run', '--step', 'fetch-model', '--key', 'model-fetcher', '--layout', 'root.layout', '--products', 'model', 'extra', '--no-command'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const v = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json'], { cwd: dir });
  assert.equal(v.code, 1);
  const report = JSON.parse(v.stdout);
  assert.equal(report.failure.code, 'ARTIFACT_RULE');
  assert.match(report.failure.message, /extra\/backdoor\.pkl/);
});

test('custody run --layout: a step the layout does not have is bad input, naming the steps it has', async () => {
  const dir = await setUp('mit');
  const r = await custody(['run', '--step', 'fetch-modle', '--key', 'model-fetcher', '--layout', 'root.layout', '--no-command'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "custody: root.layout: no step 'fetch-modle' in the layout (steps: fetch-model)\n");
});
