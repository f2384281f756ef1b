// `custody pipeline run`: dependency order, resuming, failing steps, refusals before anything
// runs. The end-to-end cases start from one clean run of the demo pipeline (as test/atlas does).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planPipeline, pipelineExcludes } from '../../packages/engine/src/index.ts';
import { isCustodyError } from '../../packages/core/src/index.ts';
import {
  attestationsOf, copyTemplate, custody, demoEnv, makeTemplate, pipelineJson, removeTemplate, runDemoPipeline, type PipelineJson, type Template,
} from '../atlas/harness.ts';

const step = (name: string, rules: string[][] = []) => ({ _type: 'step', name, expected_materials: rules, expected_products: [] });

describe('planPipeline', () => {
  test('orders steps after the steps their MATCH rules name; ties keep layout order', () => {
    const layout = {
      steps: [
        step('package', [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'build']]),
        step('lint'),
        step('build', [['MATCH', 'src/*', 'WITH', 'PRODUCTS', 'IN', 'x', 'FROM', 'clone']]),
        step('clone'),
        step('self', [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'self'], ['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'an-inspection']]),
      ],
    };
    const plan = planPipeline(layout);
    assert.deepEqual(plan.map((s) => s.name), ['lint', 'clone', 'build', 'package', 'self']);
    assert.deepEqual(plan.find((s) => s.name === 'package')!.dependsOn, ['build']);
    assert.deepEqual(plan.find((s) => s.name === 'self')!.dependsOn, []);
    assert.deepEqual(plan.map((s) => s.index), [1, 3, 2, 0, 4]);
  });

  test('products rules count too; no rules means layout order', () => {
    const a = { ...step('a'), expected_products: [['MATCH', '*', 'WITH', 'MATERIALS', 'FROM', 'b']] };
    assert.deepEqual(planPipeline({ steps: [a, step('b'), step('c')] }).map((s) => s.name), ['b', 'a', 'c']);
    assert.deepEqual(planPipeline({ steps: [step('x'), step('y')] }).map((s) => s.name), ['x', 'y']);
  });

  test('a cycle is refused naming the steps in it', () => {
    const m = (to: string) => [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', to]];
    assert.throws(
      () => planPipeline({ steps: [step('free'), step('a', m('b')), step('b', m('a'))] }),
      (e) => isCustodyError(e) && e.code === 'USAGE' && /cycle \(a, b\)/.test(e.message),
    );
  });

  test('the layouts/ml-pipeline.yaml order', async () => {
    const { readFile } = await import('node:fs/promises');
    const { shlexSplit, parseLayoutDocument } = await import('../../packages/core/src/index.ts');
    const doc = parseLayoutDocument(await readFile(new URL('../../layouts/ml-pipeline.yaml', import.meta.url), 'utf8'), 'ml-pipeline.yaml') as { steps: Record<string, unknown>[] };
    const steps = doc.steps.map((s) => ({ ...s, expected_materials: (s.expected_materials as string[]).map((r) => shlexSplit(r)), expected_products: (s.expected_products as string[]).map((r) => shlexSplit(r)) }));
    const plan = planPipeline({ steps });
    assert.deepEqual(plan.map((s) => s.name), ['fetch-model', 'fetch-data', 'train', 'bias-test', 'build-image']);
    assert.deepEqual(plan.find((s) => s.name === 'build-image')!.dependsOn, ['train']);
  });
});

test("pipelineExcludes: custody's defaults, plus the link folder when it is inside the working folder", () => {
  // custody's own outputs are anchored at the working folder (issue 12: deeper ones are recorded)
  const defaults = ['*.link*', '.git', '*.pyc', '*~', '/*.sigstore.json', '/*.att.json', '/.custody'];
  assert.deepEqual(pipelineExcludes('/w', '/w/out/links'), [...defaults, '/out/links']);
  assert.deepEqual(pipelineExcludes('/w', '/w'), defaults);
  assert.deepEqual(pipelineExcludes('/w', '/elsewhere', ['build/']), ['build/']);
  // configured patterns replace the defaults, but a link folder that is the working folder keeps its files out
  assert.deepEqual(pipelineExcludes('/w', '/w', ['build/']), ['build/', '*.link*', '/*.att.json', '/*.sigstore.json']);
});

describe('custody pipeline run over the demo', () => {
  let t: Template;
  before(async () => {
    t = await makeTemplate();
  });
  after(() => removeTemplate(t));

  test('the clean run ran every step in order, each signed by its functionary', async () => {
    assert.deepEqual(t.clean.steps.map((s) => [s.name, s.status]), [
      ['fetch-model', 'ran'], ['fetch-data', 'ran'], ['train', 'ran'], ['bias-test', 'ran'], ['build-image', 'ran'],
    ]);
    const keyOf = (n: string) => t.clean.steps.find((s) => s.name === n)!.keyid;
    assert.equal(keyOf('fetch-model'), keyOf('train'));
    assert.notEqual(keyOf('fetch-data'), keyOf('train'));
    assert.notEqual(keyOf('build-image'), keyOf('train'));
    for (const s of t.clean.steps) assert.ok((await attestationsOf(t.dir, s.name)).includes(`${s.name}.${s.keyid.slice(0, 8)}.link`));
    // the default format: metablock links, plugin Statements in Sigstore bundles
    assert.ok((await attestationsOf(t.dir, 'bias-test')).some((n) => /\.bias\.sigstore\.json$/.test(n)));
    assert.ok(!(await readdir(join(t.dir, 'attestations'))).some((n) => n.endsWith('.att.json')));
  });

  test('running again with nothing changed runs nothing and verifies again', async () => {
    const dir = await copyTemplate(t, 'again');
    const r = await runDemoPipeline(dir, t.params, ['--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(r);
    assert.deepEqual(result.steps.map((s) => s.status), ['kept', 'kept', 'kept', 'kept', 'kept']);
    assert.equal(result.verify?.exitCode, t.clean.verify?.exitCode);
    assert.equal(r.code, t.clean.verify?.exitCode);
  });

  test('a missing attestation: continues from that step', async () => {
    const dir = await copyTemplate(t, 'missing');
    for (const n of await attestationsOf(dir, 'bias-test')) await rm(join(dir, 'attestations', n));
    const result = pipelineJson(await runDemoPipeline(dir, t.params, ['--json', '--no-verify'], { cwd: dir, env: demoEnv() }));
    assert.deepEqual(result.steps.map((s) => [s.status, s.reason]), [
      ['kept', 'attestations are current'], ['kept', 'attestations are current'], ['kept', 'attestations are current'],
      ['ran', 'no attestations yet'], ['ran', 'a step before it runs'],
    ]);
    assert.equal(result.verify, undefined);
  });

  test('a failing step stops the pipeline naming it; --from re-runs from a step', async () => {
    const dir = await copyTemplate(t, 'failing');
    // train's input disappears: fetch-data's own inputs did not change, so it is kept, and train fails
    await rm(join(dir, 'work/data'), { recursive: true });
    const r = await runDemoPipeline(dir, t.params, [], { cwd: dir, env: demoEnv() });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /custody: pipeline stopped: step 'train' failed: command exited with \d+: custody-demo train/);
    assert.doesNotMatch(r.stderr, /final verify/);
    const j = pipelineJson(await runDemoPipeline(dir, t.params, ['--json'], { cwd: dir, env: demoEnv() }));
    assert.equal(j.failedStep, 'train');
    assert.deepEqual(j.steps.map((s) => s.status), ['kept', 'kept', 'failed', 'pending', 'pending']);
    assert.match(j.steps[2].reason!, /command exited/);
    // the failed run's link records the failure; the next run must not keep it
    const fixed = pipelineJson(await runDemoPipeline(dir, t.params, ['--json', '--from', 'fetch-data'], { cwd: dir, env: demoEnv() }));
    assert.deepEqual(fixed.steps.map((s) => s.status), ['kept', 'ran', 'ran', 'ran', 'ran']);
    assert.equal(fixed.failedStep, undefined);
    assert.equal(fixed.verify?.report?.verdict, t.clean.verify?.report?.verdict);
  });

  test('--json: stdout is the JSON result alone (step output goes to stderr); --format sigstore writes link bundles and resumes from them', async () => {
    const dir = await copyTemplate(t, 'sigstore');
    const r = await runDemoPipeline(dir, t.params, ['--json', '--from', 'train', '--format', 'sigstore'], { cwd: dir, env: demoEnv() });
    const result = JSON.parse(r.stdout) as PipelineJson; // the whole of stdout, not its last line
    assert.deepEqual(result.steps.map((s) => s.status), ['kept', 'kept', 'ran', 'ran', 'ran'], r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stderr, /\S/, 'the step commands said nothing on stderr');
    assert.equal(result.verify?.report?.verdict, t.clean.verify?.report?.verdict, JSON.stringify(result.verify?.report?.failure));
    for (const s of result.steps) {
      const files = await attestationsOf(dir, s.name);
      const own = `${s.name}.${s.keyid.slice(0, 8)}.link`;
      // re-run steps: only bundles; kept steps keep their metablock link
      assert.deepEqual([files.includes(own), files.includes(`${own}.sigstore.json`), files.some((n) => n.endsWith('.att.json'))], s.status === 'ran' ? [false, true, false] : [true, false, false], s.name);
    }
    const again = pipelineJson(await runDemoPipeline(dir, t.params, ['--json', '--no-verify', '--format', 'sigstore'], { cwd: dir, env: demoEnv() }));
    assert.deepEqual(again.steps.map((s) => [s.status, s.reason]), again.steps.map(() => ['kept', 'attestations are current']));
  });

  test('refusals before anything runs: unknown step, unmapped step, wrong key, unsigned layout, legacy layout', async () => {
    const dir = await copyTemplate(t, 'refusals');
    const before = (await readdir(join(dir, 'attestations'))).sort();
    const run = (extra: string[], params = t.params) => runDemoPipeline(dir, params, extra, { cwd: dir, env: demoEnv() });

    let r = await run(['--only', 'deploy']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /root\.layout: the layout has no step 'deploy' \(steps: fetch-model, fetch-data, train, bias-test, build-image\)/);

    const config = join(dir, 'custody.config.json');
    await writeFile(config, JSON.stringify({ outDir: 'attestations', functionaries: { 'fetch-model': 'keys/ml-engineer' } }));
    r = await run(['--from', 'train']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no key for step 'fetch-data': map it in custody\.config under functionaries/);

    await writeFile(config, JSON.stringify({ outDir: 'attestations', functionaries: { 'fetch-model': 'keys/ml-engineer', 'fetch-data': 'keys/data-engineer', train: 'keys/data-engineer', 'bias-test': 'keys/ml-engineer', 'build-image': 'keys/release-engineer' } }));
    r = await run(['--from', 'train']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /keys\/data-engineer \(keyid [0-9a-f]{8}\) is not a functionary of step 'train' in the layout/);

    await writeFile(config, JSON.stringify({ outDir: 'attestations', functionaries: {}, bogus: 1 }));
    r = await run([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /custody\.config\.json: unknown setting 'bogus'/);

    await writeFile(config, JSON.stringify({ outDir: 'attestations', functionaries: {} }));
    r = await custody(['pipeline', 'run', 'root.layout', '--layout-key', 'keys/ml-engineer.pub', '--workdir', 'work'], { cwd: dir, env: demoEnv() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /root\.layout: layout is not signed by key [0-9a-f]{8}/);

    const legacy = await custody(['layout', 'sign', 'ml-pipeline.yaml', '--key', 'keys/owner', '--drop-extensions', '-o', 'legacy.layout'], { cwd: dir });
    assert.equal(legacy.code, 0, legacy.stderr);
    r = await custody(['pipeline', 'run', 'legacy.layout', '--layout-key', 'keys/owner.pub', '--workdir', 'work'], { cwd: dir, env: demoEnv() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /legacy\.layout: a legacy \(metablock\) layout cannot drive a pipeline/);

    assert.deepEqual((await readdir(join(dir, 'attestations'))).sort(), before, 'nothing ran');
  });
});
