// Step 10 of the pure verifier: expectedPredicates of a DSSE layout evaluated over the claims an
// attestation collector verified; link Statements counted as links (keys and keyless identities);
// thresholds over distinct functionaries; rejected attestations reported with their codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CustodyError, IN_TOTO_PAYLOAD_TYPE, linkFileName, linkToStatement, normalizeLayout, normalizeLink, parseSignedFile, publicKeyFromPem,
  keylessFunctionaryId, renderVerificationTree, verifySupplyChain, STEP_ANNOTATION,
  type AttestationRequest, type CollectedAttestations, type PublicKey, type Statement, type VerifiedClaim, type VerifyInput,
} from '@custody/core';
import {
  generateKeyPair, inTotoDssePayload, serializeDsse, serializeMetablock, signDsse, signMetablock, signerFromKeyObject, type Signer,
} from '../../sign/src/index.ts';

interface Party { key: PublicKey; signer: Signer }
function party(): Party {
  const pair = generateKeyPair('ed25519');
  const key = publicKeyFromPem(pair.publicPem);
  return { key, signer: signerFromKeyObject(createPrivateKey(pair.privatePem), key) };
}
const owner = party();
const bob = party();
const tester = party();
const NOW = new Date('2030-06-01T00:00:00Z');
const TEST_RESULT = 'https://in-toto.io/attestation/test-result/v0.1';
const LINK = 'https://in-toto.io/attestation/link/v0.3';
const ISSUER = 'https://token.ci.test';
const CI = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/build.yml@refs/heads/main' };
const CI2 = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/release.yml@refs/heads/main' };
const h = (c: string) => ({ sha256: c.repeat(64) });
const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

const BUILD = normalizeLink({ _type: 'link', name: 'build', command: ['make'], materials: { 'src/a.c': h('1') }, products: { 'dist/a.bin': h('2') }, byproducts: {}, environment: {} });

type StepOver = Record<string, unknown>;
function layoutBody(build: StepOver = {}, extra: Record<string, unknown> = {}) {
  return {
    _type: 'layout', expires: '2031-01-01T00:00:00Z', readme: '', ...extra,
    keys: { [owner.key.keyid]: owner.key.sslib, [bob.key.keyid]: bob.key.sslib, [tester.key.keyid]: tester.key.sslib },
    steps: [{
      _type: 'step', name: 'build', threshold: 1, pubkeys: [bob.key.keyid], expected_command: ['make'],
      expected_materials: [['ALLOW', 'src/*'], ['DISALLOW', '*']], expected_products: [['CREATE', 'dist/*'], ['DISALLOW', '*']],
      expectedPredicates: [{
        predicateType: TEST_RESULT, functionaries: [tester.key.keyid],
        expectedAttributes: [{ rule: "predicate.result == 'PASSED'" }, { rule: 'size(predicate.failedTests) == 0' }, { rule: 'predicate.coverage >= {min_coverage}', allowIfNoClaim: true }],
      }],
      ...build,
    }],
    inspect: [],
  };
}

async function dsseLayout(body: unknown): Promise<string> {
  return serializeDsse(await signDsse(inTotoDssePayload(body), IN_TOTO_PAYLOAD_TYPE, owner.signer));
}

function testResult(result: string, failedTests: string[] = []): Statement {
  return { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'dist/a.bin', digest: h('2'), annotations: { [STEP_ANNOTATION]: 'build' } }], predicateType: TEST_RESULT, predicate: { result, failedTests, passedTests: ['t1'] } };
}
function claim(step: string, by: string, statement: Statement, source: string, identity?: { issuer: string; subject: string }): VerifiedClaim {
  return { step, keyid: by, statement, source, ...(identity ? { identity } : {}) };
}

async function run(layoutText: string, collected: CollectedAttestations | undefined, extra: Partial<VerifyInput> = {}, links = true) {
  const files = new Map<string, string>();
  if (links) files.set(linkFileName('build', bob.key.keyid), serializeMetablock(await signMetablock<unknown>(BUILD, bob.signer)));
  const requests: AttestationRequest[] = [];
  const report = await verifySupplyChain({
    layout: parseSignedFile(layoutText, 'root.layout'), layoutKeys: [owner.key], now: NOW, params: { min_coverage: '80' },
    links: { read: async (p) => files.get(p) },
    ...(collected ? { attestations: async (req) => { requests.push(req); return collected; } } : {}),
    ...extra,
  });
  return { report, requests };
}

const passing = (): CollectedAttestations => ({ claimsByStep: { build: [claim('build', tester.key.keyid, testResult('PASSED'), 'build.tester.test.sigstore.json')] }, rejected: [] });

test('expectedPredicates pass: one predicate-rules check after the artifact rules, each rule with its verdict', async () => {
  const { report, requests } = await run(await dsseLayout(layoutBody()), passing());
  assert.equal(report.verdict, 'pass', JSON.stringify(report.failure));
  assert.deepEqual(report.checks.map((c) => c.check), ['layout-signature', 'layout-expiry', 'links', 'threshold', 'artifact-rules', 'artifact-rules', 'predicate-rules']);
  const pr = report.checks.at(-1)!;
  assert.equal(pr.step, 'build');
  assert.deepEqual(pr.predicates![0].claims[0].rules.map((r) => [r.rule, r.verdict]), [
    ["predicate.result == 'PASSED'", 'pass'], ['size(predicate.failedTests) == 0', 'pass'], ['predicate.coverage >= 80', 'no-claim'],
  ]);
  // the collector is asked for the step's keys: pubkeys and the expectedPredicates functionaries
  assert.deepEqual(requests[0].steps[0].keys.map((k) => k.keyid).sort(), [bob.key.keyid, tester.key.keyid].sort());
  assert.deepEqual(requests[0].steps[0].identities, []);
});

test('a failing rule: failure check predicate-rules, code PREDICATE_RULE, the step named, the values seen', async () => {
  const collected = { claimsByStep: { build: [claim('build', tester.key.keyid, testResult('FAILED', ['t2']), 'b.sigstore.json')] }, rejected: [] };
  const { report } = await run(await dsseLayout(layoutBody()), collected);
  assert.equal(report.verdict, 'fail');
  assert.deepEqual([report.failure?.code, report.failure?.check, report.failure?.step], ['PREDICATE_RULE', 'predicate-rules', 'build']);
  const rules = report.checks.at(-1)!.predicates![0].claims[0].rules;
  assert.deepEqual(rules.map((r) => r.verdict), ['fail', 'fail', 'no-claim']);
  assert.deepEqual(rules[0].observed, { 'predicate.result': 'FAILED' });
  const tree = renderVerificationTree(report);
  assert.match(tree, /✗ predicate\.result == 'PASSED'  — rule is false/);
  assert.match(tree, /saw predicate\.result = "FAILED"/);
  assert.match(tree, /FAILED PREDICATE_RULE at predicate-rules \(build\)/);
});

test('no claim of the expected type: THRESHOLD at predicate-rules; a rejected bundle lends its code and reason', async () => {
  const none = await run(await dsseLayout(layoutBody()), { claimsByStep: {}, rejected: [] });
  assert.deepEqual([none.report.failure?.code, none.report.failure?.check, none.report.failure?.step], ['THRESHOLD', 'predicate-rules', 'build']);
  assert.match(none.report.failure!.message, /no https:\/\/in-toto\.io\/attestation\/test-result\/v0\.1 attestation/);
  const rejected = [{ file: 'build.x.test.sigstore.json', step: 'build', code: 'SIGNATURE_INVALID', reason: 'bundle verification failed: signature verification failed' }];
  const bad = await run(await dsseLayout(layoutBody()), { claimsByStep: {}, rejected });
  assert.deepEqual([bad.report.failure?.code, bad.report.failure?.check], ['SIGNATURE_INVALID', 'predicate-rules']);
  assert.match(bad.report.failure!.message, /rejected build\.x\.test\.sigstore\.json: bundle verification failed/);
  assert.deepEqual(bad.report.checks.at(-1)!.rejected, rejected);
  assert.match(bad.report.warnings.join('\n'), /ignored build\.x\.test\.sigstore\.json: SIGNATURE_INVALID/);
});

test('claims by a key the predicate does not list do not count (warning)', async () => {
  const collected = { claimsByStep: { build: [claim('build', bob.key.keyid, testResult('PASSED'), 'b.sigstore.json')] }, rejected: [] };
  const { report } = await run(await dsseLayout(layoutBody()), collected);
  assert.equal(report.failure?.code, 'THRESHOLD');
  assert.match(report.warnings.join('\n'), /not listed as functionaries/);
});

test('a legacy (metablock) layout: expectedPredicates are unsigned, ignored, and said to be', async () => {
  const body = layoutBody();
  const text = serializeMetablock(await signMetablock<unknown>(normalizeLayout(body), owner.signer));
  const raw = JSON.parse(text);
  raw.signed.steps[0].expectedPredicates = body.steps[0].expectedPredicates; // what an attacker could add
  const { report } = await run(JSON.stringify(raw), { claimsByStep: {}, rejected: [] });
  assert.equal(report.verdict, 'pass', JSON.stringify(report.failure));
  assert.ok(!report.checks.some((c) => c.check === 'predicate-rules'));
  assert.match(report.warnings.join('\n'), /expectedPredicates of a legacy layout are not covered by its signature/);
});

test('a link Statement verified by the collector is the step link (no .link file needed)', async () => {
  const st = linkToStatement(BUILD) as unknown as Statement;
  const collected = { claimsByStep: { build: [claim('build', bob.key.keyid, st, 'build.bob.link.sigstore.json'), claim('build', tester.key.keyid, testResult('PASSED'), 't.sigstore.json')] }, rejected: [] };
  const { report } = await run(await dsseLayout(layoutBody()), collected, {}, false);
  assert.equal(report.verdict, 'pass', JSON.stringify(report.failure));
  const th = report.checks.find((c) => c.check === 'threshold')!;
  assert.deepEqual(th.signers?.map((s) => [s.keyid, s.format, s.valid]), [[bob.key.keyid, 'sigstore', true]]);
  // a link Statement naming another step is rejected, not used
  const wrong = linkToStatement({ ...BUILD, name: 'other' }) as unknown as Statement;
  const r2 = await run(await dsseLayout(layoutBody()), { claimsByStep: { build: [claim('build', bob.key.keyid, wrong, 'w.sigstore.json')] }, rejected: [] }, {}, false);
  assert.deepEqual([r2.report.failure?.code, r2.report.failure?.check], ['STATEMENT_INVALID', 'links']);
});

test('keyless functionaries: identities in the step, thresholds count distinct identities', async () => {
  const st = linkToStatement(BUILD) as unknown as Statement;
  const body = layoutBody({
    pubkeys: [], threshold: 2,
    functionaries: [{ issuer: ISSUER, subjectPattern: 'https://ci\\.test/org/repo/\\.github/workflows/[a-z]+\\.yml@refs/heads/main' }],
    expectedPredicates: [{ predicateType: LINK, expectedAttributes: [{ rule: "predicate.command == ['make']" }] }],
  }, { trustedRoot: { path: 'trusted_root.json', sha256: 'a'.repeat(64) } });
  const layout = await dsseLayout(body);
  const by = (id: typeof CI, src: string) => claim('build', keylessFunctionaryId(id), st, src, id);
  const same = await run(layout, { claimsByStep: { build: [by(CI, 'a.sigstore.json'), by(CI, 'b.sigstore.json')] }, rejected: [] }, {}, false);
  assert.deepEqual([same.report.failure?.code, same.report.failure?.check], ['LINK_NOT_FOUND', 'links'], 'two bundles of one identity are one functionary');
  const { report, requests } = await run(layout, { claimsByStep: { build: [by(CI, 'a.sigstore.json'), by(CI2, 'b.sigstore.json')] }, rejected: [] }, {}, false);
  assert.equal(report.verdict, 'pass', JSON.stringify(report.failure));
  assert.deepEqual(requests[0].trustedRoot, { path: 'trusted_root.json', sha256: 'a'.repeat(64) });
  assert.deepEqual(requests[0].steps[0].identities, [(body.steps[0] as unknown as { functionaries: unknown[] }).functionaries[0]]);
  const th = report.checks.find((c) => c.check === 'threshold')!;
  assert.equal(th.counted, 2);
  assert.deepEqual(th.signers?.map((s) => s.identity), [`${CI.subject} (issuer ${ISSUER})`, `${CI2.subject} (issuer ${ISSUER})`]);
  assert.deepEqual(report.checks.at(-1)!.predicates![0].accepted, [keylessFunctionaryId(CI), keylessFunctionaryId(CI2)]);
  // an identity that matches nothing in the step is not a functionary
  const other = { issuer: 'https://accounts.example.com', subject: CI.subject };
  const r3 = await run(layout, { claimsByStep: { build: [by(other, 'a.sigstore.json'), by(CI2, 'b.sigstore.json')] }, rejected: [] }, {}, false);
  assert.equal(r3.report.failure?.code, 'LINK_NOT_FOUND');
  // the collector's IDENTITY_MISMATCH rejection is the failure's code
  const rej = [{ file: 'build.1.link.sigstore.json', step: 'build', code: 'IDENTITY_MISMATCH', reason: `certificate identity ${CI.subject} (issuer https://accounts.example.com) is not trusted: issuer https://accounts.example.com is not ${ISSUER}` }];
  const r4 = await run(layout, { claimsByStep: { build: [by(CI2, 'b.sigstore.json')] }, rejected: rej }, {}, false);
  assert.deepEqual([r4.report.failure?.code, r4.report.failure?.check, r4.report.failure?.step], ['IDENTITY_MISMATCH', 'links', 'build']);
  assert.match(r4.report.failure!.message, /issuer https:\/\/accounts\.example\.com is not/);
});

test('layout extensions are checked: bad functionaries and trustedRoot are input errors; bad CEL is RULE_SYNTAX', async () => {
  const badId = await dsseLayout(layoutBody({ functionaries: [{ issuer: ISSUER }] }));
  await assert.rejects(run(badId, passing()), (e) => e instanceof CustodyError && e.code === 'SCHEMA_INVALID' && /steps\[0\]\.functionaries\[0\]/.test(e.message) && e.exitCode === 2);
  await assert.rejects(run(await dsseLayout(layoutBody({}, { trustedRoot: 'trusted_root.json' })), passing()), code('SCHEMA_INVALID'));
  const badRule = await dsseLayout(layoutBody({ expectedPredicates: [{ predicateType: TEST_RESULT, expectedAttributes: [{ rule: 'predicate.result == (' }] }] }));
  await assert.rejects(run(badRule, passing()), (e) => e instanceof CustodyError && e.code === 'RULE_SYNTAX' && e.exitCode === 2);
});

test('predicate reports validate against schemas/verify-report.schema.json', async () => {
  const ajvModule = await import('ajv');
  const Ajv = ((ajvModule.default as unknown as { default?: unknown }).default ?? ajvModule.default) as unknown as new (o: object) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/verify-report.schema.json', import.meta.url), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);
  const layout = await dsseLayout(layoutBody());
  const reports = [
    (await run(layout, passing())).report,
    (await run(layout, { claimsByStep: { build: [claim('build', tester.key.keyid, testResult('FAILED'), 'x')] }, rejected: [{ file: 'y', step: 'build', code: 'SIGNATURE_INVALID', reason: 'r' }] })).report,
  ];
  for (const r of reports) assert.ok(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
});

test('command alignment: a warning by default (in-toto), COMMAND_MISMATCH at command-alignment with strictCommand', async () => {
  const layout = await dsseLayout(layoutBody({ expected_command: ['make', 'all'] }));
  const lax = await run(layout, passing());
  assert.equal(lax.report.verdict, 'pass');
  assert.match(lax.report.warnings.join('\n'), /run command '\['make'\]' differs from expected command '\['make', 'all'\]'/);
  const strict = await run(layout, passing(), { strictCommand: true });
  assert.deepEqual([strict.report.failure?.code, strict.report.failure?.check, strict.report.failure?.step], ['COMMAND_MISMATCH', 'command-alignment', 'build']);
  assert.ok(strict.report.checks.some((c) => c.check === 'command-alignment' && c.verdict === 'fail'));
});
