// `custody run --format sigstore`: the link (link predicate v0.3) and every plugin Statement
// written as Sigstore bundles; `custody verify` counts the link bundle as the step's link and
// evaluates the layout's expectedPredicates over the plugin bundle. The default (`legacy`)
// keeps the reference's metablock `.link`, which in-toto-verify reads, with the plugin
// Statements in bundles; `dsse` writes a DSSE `.link` and DSSE `*.att.json`. verify reads all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, loadSigner, writeKeyPair } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';

const COMMAND_RUN = 'https://custody.dev/attestation/command-run/v0.1';

const LAYOUT_YAML = `expires: 1y
keys: { bob: bob.pub }
steps:
  - name: build
    pubkeys: [bob]
    expected_command: [sh, -c, "mkdir -p dist && cp src/a.c dist/a.bin"]
    expected_materials: [ALLOW src/*, DISALLOW *]
    expected_products: [CREATE dist/a.bin, ALLOW src/*, DISALLOW *]
    expectedPredicates:
      - predicateType: ${COMMAND_RUN}
        expectedAttributes:
          - rule: predicate.exitCode == 0
          - rule: "predicate.argv[0] == 'sh'"
inspect: []
`;

describe('custody run --format legacy | dsse | sigstore', () => {
  let dir: string;
  let kid: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-run-sigstore-'));
    await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'));
    await writeKeyPair(join(dir, 'bob'), generateKeyPair('ecdsa-p256'));
    kid = (await loadSigner(join(dir, 'bob'))).keyid.slice(0, 8);
    await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
    const s = await custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'owner'), '--format', 'dsse', '-o', join(dir, 'root.layout')]);
    assert.equal(s.code, 0, s.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function runStep(name: string, script: string, format: string[] = ['--format', 'sigstore']) {
    const work = join(dir, name);
    await mkdir(join(work, 'src'), { recursive: true });
    await writeFile(join(work, 'src', 'a.c'), 'int main;\n');
    const r = await custody(['run', '-n', 'build', '-k', join(dir, 'bob'), ...format, '--plugin', 'command-run',
      '-m', 'src', '-p', 'src', 'dist', '-d', 'out', '--', 'sh', '-c', script], { cwd: work });
    const verify = (extra: string[] = []) => custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', join(work, 'out'), '--json', ...extra]);
    return { work, r, verify };
  }

  it('writes bundles only, and verify passes on them (link from the bundle, rules over command-run)', async () => {
    const { work, r, verify } = await runStep('good', 'mkdir -p dist && cp src/a.c dist/a.bin');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(join(work, 'out'))).sort(), [`build.${kid}.command-run.sigstore.json`, `build.${kid}.link.sigstore.json`]);
    const v = await verify();
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout);
    const th = report.checks.find((c: { check: string }) => c.check === 'threshold');
    assert.deepEqual(th.signers.map((s: { format: string; valid: boolean }) => [s.format, s.valid]), [['sigstore', true]]);
    const pr = report.checks.find((c: { check: string }) => c.check === 'predicate-rules');
    assert.deepEqual(pr.predicates[0].claims[0].rules.map((x: { verdict: string }) => x.verdict), ['pass', 'pass']);
  });

  it('a failed command is attested as such and fails the predicate rule', async () => {
    const { r, verify } = await runStep('failed', 'mkdir -p dist && cp src/a.c dist/a.bin && exit 3');
    assert.equal(r.code, 3, r.stderr);
    const v = await verify();
    assert.equal(v.code, 1, v.stderr);
    const report = JSON.parse(v.stdout);
    assert.deepEqual([report.failure.code, report.failure.check, report.failure.step], ['PREDICATE_RULE', 'predicate-rules', 'build']);
    const rule = report.checks.find((c: { check: string }) => c.check === 'predicate-rules').predicates[0].claims[0].rules[0];
    assert.deepEqual(rule.observed, { 'predicate.exitCode': 3 });
  });

  it('default (legacy): the metablock .link + a command-run bundle; --format dsse: DSSE .link + .att.json; verify passes on each', async () => {
    const cases: [string, string[], string[], string][] = [
      ['default', [], [`build.${kid}.command-run.sigstore.json`, `build.${kid}.link`], 'metablock'],
      ['legacy', ['--format', 'legacy'], [`build.${kid}.command-run.sigstore.json`, `build.${kid}.link`], 'metablock'],
      ['dsse', ['--format', 'dsse'], [`build.${kid}.command-run.att.json`, `build.${kid}.link`], 'dsse'],
    ];
    for (const [name, format, files, linkFormat] of cases) {
      const { work, r, verify } = await runStep(name, 'mkdir -p dist && cp src/a.c dist/a.bin', format);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await readdir(join(work, 'out'))).sort(), files, name);
      const v = await verify();
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const report = JSON.parse(v.stdout);
      const th = report.checks.find((c: { check: string }) => c.check === 'threshold');
      assert.deepEqual(th.signers.map((s: { format: string; valid: boolean }) => [s.format, s.valid]), [[linkFormat, true]], name);
      const pr = report.checks.find((c: { check: string }) => c.check === 'predicate-rules');
      assert.deepEqual(pr.predicates[0].claims[0].rules.map((x: { verdict: string }) => x.verdict), ['pass', 'pass'], name);
    }
  });

  it('config format sigstore; record start/stop --format sigstore writes the link bundle too', async () => {
    const work = join(dir, 'recorded');
    await mkdir(join(work, 'src'), { recursive: true });
    await writeFile(join(work, 'src', 'a.c'), 'int main;\n');
    await writeFile(join(work, 'custody.config.json'), JSON.stringify({ key: join(dir, 'bob'), format: 'sigstore', outDir: 'out', plugins: ['command-run'] }));
    const started = await custody(['record', 'start', '-n', 'build', '-m', 'src'], { cwd: work });
    assert.equal(started.code, 0, started.stderr);
    await mkdir(join(work, 'dist'));
    await writeFile(join(work, 'dist', 'a.bin'), 'int main;\n');
    const stopped = await custody(['record', 'stop', '-n', 'build', '-p', 'src', 'dist'], { cwd: work });
    assert.equal(stopped.code, 0, stopped.stderr);
    // an observed step runs no command: command-run has nothing to attest
    assert.deepEqual((await readdir(join(work, 'out'))).sort(), [`build.${kid}.link.sigstore.json`]);
    const bad = await custody(['record', 'stop', '-n', 'build', '--format', 'xml'], { cwd: work });
    assert.equal(bad.code, 2, bad.stderr);
  });
});
