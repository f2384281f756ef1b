import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CustodyError, LINK_PREDICATE_TYPE, STATEMENT_TYPE_V1, evaluateAttestationSteps,
  type AttestationLayoutLike, type Statement, type VerifiedClaim,
} from '@custody/core';

const BIAS = 'https://custody.dev/attestation/bias/v1';
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

function bias(dpd: number, extra: Record<string, unknown> = {}): Statement {
  return {
    _type: STATEMENT_TYPE_V1,
    subject: [{ name: 'model.safetensors', digest: { sha256: '33' } }],
    predicateType: BIAS,
    predicate: { metrics: { demographicParityDifference: dpd }, dataset: 'german-credit', ...extra },
  };
}

function claim(step: string, keyid: string, statement: Statement, source?: string): VerifiedClaim {
  return { step, keyid, statement, source: source ?? `${step}.${keyid.slice(0, 8)}.json` };
}

function layout(ep: Partial<AttestationLayoutLike['steps'][0]['expectedPredicates'] extends (infer T)[] | undefined ? T : never> = {}): AttestationLayoutLike {
  return {
    steps: [{
      name: 'bias-test',
      expectedPredicates: [{
        predicateType: BIAS,
        functionaries: [A, B],
        threshold: 1,
        expectedAttributes: [{ rule: 'predicate.metrics.demographicParityDifference <= {max_dpd}' }],
        ...ep,
      }],
    }],
  };
}

const params = { max_dpd: '0.1' };

test('a passing claim passes; the report shows each rule with its verdict', () => {
  const r = evaluateAttestationSteps(layout(), { 'bias-test': [claim('bias-test', A, bias(0.05))] }, { params });
  assert.equal(r.verdict, 'pass');
  assert.equal(r.failure, null);
  const ep = r.steps[0].predicates[0];
  assert.deepEqual(ep.accepted, [A]);
  assert.deepEqual(ep.claims[0].rules, [{ rule: 'predicate.metrics.demographicParityDifference <= 0.1', verdict: 'pass' }]);
});

test('a false rule fails PREDICATE_RULE and the entry shows the value it saw', () => {
  const r = evaluateAttestationSteps(layout(), { 'bias-test': [claim('bias-test', A, bias(0.3))] }, { params });
  assert.equal(r.verdict, 'fail');
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.equal(r.failure?.check, 'predicate-rules');
  assert.equal(r.failure?.step, 'bias-test');
  const rule = r.steps[0].predicates[0].claims[0].rules[0];
  assert.equal(rule.verdict, 'fail');
  assert.deepEqual(rule.observed, { 'predicate.metrics.demographicParityDifference': 0.3 });
  assert.match(r.failure!.message, /0\.3/);
});

test('warn rules only warn', () => {
  const l = layout({ expectedAttributes: [{ rule: "predicate.dataset == 'adult'", warn: true }] });
  const r = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.3))] });
  assert.equal(r.verdict, 'pass');
  assert.equal(r.steps[0].predicates[0].claims[0].rules[0].verdict, 'warn');
  assert.match(r.warnings.join('\n'), /predicate.dataset == 'adult'/);
});

test('a CEL run-time error is a failed rule carrying the error, not a crash', () => {
  const l = layout({ expectedAttributes: [{ rule: 'predicate.metrics.demographicParityDifference / 0 > 1 || predicate.dataset + 1 == 2' }] });
  const r = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.3))] });
  assert.equal(r.verdict, 'fail');
  const rule = r.steps[0].predicates[0].claims[0].rules[0];
  assert.equal(rule.verdict, 'fail');
  assert.ok(rule.error && rule.error.length > 0);
  assert.match(rule.message!, /rule errored/);
});

test('allowIfNoClaim: an absent attribute passes as no-claim only when allowed', () => {
  const rule = { rule: "predicate.reviewer.name == 'alice'" };
  const allowed = evaluateAttestationSteps(layout({ expectedAttributes: [{ ...rule, allowIfNoClaim: true }] }), { 'bias-test': [claim('bias-test', A, bias(0))] });
  assert.equal(allowed.verdict, 'pass');
  assert.equal(allowed.steps[0].predicates[0].claims[0].rules[0].verdict, 'no-claim');
  const denied = evaluateAttestationSteps(layout({ expectedAttributes: [rule] }), { 'bias-test': [claim('bias-test', A, bias(0))] });
  assert.equal(denied.failure?.code, 'PREDICATE_RULE');
  // a present but different value is a failure even with allowIfNoClaim
  const wrong = evaluateAttestationSteps(layout({ expectedAttributes: [{ ...rule, allowIfNoClaim: true }] }), { 'bias-test': [claim('bias-test', A, bias(0, { reviewer: { name: 'bob' } }))] });
  assert.equal(wrong.failure?.code, 'PREDICATE_RULE');
});

test('no attestation of the expected type: THRESHOLD unless every rule allows no claim', () => {
  const other = claim('bias-test', A, { ...bias(0), predicateType: 'https://example.com/other' });
  const r = evaluateAttestationSteps(layout(), { 'bias-test': [other] }, { params });
  assert.equal(r.failure?.code, 'THRESHOLD');
  assert.match(r.failure!.message, /no https:\/\/custody.dev\/attestation\/bias\/v1 attestation/);
  const skip = evaluateAttestationSteps(layout({ expectedAttributes: [{ rule: 'size(subject) > 0', allowIfNoClaim: true }] }), { 'bias-test': [other] });
  assert.equal(skip.verdict, 'pass');
  assert.equal(skip.steps[0].predicates[0].verdict, 'skipped');
  assert.match(skip.warnings.join(), /allowIfNoClaim/);
});

test('threshold counts distinct functionaries; unlisted signers are ignored', () => {
  const l = layout({ threshold: 2 });
  const twoKeys = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.01)), claim('bias-test', B, bias(0.02))] }, { params });
  assert.equal(twoKeys.verdict, 'pass');
  assert.deepEqual(twoKeys.steps[0].predicates[0].accepted, [A, B]);
  const sameKeyTwice = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.01), 'x1.json'), claim('bias-test', A, bias(0.02), 'x2.json')] }, { params });
  assert.equal(sameKeyTwice.failure?.code, 'THRESHOLD');
  const unlisted = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.01)), claim('bias-test', C, bias(0.02))] }, { params });
  assert.equal(unlisted.failure?.code, 'THRESHOLD');
  assert.match(unlisted.warnings.join(), /not listed as functionaries: cccccccc/);
  const oneFails = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.01)), claim('bias-test', B, bias(0.5))] }, { params });
  assert.equal(oneFails.failure?.code, 'PREDICATE_RULE');
  assert.deepEqual(oneFails.steps[0].predicates[0].accepted, [A]);
});

test('several claims by one functionary must all pass (deterministic, order independent)', () => {
  const claims = [claim('bias-test', A, bias(0.01), 'b.json'), claim('bias-test', A, bias(0.5), 'a.json')];
  const r1 = evaluateAttestationSteps(layout(), { 'bias-test': claims }, { params });
  const r2 = evaluateAttestationSteps(layout(), { 'bias-test': [...claims].reverse() }, { params });
  assert.equal(r1.failure?.code, 'PREDICATE_RULE');
  assert.deepEqual(r1, r2);
  assert.deepEqual(r1.steps[0].predicates[0].claims.map((c) => c.source), ['a.json', 'b.json']);
});

test('without functionaries an expected predicate takes the step pubkeys', () => {
  const l: AttestationLayoutLike = { steps: [{ name: 'bias-test', pubkeys: [B], expectedPredicates: [{ predicateType: BIAS, expectedAttributes: [{ rule: 'size(subject) == 1' }] }] }] };
  assert.equal(evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', B, bias(0))] }).verdict, 'pass');
  assert.equal(evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0))] }).failure?.code, 'THRESHOLD');
});

test('a rule that does not compile is bad input (RULE_SYNTAX) naming the step', () => {
  assert.throws(() => evaluateAttestationSteps(layout({ expectedAttributes: [{ rule: 'predicate.x ==' }] }), {}),
    (e: unknown) => e instanceof CustodyError && e.code === 'RULE_SYNTAX' && /bias-test/.test(e.message) && e.exitCode === 2);
});

test('artifact rules per claim (attestation-verifier layouts): MATCH against another step', () => {
  const clone: Statement = { _type: STATEMENT_TYPE_V1, subject: [{ name: 'src/app.py', digest: { sha256: '01' } }], predicateType: LINK_PREDICATE_TYPE, predicate: { name: 'clone', materials: [] } };
  const build = (digest: string): Statement => ({
    _type: STATEMENT_TYPE_V1,
    subject: [{ name: 'dist/app', digest: { sha256: '02' } }],
    predicateType: LINK_PREDICATE_TYPE,
    predicate: { name: 'build', command: ['make'], materials: [{ name: 'src/app.py', digest: { sha256: digest } }] },
  });
  const l: AttestationLayoutLike = {
    steps: [
      { name: 'clone', expectedProducts: ['CREATE src/*', 'DISALLOW *'], expectedPredicates: [{ predicateType: LINK_PREDICATE_TYPE, functionaries: [A] }] },
      { name: 'build', expectedMaterials: ['MATCH src/* WITH PRODUCTS FROM clone', 'DISALLOW *'], expectedProducts: ['CREATE dist/app', 'DISALLOW *'],
        expectedPredicates: [{ predicateType: LINK_PREDICATE_TYPE, functionaries: [A], expectedAttributes: [{ rule: "predicate.command == ['make']" }] }] },
    ],
  };
  const ok = evaluateAttestationSteps(l, { clone: [claim('clone', A, clone)], build: [claim('build', A, build('01'))] }, { artifactRules: true });
  assert.equal(ok.verdict, 'pass', JSON.stringify(ok.failure));
  assert.deepEqual(ok.steps[1].predicates[0].claims[0].artifactRules[0].consumed, ['src/app.py']);
  const bad = evaluateAttestationSteps(l, { clone: [claim('clone', A, clone)], build: [claim('build', A, build('99'))] }, { artifactRules: true });
  assert.equal(bad.failure?.code, 'ARTIFACT_RULE');
  assert.equal(bad.failure?.check, 'artifact-rules');
  assert.match(bad.failure!.message, /DISALLOW \* matched src\/app.py in materials/);
  const missing = evaluateAttestationSteps(l, { build: [claim('build', A, build('01'))] }, { artifactRules: true });
  assert.equal(missing.failure?.code, 'LINK_NOT_FOUND');
  assert.equal(missing.failure?.step, 'clone');
});

test('lintExpectedPredicates reports each problem with its document path and rule location', async () => {
  const { lintExpectedPredicates } = await import('@custody/core');
  const steps = [
    { name: 'fetch' },
    {
      name: 'bias-test',
      expectedPredicates: [
        { predicateType: BIAS, functionaries: [A], threshold: 2, expectedAttributes: [{ rule: 'predicate.x <= {max}' }, { rule: 'predicate.y == 1 &&\n  predicate.z == (1', warn: 'yes' }] },
        { predicateType: BIAS, functionaries: [], expectedAttributes: [{ rule: 'nope.z == 1' }, {}] },
      ],
    },
  ];
  const problems = lintExpectedPredicates(steps, { params: { max: '0.1' }, knownFunctionaries: new Set([A]) });
  const base = 'steps[1].expectedPredicates';
  assert.deepEqual(problems.map((p) => p.path), [
    `${base}[0].threshold`,
    `${base}[0].expectedAttributes[1].warn`,
    `${base}[0].expectedAttributes[1].rule`,
    `${base}[1].predicateType`,
    `${base}[1].functionaries`,
    `${base}[1].expectedAttributes[0].rule`,
    `${base}[1].expectedAttributes[1].rule`,
  ]);
  assert.match(problems[2].message, /^2:\d+: /);
  assert.match(problems[5].message, /unknown variable "nope"/);
  assert.deepEqual(lintExpectedPredicates([{ expectedPredicates: [{ predicateType: BIAS, functionaries: [A], expectedAttributes: [{ rule: 'size(subject) > 0' }] }] }]), []);
});

test('renderAttestationReport shows rules, verdicts and the values seen', async () => {
  const { renderAttestationReport } = await import('@custody/core');
  const r = evaluateAttestationSteps(layout(), { 'bias-test': [claim('bias-test', A, bias(0.3))] }, { params });
  const text = renderAttestationReport(r).join('\n');
  assert.match(text, /✘ step bias-test/);
  assert.match(text, /✘ predicate.metrics.demographicParityDifference <= 0.1 — rule is false/);
  assert.match(text, /predicate.metrics.demographicParityDifference = 0.3/);
});

test('a false rule says what it compared (parameters substituted), not a dump of the predicate', () => {
  const big = { files: Array.from({ length: 200 }, (_, i) => ({ path: `f${i}`, sha256: 'e'.repeat(64) })) };
  const l = layout({
    expectedAttributes: [{
      rule: "predicate.dataset == 'german-credit' && predicate.metrics.demographicParityDifference <= {max_dpd} && size(predicate.files) > 0",
      debug: 'demographic parity difference at most {max_dpd}',
    }],
  });
  const r = evaluateAttestationSteps(l, { 'bias-test': [claim('bias-test', A, bias(0.3, big))] }, { params });
  const rule = r.steps[0].predicates[0].claims[0].rules[0];
  assert.equal(rule.message, 'demographic parity difference at most 0.1 (rule is false)');
  assert.equal(rule.decided, 'predicate.metrics.demographicParityDifference <= 0.1 gives 0.3 <= 0.1');
  assert.ok(r.failure!.message.length < 900, `${r.failure!.message.length} characters: ${r.failure!.message}`);
  assert.match(r.failure!.message, /; compared: predicate\.metrics\.demographicParityDifference <= 0\.1 gives 0\.3 <= 0\.1$/);
  assert.doesNotMatch(r.failure!.message, /\{max_dpd\}|f199/);
  // one comparison: its two sides
  const one = evaluateAttestationSteps(layout(), { 'bias-test': [claim('bias-test', A, bias(0.3))] }, { params });
  assert.equal(one.steps[0].predicates[0].claims[0].rules[0].decided, '0.3 <= 0.1');
  // strings keep their quotes; && inside a string or a call is not split
  const s = layout({ expectedAttributes: [{ rule: "predicate.dataset == 'a && b' && predicate.dataset.startsWith('x')" }] });
  assert.equal(evaluateAttestationSteps(s, { 'bias-test': [claim('bias-test', A, bias(0))] }).steps[0].predicates[0].claims[0].rules[0].decided, 'predicate.dataset == \'a && b\' gives "german-credit" == "a && b"');
});
