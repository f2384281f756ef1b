// Every layout a user starts from — layouts/*.yaml, the YAML layouts in README.md and docs/, and
// what `custody layout init` writes — passes `custody layout lint` and `custody layout sign`.
// And lint and sign agree: what lint calls an error, sign refuses (unless --force).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT, custody } from '../helpers/cli.ts';
import { layoutKeyRefs, parseLayoutDocument } from '../../packages/core/src/index.ts';

const parseYaml = (text: string): unknown => parseLayoutDocument(text, 'layout.yaml');
import { generateKeyPair, writeKeyPair } from '../../packages/sign/src/index.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-layout-examples-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const TRUSTED_ROOT = join(REPO_ROOT, 'plugins/model/test/fixtures/model-signing-sigstore/trusted_root.json');

/** The layouts in a Markdown file: ```yaml blocks with a top-level `steps:`. */
function markdownLayouts(file: string): { name: string; text: string }[] {
  const md = readFileSync(join(REPO_ROOT, file), 'utf8');
  const out: { name: string; text: string }[] = [];
  for (const m of md.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
    if (!/^steps:/m.test(m[1])) continue;
    out.push({ name: `${file}:${md.slice(0, m.index).split('\n').length}`, text: m[1] });
  }
  return out;
}

const examples = [
  ...readdirSync(join(REPO_ROOT, 'layouts')).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ name: `layouts/${f}`, text: readFileSync(join(REPO_ROOT, 'layouts', f), 'utf8') })),
  ...['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].flatMap(markdownLayouts),
];

let n = 0;
/** A folder with the example as layout.yaml and a fresh key for every key file it names. */
function folderFor(text: string): string {
  const dir = join(root, `ex${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'layout.yaml'), text);
  return dir;
}
async function withKeys(dir: string, text: string): Promise<void> {
  for (const ref of layoutKeyRefs(parseYaml(text))) {
    const path = join(dir, ref);
    mkdirSync(dirname(path), { recursive: true });
    await writeKeyPair(path.replace(/\.pub$/, ''), generateKeyPair('ed25519'));
  }
  if (/trustedRoot: \{ path: trusted_root\.json/.test(text)) copyFileSync(TRUSTED_ROOT, join(dir, 'trusted_root.json'));
  if (!existsSync(join(dir, 'owner'))) await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'));
}

test('the examples are found (layouts/, README.md, docs/)', () => {
  const names = examples.map((e) => e.name);
  assert.ok(names.includes('layouts/ml-pipeline.yaml') && names.includes('layouts/license-only.yaml'), names.join(', '));
  assert.ok(names.some((x) => x.startsWith('docs/layouts.md:')), names.join(', '));
  assert.ok(names.filter((x) => x.startsWith('docs/attestations.md:')).length >= 2, names.join(', '));
});

for (const ex of examples) {
  test(`${ex.name}: lint passes, sign signs`, async () => {
    const dir = folderFor(ex.text);
    await withKeys(dir, ex.text);
    const lint = await custody(['layout', 'lint', 'layout.yaml', '--json'], { cwd: dir });
    const report = JSON.parse(lint.stdout);
    assert.deepEqual(report.messages.filter((m: { severity: string }) => m.severity === 'error'), [], ex.name);
    assert.equal(lint.code, 0, lint.stderr);
    const sign = await custody(['layout', 'sign', 'layout.yaml', '--key', 'owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: dir });
    assert.equal(sign.code, 0, `${ex.name}: ${sign.stderr}`);
    assert.match(sign.stdout, /^root\.layout: DSSE envelope signed by [0-9a-f]{8}\n$/);
  });
}

test('custody layout init: a commented fetch → train → evaluate → image layout and its keys, which lint and sign', async () => {
  const dir = join(root, 'init');
  mkdirSync(dir);
  const r = await custody(['layout', 'init', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(join(dir, 'keys')).sort(), ['evaluator', 'evaluator.pub', 'ml-engineer', 'ml-engineer.pub', 'owner', 'owner.pub', 'release-engineer', 'release-engineer.pub']);
  const text = readFileSync(join(dir, 'layout.yaml'), 'utf8');
  assert.deepEqual((parseYaml(text) as { steps: { name: string }[] }).steps.map((s) => s.name), ['fetch-model', 'train', 'evaluate', 'build-image']);
  assert.ok(text.split('\n').filter((l) => /^\s*#/.test(l)).length >= 10, 'the scaffold explains itself in comments');
  const lint = await custody(['layout', 'lint', 'layout.yaml', '--json'], { cwd: dir });
  assert.equal(lint.code, 0, lint.stdout);
  assert.equal(JSON.parse(lint.stdout).errors, 0);
  const sign = await custody(['layout', 'sign', 'layout.yaml', '--key', 'keys/owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: dir });
  assert.equal(sign.code, 0, sign.stderr);
  // again: the layout is not replaced without --force, and existing keys are never replaced
  const pub = readFileSync(join(dir, 'keys/owner.pub'), 'utf8');
  const again = await custody(['layout', 'init', '--dir', dir]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^custody: .*layout\.yaml: already exists; --force replaces it\n$/);
  const forced = await custody(['layout', 'init', '--dir', dir, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(join(dir, 'keys/owner.pub'), 'utf8'), pub);
});

test('lint and sign agree: sign refuses what lint calls an error, --force signs anyway', async () => {
  const dir = folderFor('expires: "2020-01-01T00:00:00Z"\nkeys: [alice.pub]\nsteps:\n  - name: a\n    pubkeys: [alice]\n');
  await writeKeyPair(join(dir, 'alice'), generateKeyPair('ed25519'));
  await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'));
  const lint = await custody(['layout', 'lint', 'layout.yaml'], { cwd: dir });
  assert.equal(lint.code, 1);
  assert.match(lint.stdout, /layout\.yaml: error expires: already expired \(2020-01-01T00:00:00Z\)/);
  const sign = await custody(['layout', 'sign', 'layout.yaml', '--key', 'owner', '-o', 'root.layout'], { cwd: dir });
  assert.equal(sign.code, 2);
  assert.equal(sign.stderr, 'custody: layout.yaml: not signed: 1 lint error, first expires: already expired (2020-01-01T00:00:00Z) (custody layout lint layout.yaml lists them; --force signs anyway)\n');
  assert.equal(existsSync(join(dir, 'root.layout')), false);
  const forced = await custody(['layout', 'sign', 'layout.yaml', '--key', 'owner', '-o', 'root.layout', '--force'], { cwd: dir });
  assert.equal(forced.code, 0, forced.stderr);
  // adding a signature to a signed layout is checked the same way
  const add = await custody(['layout', 'sign', 'root.layout', '--key', 'alice', '-o', 'twice.layout'], { cwd: dir });
  assert.equal(add.code, 2);
  assert.match(add.stderr, /not signed: 1 lint error, first expires: already expired/);
});

test('run: [true] is one message that says what YAML did and how to write it', async () => {
  const dir = folderFor('expires: 30d\nkeys: [alice.pub]\nsteps:\n  - name: a\n    pubkeys: [alice]\n    run: [true]\n');
  await writeKeyPair(join(dir, 'alice'), generateKeyPair('ed25519'));
  await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'));
  const lint = await custody(['layout', 'lint', 'layout.yaml'], { cwd: dir });
  assert.equal(lint.code, 1);
  assert.equal(lint.stdout, 'layout.yaml: error steps[0].run: must be a command: one string of shell words or the list of its arguments; YAML reads true as a boolean, not text: quote it ("true")\n1 error(s)\n');
  const sign = await custody(['layout', 'sign', 'layout.yaml', '--key', 'owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: dir });
  assert.equal(sign.code, 2);
  assert.match(sign.stderr, /^custody: layout\.yaml: not signed: 1 lint error, first steps\[0\]\.run: must be a command: .*quote it \("true"\)/);
});

test('YAML errors name the line and column', async () => {
  const dir = folderFor('expires: 30d\nsteps:\n  - name: a\n    name: b\n');
  for (const cmd of [['layout', 'lint', 'layout.yaml'], ['layout', 'sign', 'layout.yaml', '--key', 'owner', '-o', 'x']]) {
    await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'), { overwrite: true });
    const r = await custody(cmd, { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, 'custody: layout.yaml: not valid YAML: line 4, column 5: Map keys must be unique\n');
  }
  writeFileSync(join(dir, 'layout.yaml'), '\n\nexpires: 30d\nsteps: [a,\n');
  const r = await custody(['layout', 'lint', 'layout.yaml'], { cwd: dir });
  assert.match(r.stderr, /^custody: layout\.yaml: not valid YAML: line 5, column 1: /);
});
