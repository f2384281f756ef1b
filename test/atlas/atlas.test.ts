// The MITRE ATLAS attack suite (docs/atlas.md): each attack is simulated against a copy of the
// demo pipeline (layouts/ml-pipeline.yaml, run clean once by `custody pipeline run`), and the
// final `custody verify` must catch it with the right reason: failure code, check, step and a
// message fragment. The clean pipeline must pass with no warnings at all.
//
// The predicate-rule attacks (license, bias, hub rewrite) also evaluate the layout's rules
// directly (core's evaluateAttestationSteps) before asserting what `custody verify` reports.
// Waiting on `custody verify --strict-command` (code COMMAND_MISMATCH, check
// 'command-alignment'): the strict half of the command attack fails until it lands; never skipped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHub } from '../../packages/demo/src/hub.ts';
import { loadPublicKey } from '../../packages/sign/src/index.ts';
import {
  assertCaught, assertRulesCatch, attestationsOf, evaluatePredicates, copyTemplate, custody, demoEnv, editFile, makeTemplate, pipelineJson,
  removeTemplate, resetSteps, runDemoPipeline, runStepByHand, verifyDemo, type Template,
} from './harness.ts';

const DEMO_BIN = new URL('../../packages/demo/bin/custody-demo.mjs', import.meta.url).pathname;
const TRAIN = ['custody-demo', 'train', 'data', 'model', '--base-model', 'base-model', '--seed', '42'];

let t: Template;
before(async () => {
  t = await makeTemplate();
});
after(() => removeTemplate(t));

/** Flips bytes at the end of a safetensors file: same size, same header, other weights. */
async function tamperWeights(path: string): Promise<void> {
  const b = await readFile(path);
  for (let i = b.length - 8; i < b.length; i++) b[i] ^= 0x5a;
  await writeFile(path, b);
}

describe('clean pipeline', () => {
  test('passes the final verify with no warnings', async () => {
    const v = t.clean.verify!;
    assert.equal(v.exitCode, 0, JSON.stringify(v.report?.failure ?? v.error));
    assert.equal(v.report!.verdict, 'pass');
    assert.deepEqual(v.report!.warnings, []);
    assert.deepEqual(t.clean.steps.map((s) => [s.name, s.status]), [
      ['fetch-model', 'ran'], ['fetch-data', 'ran'], ['train', 'ran'], ['bias-test', 'ran'], ['build-image', 'ran'],
    ]);
    // and so does a standalone verify of the same folder
    const again = await verifyDemo(t.dir, t.params);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.report!.warnings, []);
  });

  test('the final verify evaluated every step\'s predicate rules (license, bias, ML-BOM, image SBOM and scan) and they passed', async () => {
    // the layout's rules hold on the clean evidence …
    const rules = await evaluatePredicates(t.dir, t.params);
    assert.equal(rules.verdict, 'pass', JSON.stringify(rules.failure));
    assert.deepEqual(rules.warnings, []);
    // … and custody verify ran them
    const checks = t.clean.verify!.report!.checks.filter((c) => c.check === 'predicate-rules');
    assert.deepEqual(
      [...new Set(checks.map((c) => c.step))].sort(),
      ['bias-test', 'build-image', 'fetch-data', 'fetch-model', 'train'],
      'verify reports no predicate-rules checks (expectedPredicates not wired into custody verify yet)',
    );
    for (const c of checks) assert.equal(c.verdict, 'pass', JSON.stringify(c));
  });
});

describe('AML.T0020 Poison Training Data / AML.T0010.002 Data', () => {
  test('the dataset changed after fetch-data: train did not see what fetch-data produced', async () => {
    const dir = await copyTemplate(t, 'poisoned-data');
    // flip the label of 60 applicants: bad credit risks become good ones
    await editFile(join(dir, 'work/data/credit-g.arff'), (text) => {
      let flipped = 0;
      return text.split('\n').map((line) => (flipped < 60 && /,bad$/.test(line) ? (flipped++, line.replace(/,bad$/, ',good')) : line)).join('\n');
    });
    const r = await runDemoPipeline(dir, t.params, ['--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(r);
    // the pipeline re-ran from train, whose input changed, and its final verify failed
    assert.deepEqual(result.steps.map((s) => s.status), ['kept', 'kept', 'ran', 'ran', 'ran']);
    assert.match(result.steps[2].reason!, /input data\/credit-g\.arff changed/);
    assert.equal(r.code, 1);
    assertCaught(result.verify?.report, { code: 'ARTIFACT_RULE', check: 'artifact-rules', step: 'train', message: /data\/credit-g\.arff/ });
  });
});

describe('AML.T0018 Manipulate AI Model (backdoor) / AML.T0018.000 Poison AI Model', () => {
  test('the weights replaced between train and build-image', async () => {
    const dir = await copyTemplate(t, 'backdoored-model');
    await tamperWeights(join(dir, 'work/model/model.safetensors'));
    // the release engineer builds the image from what is in the folder now
    const r = await runDemoPipeline(dir, t.params, ['--only', 'build-image', '--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(r);
    assert.deepEqual(result.steps.map((s) => s.status), ['kept', 'kept', 'kept', 'kept', 'ran']);
    assert.equal(r.code, 1);
    assertCaught(result.verify?.report, { code: 'ARTIFACT_RULE', check: 'artifact-rules', step: 'build-image', message: /model\/model\.safetensors/ });
  });
});

describe('AML.T0010.004 Container Registry / AML.T0010 AI Supply Chain Compromise', () => {
  test('the image changed after build-image', async () => {
    const dir = await copyTemplate(t, 'image-swapped');
    // an image with backdoored weights replaces the built one
    await cp(join(dir, 'work/model'), join(dir, 'evil-model'), { recursive: true });
    await tamperWeights(join(dir, 'evil-model/model.safetensors'));
    execFileSync(process.execPath, [DEMO_BIN, 'build-image', '--model', '../evil-model', '--out', 'image', '--overwrite', '--builder', 'custody'], { cwd: join(dir, 'work'), stdio: 'pipe' });
    const v = await verifyDemo(dir, t.params);
    assert.equal(v.code, 1, v.stderr);
    assertCaught(v.report, { code: 'ARTIFACT_RULE', check: 'inspection-rules', step: 'inspect-image', message: /image\// });
  });
});

describe('AML.T0010.003 Model: the hub rewritten under the same name', () => {
  // A pinned commit id cannot change content in git. The realistic attack: the hub's
  // repository is rewritten (force-push) with backdoored base weights and `main` and the tag
  // `v1.0` moved to the new commit; a pipeline that follows the tag fetches it, and every step
  // is validly signed. The verifier's parameters carry what the layout owner approved: the
  // commit and the sha256 of the base weights.
  test('the fetched base model is not the approved one', async () => {
    const dir = await copyTemplate(t, 'hub-rewritten');
    const hubDir = join(dir, 'hub');
    const url = pathToFileURL(join(hubDir, 'custody-hub/credit-base.git')).href;
    const approved = { ...t.params, HUB_URL: url };
    const rewritten = await createHub({ dir: hubDir, overwrite: true, seed: 666 });
    assert.notEqual(rewritten.revision, t.params.MODEL_REVISION);
    const followed = execFileSync('git', ['ls-remote', url, 'refs/tags/v1.0'], { encoding: 'utf8' }).split('\t')[0];
    assert.equal(followed, rewritten.revision);
    const r = await runDemoPipeline(dir, { ...approved, MODEL_REVISION: followed }, ['--json', '--no-verify'], { cwd: dir, env: demoEnv() });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.deepEqual(pipelineJson(r).steps.map((s) => s.status), ['ran', 'ran', 'ran', 'ran', 'ran']);
    await assertRulesCatch(dir, approved, { step: 'fetch-model', message: /approved/ });
    const v = await verifyDemo(dir, approved);
    // the moved revision shows as another fetch-model command (a warning by default) …
    assert.ok(v.report!.warnings.some((w) => /Step 'fetch-model'/.test(w) && w.includes(followed)), JSON.stringify(v.report!.warnings));
    // … and the weights are not the approved ones: the model predicate's rule fails
    assertCaught(v.report, { code: 'PREDICATE_RULE', check: 'predicate-rules', step: 'fetch-model', message: /approved/ });
    assert.equal(v.code, 1);
  });
});

describe('AML.T0011.000 Unsafe AI Artifacts (AML.M0011, AML.M0016)', () => {
  test('a pickle file slipped into the model repository', async () => {
    const dir = await copyTemplate(t, 'pickle');
    // a PyTorch pickle (protocol 2 header, a code-executing GLOBAL opcode) next to the safetensors
    const pickle = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cposix\nsystem\n(Vtouch /tmp/pwned\ntR.', 'latin1')]);
    const hub = await createHub({ dir: join(dir, 'hub'), overwrite: true, files: { 'pytorch_model.bin': pickle } });
    // even with the new commit approved and the safetensors weights unchanged …
    const params = { ...t.params, HUB_URL: hub.url, MODEL_REVISION: hub.revision };
    const r = await runDemoPipeline(dir, params, ['--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(r);
    assert.equal(r.code, 1);
    // … fetch-model may create exactly README.md, config.json and model.safetensors
    assertCaught(result.verify?.report, { code: 'ARTIFACT_RULE', check: 'artifact-rules', step: 'fetch-model', message: /base-model\/pytorch_model\.bin/ });
  });
});

describe('AML.T0012 Valid Accounts / unauthorized functionary', () => {
  async function attackerTrain(name: string) {
    const dir = await copyTemplate(t, name);
    const k = await custody(['keygen', 'attacker'], { cwd: dir });
    assert.equal(k.code, 0, k.stderr);
    await resetSteps(dir, ['train', 'bias-test', 'build-image'], ['model', 'image', 'vulndb']);
    const r = await runStepByHand(dir, 'train', '../attacker', TRAIN);
    assert.equal(r.code, 0, r.stderr);
    const rest = await runDemoPipeline(dir, t.params, ['--from', 'bias-test', '--no-verify', '--json'], { cwd: dir, env: demoEnv() });
    assert.equal(rest.code, 0, rest.stderr.slice(-2000));
    return dir;
  }

  test('train signed by a key the layout does not know', async () => {
    const dir = await attackerTrain('unknown-key');
    const v = await verifyDemo(dir, t.params);
    assert.equal(v.code, 1, v.stderr);
    // no link by an authorized functionary, and the attacker's signed evidence named as rejected
    const attacker = (await loadPublicKey(join(dir, 'attacker.pub'))).keyid.slice(0, 8);
    assertCaught(v.report, { code: 'SIGNATURE_INVALID', check: 'links', step: 'train', message: new RegExp(`requires '1' link metadata file\\(s\\), found '0'[\\s\\S]*signed by (key )?${attacker}`) });
  });

  test('the same link filed under the authorized functionary\'s name', async () => {
    const dir = await attackerTrain('forged-name');
    const [own] = (await attestationsOf(dir, 'train')).filter((n) => n.endsWith('.link'));
    const legit = t.clean.steps.find((s) => s.name === 'train')!.keyid.slice(0, 8);
    await rename(join(dir, 'attestations', own), join(dir, 'attestations', `train.${legit}.link`));
    const v = await verifyDemo(dir, t.params);
    assert.equal(v.code, 1, v.stderr);
    const attacker = (await loadPublicKey(join(dir, 'attacker.pub'))).keyid.slice(0, 8);
    assertCaught(v.report, { code: 'SIGNATURE_INVALID', check: 'threshold', step: 'train', message: new RegExp(`validly signed by different authorized functionaries\\. Only found '0'[\\s\\S]*signed by (key )?${attacker}`) });
    const signers = v.report!.checks.find((c) => c.check === 'threshold' && c.step === 'train') as unknown as { signers: { file: string; valid: boolean }[] };
    assert.deepEqual(signers.signers.map((x) => [x.file, x.valid]), [[`train.${legit}.link`, false]]);
  });
});

describe('license policy: only MIT-licensed models may be used', () => {
  test('a base model under Apache-2.0', async () => {
    const dir = await copyTemplate(t, 'apache-model');
    const hub = await createHub({ dir: join(dir, 'hub'), overwrite: true, license: 'apache-2.0' });
    // the owner pins this very commit and its weights; only the license is wrong
    const params = { ...t.params, HUB_URL: hub.url, MODEL_REVISION: hub.revision };
    const r = await runDemoPipeline(dir, params, ['--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(r);
    assert.deepEqual(result.steps.map((s) => s.status), ['ran', 'ran', 'ran', 'ran', 'ran']);
    await assertRulesCatch(dir, params, { step: 'fetch-model', message: /MIT[\s\S]*Apache-2\.0/ });
    assertCaught(result.verify?.report, { code: 'PREDICATE_RULE', check: 'predicate-rules', step: 'fetch-model', message: /MIT[\s\S]*Apache-2\.0/ });
    assert.equal(r.code, 1);
  });
});

let biasedDir = '';
describe('fairness gate: bias above threshold', () => {
  test('a model that refuses credit to everyone aged 25 or younger', async () => {
    const dir = await copyTemplate(t, 'biased-model');
    // The ML engineer's training run (their own key) ships a model whose predictions are
    // biased by age; bias-test then measures it honestly.
    // (in the pipeline folder: the traced train step may read only its materials and its tools)
    await writeFile(join(dir, 'work', 'biased-train.mjs'), `import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
execFileSync('custody-demo', ${JSON.stringify(TRAIN.slice(1))}, { stdio: 'inherit' });
const [head, ...rows] = readFileSync('model/predictions.csv', 'utf8').trim().split('\\n');
const cols = head.split(',');
const age = cols.indexOf('age'), prediction = cols.indexOf('prediction');
writeFileSync('model/predictions.csv', [head, ...rows.map((r) => { const c = r.split(','); if (Number(c[age]) <= 25) c[prediction] = '0'; return c.join(','); })].join('\\n') + '\\n');
`);
    await resetSteps(dir, ['train', 'bias-test', 'build-image'], ['model', 'image', 'vulndb']);
    const r = await runStepByHand(dir, 'train', '../keys/ml-engineer', ['node', 'biased-train.mjs']);
    assert.equal(r.code, 0, r.stderr);
    const rest = await runDemoPipeline(dir, t.params, ['--from', 'bias-test', '--json'], { cwd: dir, env: demoEnv() });
    const result = pipelineJson(rest);
    assert.deepEqual(result.steps.map((s) => s.status), ['kept', 'kept', 'kept', 'ran', 'ran']);
    await assertRulesCatch(dir, t.params, { step: 'bias-test', message: /fairness|disparateImpact/ });
    assertCaught(result.verify?.report, { code: 'PREDICATE_RULE', check: 'predicate-rules', step: 'bias-test', message: /fairness|disparateImpact/ });
    biasedDir = dir;
  });

  // evidence replayed from another run: the clean run's passing bias reports, same step, same
  // key, same file names, put over the honest failing ones
  test('evidence replayed from another run: the clean run\'s bias reports beside the biased run\'s link', async () => {
    assert.ok(biasedDir, 'the biased run above must have run');
    const replayed = (await attestationsOf(t.dir, 'bias-test')).filter((n) => /\.bias(-\d+)?\.sigstore\.json$/.test(n));
    assert.ok(replayed.length > 0);
    for (const n of replayed) await cp(join(t.dir, 'attestations', n), join(biasedDir, 'attestations', n));
    const v = await verifyDemo(biasedDir, t.params);
    assert.equal(v.code, 1, v.stderr);
    assertCaught(v.report, { code: 'EVIDENCE_OTHER_RUN', check: 'predicate-rules', step: 'bias-test', message: /another run of 'bias-test'/ });
  });
});

describe('model changed after attestation', () => {
  test('verify --artifact: the model folder and the image in hand are what train and build-image produced, until a byte changes', async () => {
    const dir = await copyTemplate(t, 'changed-after');
    const clean = await verifyDemo(dir, t.params, ['--artifact', 'model', '--artifact-step', 'train']);
    assert.equal(clean.code, 0, JSON.stringify(clean.report?.failure));
    const image = await verifyDemo(dir, t.params, ['--artifact', 'image']);
    assert.equal(image.code, 0, JSON.stringify(image.report?.failure));
    const proven = (image.report as unknown as { proven: { artifacts: { kind: string; manifestDigest?: string }[] } }).proven;
    assert.equal(proven.artifacts[0].kind, 'oci-layout');
    assert.match(proven.artifacts[0].manifestDigest!, /^sha256:[0-9a-f]{64}$/);
    await tamperWeights(join(dir, 'work/model/model.safetensors'));
    // the signatures still hold: only the artifact in hand is not what was attested
    const v = await verifyDemo(dir, t.params, ['--artifact', 'model', '--artifact-step', 'train']);
    assert.equal(v.code, 1, v.stderr);
    assertCaught(v.report, { code: 'ARTIFACT_MISMATCH', check: 'artifact-in-hand', step: 'train', message: /model\/model\.safetensors: recorded sha256:[0-9a-f]{64}, on disk sha256:[0-9a-f]{64}/ });
  });
});

describe('a step run with another command than the layout expects', () => {
  async function otherSeed(): Promise<string> {
    const dir = await copyTemplate(t, 'other-command');
    await resetSteps(dir, ['train', 'bias-test', 'build-image'], ['model', 'image', 'vulndb']);
    const r = await runStepByHand(dir, 'train', '../keys/ml-engineer', [...TRAIN.slice(0, -1), '7']);
    assert.equal(r.code, 0, r.stderr);
    const rest = await runDemoPipeline(dir, t.params, ['--from', 'bias-test', '--no-verify', '--json'], { cwd: dir, env: demoEnv() });
    assert.equal(rest.code, 0, rest.stderr.slice(-2000));
    return dir;
  }
  let dir: string;
  before(async () => {
    dir = await otherSeed();
  });

  test('by default a warning, as in-toto reports it', async () => {
    const v = await verifyDemo(dir, t.params);
    assert.ok(v.report!.warnings.some((w) => /Step 'train'/.test(w) && /'7'/.test(w) && /differs from expected command/.test(w)), JSON.stringify(v.report!.warnings));
  });

  test('with --strict-command an error naming the step', async () => {
    const v = await verifyDemo(dir, t.params, ['--strict-command']);
    assert.equal(v.code, 1, v.stderr);
    assertCaught(v.report, { code: 'COMMAND_MISMATCH', check: 'command-alignment', step: 'train', message: /differs from expected command/ });
  });
});
