// The build-image policy of layouts/ml-pipeline.yaml (its rules and plugins, taken from the
// file as it is), over an image built by the demo with buildah: a planted vulnerable Jinja2
// fails naming the package, version and advisory; a VEX not_affected statement for it passes;
// an old vulnerability database and a license off the allowlist fail their rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildImage, OSV_SNAPSHOT, type PlantedPackage } from '../../../packages/demo/src/oci/image.ts';
import { custody, REPO_ROOT } from '../../../test/helpers/cli.ts';

interface Step { name: string; plugins: { name: string; options: Record<string, unknown> }[]; expectedPredicates: { predicateType: string }[] }

interface Report { verdict: string; failure: { code: string; step: string; message: string } | null; checks: { check: string; step?: string; verdict: string; message?: string }[] }

/** A folder with keys, an image built by the demo (buildah) and the OSV database. */
async function setUp(t: { after(fn: () => Promise<void>): void }, packages: PlantedPackage[], osv?: unknown[]) {
  const dir = await mkdtemp(join(tmpdir(), 'custody-image-policy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const k of ['owner', 'release']) assert.equal((await custody(['keygen', k], { cwd: dir })).code, 0);
  const model = join(dir, 'model');
  await mkdir(model);
  for (const f of ['model.safetensors', 'config.json', 'README.md']) await writeFile(join(model, f), f);
  const built = await buildImage({ modelDir: model, out: join(dir, 'image'), builder: 'buildah', packages });
  assert.equal(built.builder, 'buildah');
  await mkdir(join(dir, 'vulndb'));
  await writeFile(join(dir, 'vulndb', 'osv.json'), osv ? JSON.stringify(osv) : await readFile(OSV_SNAPSHOT));
  return dir;
}

/** Signs a one-step layout with the real build-image step's plugins and rules, runs the step, verifies. */
async function recordAndVerify(dir: string, o: { vex?: object } = {}): Promise<{ code: number; stderr: string; report: Report }> {
  const source = parse(await readFile(join(REPO_ROOT, 'layouts/ml-pipeline.yaml'), 'utf8')) as { steps: Step[] };
  const step = source.steps.find((s) => s.name === 'build-image')!;
  assert.ok(step.plugins.some((p) => p.name === 'sbom') && step.plugins.some((p) => p.name === 'vulns'), 'the layout records SBOM and scan');
  // the image's contents only: this test records no command, so the step's runtime trace (and its rules) stays out
  step.plugins = step.plugins.filter((p) => p.name !== 'trace');
  step.expectedPredicates = step.expectedPredicates.filter((e) => !e.predicateType.includes('runtime-trace'));
  if (o.vex) {
    await writeFile(join(dir, 'vex.json'), JSON.stringify(o.vex));
    step.plugins.find((p) => p.name === 'vulns')!.options.vex = ['vex.json'];
  }
  const layout = {
    expires: '2027-12-31T00:00:00Z',
    keys: { release: './release.pub' },
    steps: [{ name: 'build-image', pubkeys: ['release'], threshold: 1, plugins: step.plugins, expectedPredicates: step.expectedPredicates }],
  };
  await writeFile(join(dir, 'layout.yaml'), stringify(layout));
  const signed = await custody(['layout', 'sign', 'layout.yaml', '--key', 'owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  const run = await custody(['run', '--step', 'build-image', '--key', 'release', '--layout', 'root.layout', '--products', 'image', 'vulndb', '--no-command'], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  const verify = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json'], { cwd: dir });
  return { code: verify.code, stderr: verify.stderr, report: JSON.parse(verify.stdout) as Report };
}

const JINJA_OLD: PlantedPackage = { ecosystem: 'pypi', name: 'Jinja2', version: '2.10', license: 'BSD-3-Clause' };
const LODASH_FIXED: PlantedPackage = { ecosystem: 'npm', name: 'lodash', version: '4.17.21', license: 'MIT' };

test('a planted vulnerable Jinja2 fails the layout\'s vulnerability rule naming package, version and advisory; a VEX not_affected statement for it passes', async (t) => {
  const dir = await setUp(t, [JINJA_OLD, LODASH_FIXED]);
  const failed = await recordAndVerify(dir);
  assert.equal(failed.code, 1, failed.stderr);
  assert.equal(failed.report.failure?.code, 'PREDICATE_RULE');
  assert.equal(failed.report.failure?.step, 'build-image');
  const msg = failed.report.failure!.message;
  assert.match(msg, /no critical, high or unrated vulnerability in the image without a VEX not_affected statement/);
  assert.match(msg, /"id":"GHSA-462w-v97r-4m45"/);
  // the message is cut to the values that decided it; the report keeps every value the rule read
  assert.match(msg, /"package":"Jinja2","version":"2\.10"/);
  const rulesRead = JSON.stringify(failed.report.checks.filter((c) => c.check === 'predicate-rules' && c.step === 'build-image'));
  assert.match(rulesRead, /"package":"Jinja2","version":"2\.10","purl":"pkg:pypi\/jinja2@2\.10"/);
  assert.doesNotMatch(msg, /lodash@4\.17\.21/, 'the fixed lodash is not a finding');

  // a VEX statement about another version does not cover this one
  const vex = {
    '@context': 'https://openvex.dev/ns/v0.2.0', '@id': 'https://example.com/vex/1', author: 'release-engineer', timestamp: '2026-11-30T00:00:00Z', version: 1,
    statements: [{ vulnerability: { name: 'CVE-2019-10906' }, products: [{ '@id': 'pkg:pypi/jinja2@2.9' }], status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path' }],
  };
  const other = await recordAndVerify(dir, { vex });
  assert.equal(other.code, 1);
  assert.match(other.report.failure!.message, /GHSA-462w-v97r-4m45/);

  // by alias (CVE-2019-10906 is GHSA-462w-v97r-4m45), for this package and version: passes
  const covered = await recordAndVerify(dir, { vex: { ...vex, statements: [{ ...vex.statements[0], products: [{ '@id': 'pkg:pypi/jinja2@2.10' }] }] } });
  assert.equal(covered.code, 0, JSON.stringify(covered.report.failure) + covered.stderr);
  assert.equal(covered.report.verdict, 'pass');
});

test('an old vulnerability database and a license off the allowlist fail their rules', async (t) => {
  const old = JSON.parse(await readFile(OSV_SNAPSHOT, 'utf8')).map((r: Record<string, unknown>) => ({ ...r, modified: '2024-01-01T00:00:00Z' }));
  const dir = await setUp(t, [{ ecosystem: 'npm', name: 'left-pad', version: '1.3.0', license: 'WTFPL' }, LODASH_FIXED], old);
  const { code, report } = await recordAndVerify(dir);
  assert.equal(code, 1);
  const text = JSON.stringify(report.checks.filter((c) => c.step === 'build-image'));
  assert.match(text, /every package in the image has a license on the allowlist/);
  assert.match(text, /the vulnerability database is at most 400 days old at verification time/);
  assert.match(text, /2024-01-01T00:00:00\.000Z/);
});
