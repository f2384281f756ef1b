// attestation-verifier's published examples (test/compat/fixtures/attestation-verifier, Apache-2.0,
// see its README) verify unchanged; tampered variants, signed with the example's own test key,
// fail at the right check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import {
  CustodyError, IN_TOTO_PAYLOAD_TYPE, loadCompatLayout, parseParameterFile, verifyCompatLayout,
  isAttestationVerifierLayout, publicKeyFromPem, publicKeyFromSslib, type CompatVerifyReport,
} from '../../packages/core/src/index.ts';
import { loadSigner, signDsse, serializeDsse, generateKeyPair, signerFromKeyObject } from '../../packages/sign/src/index.ts';

const F = join(import.meta.dirname, 'fixtures', 'attestation-verifier');
const NOW = new Date('2026-11-26T00:00:00Z');

type File = { name: string; text: string };
function folder(d: string): File[] {
  return readdirSync(join(F, d)).sort().map((name) => ({ name, text: readFileSync(join(F, d, name), 'utf8') }));
}
function layoutText(name: string): string {
  return readFileSync(join(F, 'layouts', name), 'utf8');
}
function verify(layoutName: string, files: File[], opts: { params?: Record<string, string>; now?: Date } = {}): CompatVerifyReport {
  const { layout, signedFile } = loadCompatLayout(layoutText(layoutName), layoutName);
  return verifyCompatLayout(layout, files, { now: opts.now ?? NOW, params: opts.params, signedFile });
}
function payloadOf(f: File): any {
  return JSON.parse(Buffer.from(JSON.parse(f.text).payload, 'base64').toString('utf8'));
}
async function resign(files: File[], name: string, edit: (statement: any) => void): Promise<File[]> {
  const signer = await loadSigner(join(F, 'test-data-raw', 'key'));
  return Promise.all(files.map(async (f) => {
    if (f.name !== name) return f;
    const st = payloadOf(f);
    edit(st);
    const env = await signDsse(Buffer.from(JSON.stringify(st)), IN_TOTO_PAYLOAD_TYPE, signer);
    return { name: f.name, text: serializeDsse(env) };
  }));
}

test('the example layout and test-data verify unchanged; the report says the layout is not signed', () => {
  const r = verify('layout.yml', folder('test-data'));
  assert.equal(r.verdict, 'pass', JSON.stringify(r.failure));
  assert.equal(r.layoutSigned, false);
  assert.match(r.warnings.join('\n'), /layout is not signed/);
  assert.deepEqual(r.steps.map((s) => [s.step, s.verdict]), [['clone', 'pass'], ['test', 'pass'], ['build', 'pass']]);
  assert.deepEqual(r.steps.map((s) => s.predicates[0].claims[0].artifactSource), ['link', 'subject', 'slsa-provenance-v1']);
  const build = r.steps[2].predicates[0].claims[0];
  assert.deepEqual(build.artifactRules.map((a) => [a.rule, a.consumed]), [
    ['MATCH foo WITH products FROM clone', ['foo']], ['DISALLOW *', []], ['CREATE bin/foo', ['bin/foo']], ['DISALLOW *', []],
  ]);
  assert.equal(build.rules.length, 2);
  assert.ok(build.rules.every((x) => x.verdict === 'pass'));
  assert.deepEqual(r.rejected, []);
});

test('the npm layout verifies with its parameters file (parameters referring to parameters)', () => {
  const params = parseParameterFile(readFileSync(join(F, 'parameters', 'npm-sigstore.json'), 'utf8'));
  const r = verify('layout-npm.yml', folder('test-data-npm'), { params });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.failure));
  const rules = r.steps[0].predicates[0].claims[0].rules.map((x) => x.rule);
  assert.ok(rules.includes("predicate.invocation.environment.GITHUB_WORKFLOW_REF == 'sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main'"));
  const build = r.steps[0].predicates[0].claims[0];
  assert.equal(build.artifactSource, 'slsa-provenance-v0.2');
  // matched on Go's path.Clean form, reported as written
  assert.deepEqual(build.artifactRules[0].consumed, ['git+https://github.com/sigstore/sigstore-js@refs/heads/main']);
});

test('the npm layout without its parameters is bad input naming the first missing one and its step', () => {
  assert.throws(() => verify('layout-npm.yml', folder('test-data-npm')), (e: unknown) =>
    e instanceof CustodyError && e.code === 'USAGE' && /step "build" .*rule 2: parameter config_source not given \(--param config_source=VALUE\)/.test(e.message));
  // a parameters file that lacks one is refused the same way
  const params = parseParameterFile(readFileSync(join(F, 'parameters', 'npm-sigstore.json'), 'utf8'));
  delete params.package_version;
  assert.throws(() => verify('layout-npm.yml', folder('test-data-npm'), { params }), (e: unknown) =>
    e instanceof CustodyError && e.code === 'USAGE' && /step "publish" .*rule 2: parameter package_version not given/.test(e.message));
});

test('a failing test-result claim fails PREDICATE_RULE with the value seen', async () => {
  const files = await resign(folder('test-data'), 'test.fe1c6281.json', (st) => { st.predicate.failedTests = ['test2']; st.predicate.result = 'FAILED'; });
  const r = verify('layout.yml', files);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.equal(r.failure?.step, 'test');
  const rules = r.steps[1].predicates[0].claims[0].rules;
  assert.deepEqual(rules.map((x) => x.verdict), ['fail', 'fail', 'pass']);
  assert.deepEqual(rules[0].observed, { 'predicate.failedTests': ['test2'] });
  assert.deepEqual(rules[1].observed, { 'predicate.result': 'FAILED' });
});

test('a different builder fails; a different clone command only warns (warn: true)', async () => {
  const builder = await resign(folder('test-data'), 'build.fe1c6281.json', (st) => { st.predicate.runDetails.builder.id = 'https://evil.example/builder'; });
  const r = verify('layout.yml', builder);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.equal(r.failure?.step, 'build');
  assert.match(r.failure!.message, /evil\.example/);
  const cmd = await resign(folder('test-data'), 'clone.fe1c6281.json', (st) => { st.predicate.command = ['git', 'clone', 'https://evil.example/foo.git']; });
  const w = verify('layout.yml', cmd);
  assert.equal(w.verdict, 'pass');
  assert.equal(w.steps[0].predicates[0].claims[0].rules[0].verdict, 'warn');
  assert.match(w.warnings.join('\n'), /predicate.command ==/);
});

test('a build from other sources fails the MATCH rule (ARTIFACT_RULE)', async () => {
  const files = await resign(folder('test-data'), 'build.fe1c6281.json', (st) => { st.predicate.buildDefinition.resolvedDependencies[0].digest.sha256 = '0'.repeat(64); });
  const r = verify('layout.yml', files);
  assert.equal(r.failure?.code, 'ARTIFACT_RULE');
  assert.equal(r.failure?.step, 'build');
  assert.match(r.failure!.message, /DISALLOW \* matched foo in materials/);
});

test('an attestation edited after signing is ignored, so its step has no claims', () => {
  const files = folder('test-data').map((f) => {
    if (f.name !== 'test.fe1c6281.json') return f;
    const env = JSON.parse(f.text);
    const st = payloadOf(f);
    st.predicate.result = 'PASSED!';
    env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    return { name: f.name, text: JSON.stringify(env) };
  });
  const r = verify('layout.yml', files);
  assert.equal(r.failure?.code, 'LINK_NOT_FOUND');
  assert.equal(r.failure?.step, 'test');
  assert.deepEqual(r.rejected.map((x) => x.file), ['test.fe1c6281.json']);
});

test('an attestation signed by another key does not count', async () => {
  const pair = generateKeyPair('ed25519');
  const other = signerFromKeyObject(createPrivateKey(pair.privatePem), publicKeyFromPem(pair.publicPem));
  const files = await Promise.all(folder('test-data').map(async (f) => f.name !== 'clone.fe1c6281.json' ? f
    : { name: f.name, text: serializeDsse(await signDsse(Buffer.from(JSON.stringify(payloadOf(f))), IN_TOTO_PAYLOAD_TYPE, other)) }));
  const r = verify('layout.yml', files);
  assert.equal(r.failure?.code, 'LINK_NOT_FOUND');
  assert.equal(r.failure?.step, 'clone');
});

test('a missing attestation fails LINK_NOT_FOUND; an expired layout LAYOUT_EXPIRED', () => {
  const r = verify('layout.yml', folder('test-data').filter((f) => !f.name.startsWith('build.')));
  assert.equal(r.failure?.code, 'LINK_NOT_FOUND');
  assert.equal(r.failure?.step, 'build');
  const e = verify('layout.yml', folder('test-data'), { now: new Date('2100-10-10T12:23:23Z') });
  assert.equal(e.failure?.code, 'LAYOUT_EXPIRED');
});

test('signed layouts have their signatures checked; unsigned ones cannot satisfy a layout key', async () => {
  const signer = await loadSigner(join(F, 'test-data-raw', 'key'));
  const doc = loadCompatLayout(layoutText('layout.yml')).document;
  assert.ok(isAttestationVerifierLayout(doc));
  const env = await signDsse(Buffer.from(JSON.stringify(doc)), IN_TOTO_PAYLOAD_TYPE, signer);
  const { layout, signedFile } = loadCompatLayout(serializeDsse(env), 'layout.dsse.json');
  assert.ok(signedFile);
  const good = verifyCompatLayout(layout, folder('test-data'), { now: NOW, signedFile, layoutKeys: [signer.publicKey] });
  assert.equal(good.verdict, 'pass', JSON.stringify(good.failure));
  assert.equal(good.layoutSigned, true);
  assert.ok(!good.warnings.some((w) => /not signed/.test(w)));
  const pair = generateKeyPair('ed25519');
  const wrong = verifyCompatLayout(layout, folder('test-data'), { now: NOW, signedFile, layoutKeys: [publicKeyFromPem(pair.publicPem)] });
  assert.equal(wrong.failure?.code, 'LAYOUT_SIGNATURE');
  assert.throws(() => verifyCompatLayout(layout, folder('test-data'), { now: NOW, signedFile }), (e: unknown) => e instanceof CustodyError && e.code === 'USAGE');
  const unsigned = loadCompatLayout(layoutText('layout.yml'));
  const asked = verifyCompatLayout(unsigned.layout, folder('test-data'), { now: NOW, layoutKeys: [signer.publicKey] });
  assert.equal(asked.failure?.code, 'LAYOUT_SIGNATURE');
  assert.match(asked.failure!.message, /not signed/);
});

test('bad layouts and parameter files are input errors naming the place', () => {
  const bad = (text: string) => { try { loadCompatLayout(text, 'l.yml'); } catch (e) { return `${(e as CustodyError).code} ${(e as Error).message}`; } return 'NO_ERROR'; };
  assert.match(bad('steps: [\n'), /^MALFORMED_YAML/);
  assert.match(bad(layoutText('layout.yml').replace('name: "test"', 'name: "clone"')), /^SCHEMA_INVALID steps\[1\].name: duplicate/);
  assert.match(bad(layoutText('layout.yml').replace(/functionaries:\n\s+- "fe1c6281c5ff13e35286cc67e5a1fb3e6575b840a6c39ca4267d3805eb17288a"\n\s+- name: "test"/, 'functionaries:\n          - "00"\n  - name: "test"')), /^SCHEMA_INVALID steps\[0\].expectedPredicates\[0\].functionaries: key 00 is not in functionaries/);
  assert.match(bad('expires: "soon"\nsteps: []\n'), /^SCHEMA_INVALID expires/);
  assert.throws(() => parseParameterFile('{"a": 1}'), (e: unknown) => e instanceof CustodyError && e.code === 'SCHEMA_INVALID');
  assert.throws(() => parseParameterFile('{'), (e: unknown) => e instanceof CustodyError && e.code === 'MALFORMED_JSON');
  // the keys in the example layout are read as custody keys with the layout's keyid
  const { layout } = loadCompatLayout(layoutText('layout.yml'));
  const k = publicKeyFromSslib(Object.values(layout.keys)[0]);
  assert.equal(k.keyid, 'fe1c6281c5ff13e35286cc67e5a1fb3e6575b840a6c39ca4267d3805eb17288a');
});
