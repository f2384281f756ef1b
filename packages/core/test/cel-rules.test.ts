import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustodyError, compileRule, evaluateRule, lintRule, substituteParams } from '@custody/core';

const input = {
  subject: [{ name: 'model.safetensors', digest: { sha256: 'ab' } }],
  predicateType: 'https://custody.dev/bias/v1',
  predicate: {
    license: { spdxId: 'MIT' },
    metrics: [{ name: 'demographic_parity_difference', value: 0.04 }, { name: 'disparate_impact', value: 0.91 }],
    passed: true,
    count: 3,
    tags: ['a', 'b'],
    nothing: null,
  },
};

function run(rule: string) {
  return evaluateRule(compileRule(rule), input);
}

test('JSON values read naturally', () => {
  for (const rule of [
    "predicate.license.spdxId == 'MIT'",
    "predicate.metrics.exists(m, m.name == 'demographic_parity_difference' && m.value <= 0.1)",
    'predicate.metrics.all(m, m.value >= 0.0)',
    'size(subject) > 0',
    "subject[0].digest.sha256 == 'ab'",
    'predicate.count == 3',
    'predicate.count > 2.5',
    'predicate.passed',
    "'b' in predicate.tags",
    'predicate.nothing == null',
    "predicateType.startsWith('https://custody.dev/')",
    "has(predicate.license) && !has(predicate.other)",
    "predicate.license.spdxId.lowerAscii() == 'mit'",
    "predicate.license['spdxId'] == 'MIT'",
    // JSON numbers are CEL doubles (as in attestation-verifier's google.protobuf.Struct)
    'type(predicate.count) == double && predicate.metrics.map(m, m.value * 2.0)[0] == 0.08',
  ]) {
    assert.deepEqual(run(rule), { verdict: 'pass' }, rule);
  }
});

test('a false rule fails and shows the values it read', () => {
  const r = run("predicate.license.spdxId == 'Apache-2.0' && size(subject) == 2");
  assert.equal(r.verdict, 'fail');
  assert.deepEqual(r.observed, { 'predicate.license.spdxId': 'MIT', subject: input.subject });
  const m = run("predicate.metrics.exists(m, m.name == 'disparate_impact' && m.value >= 0.95)");
  assert.equal(m.verdict, 'fail');
  assert.deepEqual(m.observed, { 'predicate.metrics': input.predicate.metrics });
  const i = run('predicate.metrics[1].value > 0.95');
  assert.deepEqual(i.observed, { 'predicate.metrics[1].value': 0.91 });
});

test('run-time errors become an error outcome with the text, never a throw', () => {
  const missing = run("predicate.model.name == 'x'");
  assert.equal(missing.verdict, 'error');
  assert.match(missing.error!, /model/);
  assert.equal(missing.missingAttribute, true);
  const idx = run('predicate.metrics[7].value > 0.0');
  assert.equal(idx.verdict, 'error');
  assert.match(idx.error!, /out of bounds|index/);
  assert.equal(idx.missingAttribute, false);
  const typ = run("predicate.count + 'x' == 1");
  assert.equal(typ.verdict, 'error');
  const notBool = run('predicate.license');
  assert.equal(notBool.verdict, 'error');
  assert.match(notBool.error!, /not a boolean/);
  const div = run('1 / 0 == 1');
  assert.equal(div.verdict, 'error');
  assert.match(div.error!, /divide by zero|division/);
});

test('syntax errors carry their location; unknown names are reported at compile time', () => {
  const p = lintRule("predicate.license.spdxId == 'MIT' &&");
  assert.equal(p.length, 1);
  assert.ok(p[0].location && p[0].location.line === 1 && p[0].location.column > 1);
  const multi = lintRule("predicate.a == 1 &&\n  predicate.b == (2");
  assert.equal(multi[0].location?.line, 2);
  assert.match(lintRule('predicat.x == 1')[0].message, /unknown variable "predicat"/);
  assert.match(lintRule('frobnicate(predicate) == 1')[0].message, /unknown function "frobnicate"/);
  assert.deepEqual(lintRule('predicate.metrics.exists(m, m.value > 1) && size(subject) > 0'), []);
  assert.throws(() => compileRule('predicate.x ==', 'step "train" rule 1'), (e: unknown) => e instanceof CustodyError && e.code === 'RULE_SYNTAX' && /step "train" rule 1/.test(e.message) && /1:\d+/.test(e.message));
});

test('parameter substitution: nested references, bad names, self and cyclic references', () => {
  const params = { repo: 'sigstore/sigstore-js', ref: 'refs/heads/main', src: 'git+https://github.com/{repo}@{ref}' };
  assert.equal(substituteParams("predicate.uri == '{src}' && x == '{unknown}'", params), "predicate.uri == 'git+https://github.com/sigstore/sigstore-js@refs/heads/main' && x == '{unknown}'");
  assert.throws(() => substituteParams('{a b}', { 'a b': 'x' }), (e: unknown) => e instanceof CustodyError && e.code === 'USAGE');
  assert.throws(() => substituteParams('{a}', { a: 'x{a}' }), /refers to itself/);
  assert.throws(() => substituteParams('{a}', { a: '{b}', b: '{a}' }), /cycle/);
});

test('now is the verification time passed in: evidence age is a rule, and without now the rule errors', () => {
  const rule = compileRule("now - timestamp(predicate.db.lastUpdate) <= duration('72h')");
  const claim = { subject: [], predicateType: 't', predicate: { db: { lastUpdate: '2026-03-01T00:00:00Z' } } };
  assert.equal(evaluateRule(rule, { ...claim, now: new Date('2026-03-03T23:59:59Z') }).verdict, 'pass');
  const late = evaluateRule(rule, { ...claim, now: new Date('2026-03-04T00:00:01Z') });
  assert.equal(late.verdict, 'fail');
  assert.deepEqual(late.observed, { now: '2026-03-04T00:00:01Z', 'predicate.db.lastUpdate': '2026-03-01T00:00:00Z' });
  const unbound = evaluateRule(rule, claim);
  assert.equal(unbound.verdict, 'error');
  assert.deepEqual(lintRule('now > timestamp("2020-01-01T00:00:00Z")'), []);
});
