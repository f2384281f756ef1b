// `custody verify` with attestations: Sigstore bundles and DSSE Statements from the link folder
// and the local store feed the layout's expectedPredicates (step 10); bundles that do not verify
// are reported with their code; attestation-verifier layouts verify through the same command;
// `custody layout lint` compiles every CEL rule.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, STEP_ANNOTATION, linkFileName, normalizeLink } from '../../packages/core/src/index.ts';
import type { Statement } from '../../packages/core/src/index.ts';
import {
  createKeyBundleSigner, generateKeyPair, loadSigner, serializeDsse, serializeMetablock, signDsse, signMetablock, writeKeyPair,
} from '../../packages/sign/src/index.ts';
import type { Signer } from '../../packages/sign/src/index.ts';
import { LocalStore } from '../../packages/store/src/index.ts';
import { custody } from '../helpers/cli.ts';

const TEST_RESULT = 'https://in-toto.io/attestation/test-result/v0.1';
const COMPAT = join(import.meta.dirname, '..', 'compat', 'fixtures', 'attestation-verifier');
const h = (c: string) => ({ sha256: c.repeat(64) });

function testResult(result: string, failedTests: string[] = []): Statement {
  return { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'dist/a.bin', digest: h('2'), annotations: { [STEP_ANNOTATION]: 'build' } }], predicateType: TEST_RESULT, predicate: { result, failedTests } };
}

const LAYOUT_YAML = `expires: 1y
keys: { owner: owner.pub, bob: bob.pub, tester: tester.pub }
steps:
  - name: build
    pubkeys: [bob]
    expected_command: make
    expected_materials: [ALLOW src/*, DISALLOW *]
    expected_products: [CREATE dist/*, DISALLOW *]
    expectedPredicates:
      - predicateType: ${TEST_RESULT}
        functionaries: [tester]
        expectedAttributes:
          - rule: "predicate.result == 'PASSED'"
          - rule: size(predicate.failedTests) == 0
inspect: []
`;

describe('custody verify: expectedPredicates over stored attestations', () => {
  let dir: string;
  const signers: Record<string, Signer> = {};
  let schemaValidate: ((d: unknown) => boolean) & { errors?: unknown };

  /** A fresh case folder: the signed layout, bob's link, and whatever attestations `setup` writes. */
  async function scenario(name: string, setup: (c: { links: string; store: LocalStore; root: string }) => Promise<void>) {
    const root = join(dir, name);
    const links = join(root, 'links');
    await mkdir(links, { recursive: true });
    await writeFile(join(root, 'root.layout'), await readFile(join(dir, 'root.layout')));
    const link = normalizeLink({ _type: 'link', name: 'build', command: ['make'], materials: { 'src/a.c': h('1') }, products: { 'dist/a.bin': h('2') }, byproducts: {}, environment: {} });
    await writeFile(join(links, linkFileName('build', signers.bob.keyid)), serializeMetablock(await signMetablock<unknown>(link, signers.bob)));
    await setup({ links, store: LocalStore.forLayout(join(root, 'root.layout')), root });
    return { root, links, args: ['verify', '--layout', join(root, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', links] };
  }
  const bundle = async (who: string, st: Statement) => JSON.stringify(await createKeyBundleSigner(signers[who]).signStatement(st));
  const bundleName = (who: string) => `build.${signers[who].keyid.slice(0, 8)}.test-result.sigstore.json`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-verify-att-'));
    for (const who of ['owner', 'bob', 'tester', 'eve']) {
      await writeKeyPair(join(dir, who), generateKeyPair('ed25519'));
      signers[who] = await loadSigner(join(dir, who));
    }
    await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
    const signed = await custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'owner'), '--format', 'dsse', '-o', join(dir, 'root.layout')]);
    assert.equal(signed.code, 0, signed.stderr);
    // ajv is a dependency of @custody/core, not of the repository root
    const ajvModule = createRequire(join(import.meta.dirname, '..', '..', 'packages', 'core', 'package.json'))('ajv');
    const Ajv = (ajvModule.default ?? ajvModule) as new (o: object) => { compile(s: unknown): typeof schemaValidate };
    schemaValidate = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'verify-report.schema.json'), 'utf8')));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a passing test-result bundle in the link folder: exit 0, the rules in the report', async () => {
    const c = await scenario('pass', async ({ links }) => writeFile(join(links, bundleName('tester')), await bundle('tester', testResult('PASSED'))));
    const r = await custody([...c.args, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    assert.ok(schemaValidate(report), JSON.stringify(schemaValidate.errors));
    const pr = report.checks.find((x: { check: string }) => x.check === 'predicate-rules');
    assert.equal(pr.verdict, 'pass');
    assert.deepEqual(pr.predicates[0].claims[0].rules.map((x: { verdict: string }) => x.verdict), ['pass', 'pass']);
    // the compact tree counts the passed rules; --verbose lists them (ASCII marks into a pipe)
    const tree = await custody(c.args);
    assert.match(tree.stdout, /ok {3}step build .*1 predicate \(2 rules passed\)/);
    const verbose = await custody([...c.args, '--verbose']);
    assert.match(verbose.stdout, /ok {3}predicate\.result == 'PASSED'/);
  });

  it('reads the store next to the layout by default, and --store DIR', async () => {
    const c = await scenario('store', async ({ store }) => { await store.put('build', signers.tester.keyid, 'test-result', await bundle('tester', testResult('PASSED'))); });
    const r = await custody(c.args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const elsewhere = await scenario('store-flag', async ({ root }) => {
      await new LocalStore(join(root, 'elsewhere')).put('build', signers.tester.keyid, 'test-result', await bundle('tester', testResult('PASSED')));
    });
    assert.equal((await custody(elsewhere.args)).code, 1, 'not found without --store');
    const w = await custody([...elsewhere.args, '--store', join(elsewhere.root, 'elsewhere')]);
    assert.equal(w.code, 0, w.stdout + w.stderr);
  });

  it('a failing rule: exit 1, PREDICATE_RULE at predicate-rules naming the step, the value seen', async () => {
    const c = await scenario('fail', async ({ links }) => writeFile(join(links, bundleName('tester')), await bundle('tester', testResult('FAILED', ['t2']))));
    const r = await custody([...c.args, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.ok(schemaValidate(report), JSON.stringify(schemaValidate.errors));
    assert.deepEqual([report.failure.code, report.failure.check, report.failure.step], ['PREDICATE_RULE', 'predicate-rules', 'build']);
    const tree = await custody(c.args);
    assert.equal(tree.code, 1);
    assert.match(tree.stdout, /saw predicate\.result = "FAILED"/);
    assert.match(tree.stdout, /saw predicate\.failedTests = \["t2"\]/);
  });

  it('a {param} of a predicate rule that is not given: bad input (exit 2) naming it and the step; given, it is substituted', async () => {
    const c = await scenario('param', async ({ links, root }) => {
      await writeFile(join(links, bundleName('tester')), await bundle('tester', testResult('PASSED')));
      await writeFile(join(root, 'layout.yaml'), LAYOUT_YAML.replace("predicate.result == 'PASSED'", "predicate.result == '{expected_result}'").replace('keys: { owner: owner.pub, bob: bob.pub, tester: tester.pub }', `keys: { owner: ${join(dir, 'owner.pub')}, bob: ${join(dir, 'bob.pub')}, tester: ${join(dir, 'tester.pub')} }`));
      const signed = await custody(['layout', 'sign', join(root, 'layout.yaml'), '--key', join(dir, 'owner'), '--format', 'dsse', '-o', join(root, 'root.layout')]);
      assert.equal(signed.code, 0, signed.stderr);
    });
    for (const extra of [[], ['--param', 'other=1']]) {
      const r = await custody([...c.args, '--json', ...extra]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^custody: .*step "build" predicate https:\/\/in-toto\.io\/attestation\/test-result\/v0\.1 rule 1: parameter expected_result not given \(--param expected_result=VALUE\)\n$/);
    }
    const ok = await custody([...c.args, '--json', '--param', 'expected_result=PASSED']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(JSON.parse(ok.stdout).checks.find((x: { check: string }) => x.check === 'predicate-rules').predicates[0].claims[0].rules[0].rule, "predicate.result == 'PASSED'");
    const lint = await custody(['layout', 'lint', join(c.root, 'layout.yaml')]);
    assert.equal(lint.code, 0, `lint without parameters only checks syntax: ${lint.stdout}${lint.stderr}`);
  });

  it('a DSSE Statement (*.att.json) signed by the functionary counts too', async () => {
    const c = await scenario('dsse', async ({ links }) => {
      const env = await signDsse(Buffer.from(JSON.stringify(testResult('PASSED'))), IN_TOTO_PAYLOAD_TYPE, signers.tester);
      await writeFile(join(links, `build.${signers.tester.keyid.slice(0, 8)}.test-result.att.json`), serializeDsse(env));
    });
    const r = await custody(c.args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('bundles that do not verify are reported with their code, never a crash', async () => {
    const eve = await scenario('unknown-key', async ({ links }) => writeFile(join(links, bundleName('eve')), await bundle('eve', testResult('PASSED'))));
    const r = await custody([...eve.args, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual([report.failure.code, report.failure.check, report.failure.step], ['SIGNATURE_INVALID', 'predicate-rules', 'build']);
    const pr = report.checks.find((x: { check: string }) => x.check === 'predicate-rules');
    assert.equal(pr.rejected[0].code, 'SIGNATURE_INVALID');
    assert.match(pr.rejected[0].reason, /not among the trusted keys/);

    const tampered = await scenario('tampered', async ({ links }) => {
      const b = JSON.parse(await bundle('tester', testResult('FAILED')));
      b.dsseEnvelope.payload = Buffer.from(JSON.stringify(testResult('PASSED'))).toString('base64');
      await writeFile(join(links, bundleName('tester')), JSON.stringify(b));
      await writeFile(join(links, `build.${signers.tester.keyid.slice(0, 8)}.junk.sigstore.json`), '{"mediaType": "nope"');
    });
    const t = await custody([...tampered.args, '--json']);
    assert.equal(t.code, 1, t.stderr);
    const tr = JSON.parse(t.stdout);
    assert.equal(tr.failure.check, 'predicate-rules');
    const codes = tr.checks.find((x: { check: string }) => x.check === 'predicate-rules').rejected.map((x: { code: string }) => x.code).sort();
    assert.deepEqual(codes, ['BUNDLE_MALFORMED', 'SIGNATURE_INVALID']);
    assert.equal(tr.failure.code, 'THRESHOLD', 'different reasons: the generic code');
    const tree = await custody(tampered.args);
    assert.match(tree.stdout, /rejected BUNDLE_MALFORMED: bundle is not JSON/);
  });

  it('a layout bundle in the store but no step link: LINK_NOT_FOUND as before (links come first)', async () => {
    const c = await scenario('nolink', async ({ links }) => {
      await writeFile(join(links, bundleName('tester')), await bundle('tester', testResult('PASSED')));
      await rm(join(links, linkFileName('build', signers.bob.keyid)));
    });
    const r = await custody([...c.args, '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual([JSON.parse(r.stdout).failure.code, JSON.parse(r.stdout).failure.check], ['LINK_NOT_FOUND', 'links']);
  });

  it('a link Statement bundle by the step functionary replaces the .link file', async () => {
    const c = await scenario('link-bundle', async ({ links }) => {
      await rm(join(links, linkFileName('build', signers.bob.keyid)));
      const st: Statement = {
        _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'dist/a.bin', digest: h('2') }], predicateType: 'https://in-toto.io/attestation/link/v0.3',
        predicate: { name: 'build', command: ['make'], materials: [{ name: 'src/a.c', digest: h('1') }], byproducts: {}, environment: {} },
      };
      await writeFile(join(links, `build.${signers.bob.keyid.slice(0, 8)}.link.sigstore.json`), await bundle('bob', st));
      await writeFile(join(links, bundleName('tester')), await bundle('tester', testResult('PASSED')));
    });
    const r = await custody([...c.args, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const th = JSON.parse(r.stdout).checks.find((x: { check: string }) => x.check === 'threshold');
    assert.equal(th.signers[0].format, 'sigstore');
  });
});

describe('custody layout lint: CEL rules', () => {
  it('every rule compiled; syntax errors with their path and line:column, exit 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'custody-lint-cel-'));
    try {
      await writeKeyPair(join(dir, 'bob'), generateKeyPair('ed25519'));
      await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML.replace('keys: { owner: owner.pub, bob: bob.pub, tester: tester.pub }', 'keys: { bob: bob.pub }')
        .replace('functionaries: [tester]', 'functionaries: [bob, { issuer: "https://token.ci.test", subjectPattern: "https://ci\\\\.test/.*" }]')
        .replace("rule: \"predicate.result == 'PASSED'\"", "rule: \"predicate.result == ('PASSED'\""));
      const r = await custody(['layout', 'lint', join(dir, 'layout.yaml')]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /error steps\[0\]\.expectedPredicates\[0\]\.expectedAttributes\[0\]\.rule: 1:\d+: /);
      assert.match(r.stdout, /warning steps\[0\]\.expectedPredicates\[0\]\.functionaries: keyless functionaries need a trusted root/);
      assert.doesNotMatch(r.stdout, /expectedAttributes\[1\]/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('custody verify: attestation-verifier layouts', () => {
  const layout = (n: string) => join(COMPAT, 'layouts', n);
  it('its published examples verify unchanged; the report says plainly the layout is not signed', async () => {
    const r = await custody(['verify', '--layout', layout('layout.yml'), '--link-dir', join(COMPAT, 'test-data'), '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    const ajvModule = createRequire(join(import.meta.dirname, '..', '..', 'packages', 'core', 'package.json'))('ajv');
    const validate = new (ajvModule.default ?? ajvModule)({ strict: false }).compile(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'verify-report.schema.json'), 'utf8')));
    assert.ok(validate(report), JSON.stringify(validate.errors));
    assert.equal(report.layoutSigned, false);
    assert.equal(report.layoutFormat, 'attestation-verifier');
    assert.match(report.checks[0].message, /layout is NOT signed/);
    assert.deepEqual(report.checks.filter((c: { check: string }) => c.check === 'predicate-rules').map((c: { step: string; verdict: string }) => [c.step, c.verdict]),
      [['clone', 'pass'], ['test', 'pass'], ['build', 'pass']]);
    const tree = await custody(['verify', '--layout', layout('layout.yml'), '--link-dir', join(COMPAT, 'test-data')]);
    assert.equal(tree.code, 0);
    assert.match(tree.stdout, /warn layout signature  layout is NOT signed: its integrity and author are not checked/);
    const npm = await custody(['verify', '--layout', layout('layout-npm.yml'), '--link-dir', join(COMPAT, 'test-data-npm'), '--param-file', join(COMPAT, 'parameters', 'npm-sigstore.json')]);
    assert.equal(npm.code, 0, npm.stdout + npm.stderr);
  });

  it('without the parameters the npm example is bad input naming the parameter and step (exit 2); so is a bad parameter file', async () => {
    const r = await custody(['verify', '--layout', layout('layout-npm.yml'), '--link-dir', join(COMPAT, 'test-data-npm'), '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^custody: .*step "build" .*parameter config_source not given \(--param config_source=VALUE\)/);
    const bad = await custody(['verify', '--layout', layout('layout-npm.yml'), '--link-dir', join(COMPAT, 'test-data-npm'), '--param-file', layout('layout.yml')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^custody: .*layout\.yml: parameter file is not JSON/);
  });

  it('an unsigned layout cannot satisfy --layout-key (LAYOUT_SIGNATURE)', async () => {
    const r = await custody(['verify', '--layout', layout('layout.yml'), '--link-dir', join(COMPAT, 'test-data'), '--layout-key', join(COMPAT, 'test-data-raw', 'key.pub'), '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual([JSON.parse(r.stdout).failure.code, JSON.parse(r.stdout).failure.check], ['LAYOUT_SIGNATURE', 'layout-signature']);
  });
});
