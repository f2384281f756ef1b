// Evidence bound to what it describes (issue 11): each attack from the issue, with its exact
// code and reason. A Statement counts for a step only when its signed content names that step
// and that run (the link digest) and describes artifacts the run recorded; the artifact in hand
// (`--artifact`, `--subject`) must be exactly what the step produced.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../packages/store/src/index.ts';
import { custody, REPO_ROOT } from '../helpers/cli.ts';

const fetchCmd = (license: string) =>
  `mkdir -p model && printf -- '---\\nlicense: ${license}\\n---\\n# A model\\n' > model/README.md && echo '{"w":1}' > model/config.json`;

interface Report {
  verdict: string;
  failure: null | { code: string; check: string; step?: string; message: string };
  checks: { check: string; step?: string; verdict: string; message: string; rejected?: { file: string; code: string; reason: string }[] }[];
  proven?: { step: string; artifacts: { path: string; kind: string; files: number; digest?: { sha256: string } }[]; subjects: { digest: { sha256: string }; recordedAs: string }[]; layout?: { digest: { sha256: string } }; custodyVersion?: string };
}

async function verify(dir: string, ...extra: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json', ...extra], { cwd: dir });
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`no report (exit ${r.code}): ${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

/** layouts/license-only.yaml signed in a fresh folder, with the model fetched and recorded. */
async function licenseOnly(license: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'custody-bind-'));
  copyFileSync(join(REPO_ROOT, 'layouts/license-only.yaml'), join(dir, 'license-only.yaml'));
  for (const name of ['owner', 'model-fetcher']) assert.equal((await custody(['keygen', name], { cwd: dir })).code, 0);
  const signed = await custody(['layout', 'sign', '--key', 'owner', '--format', 'dsse', 'license-only.yaml', '-o', 'root.layout'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  await record(dir, license);
  return dir;
}

async function record(dir: string, license: string): Promise<void> {
  const run = await custody(['run', '--step', 'fetch-model', '--key', 'model-fetcher', '--layout', 'root.layout', '--products', 'model', '--', 'sh', '-c', fetchCmd(license)], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
}

const modelAttestation = (dir: string) => readdirSync(dir).find((n) => /^fetch-model\.[0-9a-f]{8}\.model\.sigstore\.json$/.test(n))!;

/** The MIT run first (its model attestation kept), then the Apache-2.0 run: same step, same key, same folder. */
async function twoRuns(): Promise<{ dir: string; mitAttestation: string }> {
  const dir = await licenseOnly('mit');
  const mitAttestation = readFileSync(join(dir, modelAttestation(dir)), 'utf8');
  await record(dir, 'apache-2.0');
  return { dir, mitAttestation };
}

describe('evidence binding', () => {

  it('an earlier MIT run\'s model attestation beside an Apache-2.0 link is another run: EVIDENCE_OTHER_RUN', async () => {
    const { dir, mitAttestation } = await twoRuns();
    assert.equal((await verify(dir)).report.failure?.code, 'PREDICATE_RULE', 'the honest attestation fails the MIT rule');
    writeFileSync(join(dir, modelAttestation(dir)), mitAttestation); // same step, same key, same file name
    const { code, report } = await verify(dir);
    assert.equal(code, 1);
    assert.equal(report.failure?.code, 'EVIDENCE_OTHER_RUN');
    assert.equal(report.failure?.check, 'predicate-rules');
    assert.match(report.failure!.message, /it describes another run of 'fetch-model': its link is sha256:[0-9a-f]{16}…, the verified link is sha256:[0-9a-f]{16}…/);
    const rejected = report.checks.find((c) => c.check === 'predicate-rules')?.rejected ?? [];
    assert.deepEqual(rejected.map((r) => r.code), ['EVIDENCE_OTHER_RUN']);
  });

  it('a replayed PASSING attestation stored newer than the honest one is rejected, not preferred: the honest one decides', async () => {
    const { dir, mitAttestation } = await twoRuns();
    // the replay is the newest file of its step, key and kind in .custody/ (next to the layout)
    const keyid = readFileSync(join(dir, modelAttestation(dir)), 'utf8').match(/"hint":"([0-9a-f]{64})"/)![1];
    await new LocalStore(join(dir, '.custody')).put('fetch-model', keyid, 'model', mitAttestation, { now: Date.now() + 60_000 });
    const { code, report } = await verify(dir, '--link-dir', '.');
    assert.equal(code, 1);
    assert.equal(report.failure?.code, 'PREDICATE_RULE');
    const rejected = report.checks.find((c) => c.check === 'predicate-rules')?.rejected ?? [];
    assert.deepEqual(rejected.map((r) => r.code), ['EVIDENCE_OTHER_RUN']);
    assert.match(rejected[0].file, /\.custody\/fetch-model\./);
  });

  it('a claim copied under another step\'s file name names its own step in signed content: EVIDENCE_WRONG_STEP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custody-bind-step-'));
    for (const name of ['owner', 'fetcher']) assert.equal((await custody(['keygen', name], { cwd: dir })).code, 0);
    writeFileSync(join(dir, 'layout.yaml'), `expires: 1y
keys: { fetcher: fetcher.pub }
steps:
  - name: fetch-model
    pubkeys: [fetcher]
    plugins: [{ name: model, options: { dir: model } }]
    expected_materials: ["DISALLOW *"]
    expected_products: ["CREATE model/*", "DISALLOW *"]
  - name: review
    pubkeys: [fetcher]
    plugins: []
    expected_materials: ["MATCH model/* WITH PRODUCTS FROM fetch-model", "DISALLOW *"]
    expected_products: ["ALLOW model/*", "DISALLOW *"]
    expectedPredicates:
      - predicateType: "https://custody.dev/attestation/model/v0.1"
        expectedAttributes:
          - rule: "predicate.license.spdxId == 'MIT'"
inspect: []
`);
    assert.equal((await custody(['layout', 'sign', '--key', 'owner', '--format', 'dsse', 'layout.yaml', '-o', 'root.layout'], { cwd: dir })).code, 0);
    const fetch = await custody(['run', '--step', 'fetch-model', '--key', 'fetcher', '--layout', 'root.layout', '--products', 'model', '--', 'sh', '-c', fetchCmd('mit')], { cwd: dir });
    assert.equal(fetch.code, 0, fetch.stderr);
    const review = await custody(['run', '--step', 'review', '--key', 'fetcher', '--layout', 'root.layout', '--materials', 'model', '--products', 'model', '--no-command'], { cwd: dir });
    assert.equal(review.code, 0, review.stderr);
    const att = modelAttestation(dir);
    copyFileSync(join(dir, att), join(dir, att.replace(/^fetch-model\./, 'review.')));
    const { code, report } = await verify(dir);
    assert.equal(code, 1);
    assert.equal(report.failure?.code, 'EVIDENCE_WRONG_STEP');
    assert.equal(report.failure?.step, 'review');
    assert.match(report.failure!.message, /its signed subjects name step 'fetch-model', not 'review'/);
  });

  it('an attestation that names no step in signed content proves nothing: EVIDENCE_UNBOUND (see verify-cli fixtures for the bound form)', async () => {
    const dir = await licenseOnly('mit');
    // Strip the binding: a Statement re-signed without annotations by the same functionary.
    const { loadSigner, createKeyBundleSigner } = await import('../../packages/sign/src/index.ts');
    const bundle = JSON.parse(readFileSync(join(dir, modelAttestation(dir)), 'utf8'));
    const st = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    for (const s of st.subject) delete s.annotations;
    const resigned = await createKeyBundleSigner(await loadSigner(join(dir, 'model-fetcher'))).signStatement(st);
    writeFileSync(join(dir, modelAttestation(dir)), JSON.stringify(resigned));
    const { code, report } = await verify(dir);
    assert.equal(code, 1);
    assert.equal(report.failure?.code, 'EVIDENCE_UNBOUND');
    assert.match(report.failure!.message, /its signed content names no step \(no https:\/\/custody\.dev\/step annotation, no link digest of 'fetch-model'\); a file name proves nothing/);
  });
});

describe('verify --artifact / --subject: the artifact in hand', () => {
  let dir = '';
  before(async () => { dir = await licenseOnly('mit'); });

  it('passes when the folder is exactly what the step produced, and the report ends with what was proven', async () => {
    const { code, report } = await verify(dir, '--artifact', 'model');
    assert.equal(code, 0, JSON.stringify(report.failure));
    assert.equal(report.checks.at(-1)?.check, 'artifact-in-hand');
    const p = report.proven!;
    assert.equal(p.step, 'fetch-model');
    assert.deepEqual(p.artifacts.map((a) => [a.path, a.kind, a.files]), [['model', 'folder', 2]]);
    assert.match(p.artifacts[0].digest!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(p.layout!.digest.sha256, createHash('sha256').update(readFileSync(join(dir, 'root.layout'))).digest('hex'));
    assert.match(p.custodyVersion!, /^\d+\.\d+\.\d+/);
    assert.equal(Object.keys(report).at(-1), 'proven', 'the JSON report ends with it');
    const tree = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--artifact', 'model'], { cwd: dir });
    assert.equal(tree.code, 0);
    assert.match(tree.stdout, /proven:\n.*model {2}folder, 2 files, sha256:[0-9a-f]{64} = what 'fetch-model' produced/);
  });

  it('a byte of the model changed after attestation: ARTIFACT_MISMATCH naming the file with both digests', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'custody-bind-art-'));
    for (const n of readdirSync(dir)) if (n !== 'model') copyFileSync(join(dir, n), join(copy, n));
    mkdirSync(join(copy, 'model'));
    copyFileSync(join(dir, 'model/README.md'), join(copy, 'model/README.md'));
    writeFileSync(join(copy, 'model/config.json'), '{"w":2}\n');
    const recorded = createHash('sha256').update('{"w":1}\n').digest('hex');
    const onDisk = createHash('sha256').update('{"w":2}\n').digest('hex');
    const { code, report } = await verify(copy, '--artifact', 'model');
    assert.equal(code, 1);
    assert.equal(report.failure?.code, 'ARTIFACT_MISMATCH');
    assert.equal(report.failure?.check, 'artifact-in-hand');
    assert.equal(report.failure?.message, `model: differs from what step 'fetch-model' produced: model/config.json: recorded sha256:${recorded}, on disk sha256:${onDisk}`);
    assert.equal(report.proven, undefined, 'a failed verification proves nothing');
    // an extra file is a mismatch too
    writeFileSync(join(copy, 'model/config.json'), '{"w":1}\n');
    writeFileSync(join(copy, 'model/backdoor.pkl'), 'x');
    const extra = await verify(copy, '--artifact', 'model');
    assert.equal(extra.report.failure?.code, 'ARTIFACT_MISMATCH');
    assert.match(extra.report.failure!.message, /model\/backdoor\.pkl: not produced by 'fetch-model' \(extra file, on disk sha256:[0-9a-f]{64}\)/);
  });

  it('--subject: a digest the step produced passes; any other is SUBJECT_MISMATCH', async () => {
    const config = createHash('sha256').update('{"w":1}\n').digest('hex');
    const ok = await verify(dir, '--subject', `sha256:${config}`);
    assert.equal(ok.code, 0, JSON.stringify(ok.report.failure));
    assert.deepEqual(ok.report.proven!.subjects, [{ digest: { sha256: config }, recordedAs: 'model/config.json' }]);
    const bad = await verify(dir, '--subject', `sha256:${'ab'.repeat(32)}`);
    assert.equal(bad.code, 1);
    assert.equal(bad.report.failure?.code, 'SUBJECT_MISMATCH');
    assert.match(bad.report.failure!.message, /^sha256:(ab){32} is no artifact step 'fetch-model' produced/);
    const usage = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--subject', 'sha256:12'], { cwd: dir });
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr, 'custody: --subject "sha256:12": expected sha256: and 64 hex digits\n');
    const missing = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--artifact', 'nope'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'custody: nope: no such file or folder (--artifact)\n');
  });

  it('custody run --layout refuses a key that is not a functionary of the step', async () => {
    const r = await custody(['run', '--step', 'fetch-model', '--key', 'owner', '--layout', 'root.layout', '--no-command'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^custody: root\.layout: owner \(keyid [0-9a-f]{8}\) is not a functionary of step 'fetch-model' in the layout\n$/);
  });
});
