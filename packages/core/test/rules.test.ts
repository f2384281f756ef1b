// Artifact rules with in-toto 1.3.1's semantics: parsing (rulelib) and the consumption queue (verifylib).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustodyError, applyArtifactRules, parseRule, parseRuleString, shlexSplit, type ArtifactMap, type RuleLink } from '@custody/core';

const h = (c: string) => ({ sha256: c.repeat(64) });
const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

function links(entries: Record<string, { materials?: ArtifactMap; products?: ArtifactMap }>): Map<string, RuleLink> {
  return new Map(Object.entries(entries).map(([k, v]) => [k, { materials: v.materials ?? {}, products: v.products ?? {} }]));
}

test('parseRule: keywords are case-insensitive, other tokens keep their case', () => {
  const r = parseRule(['match', 'Src/*', 'in', 'A', 'with', 'Products', 'in', 'B', 'from', 'Build']);
  assert.equal(r.type, 'match');
  assert.ok(r.type === 'match' && r.sourcePrefix === 'A' && r.destPrefix === 'B' && r.destType === 'products' && r.destName === 'Build' && r.pattern === 'Src/*');
  assert.equal(parseRule(['disallow', '*']).type, 'disallow');
  for (const tokens of [
    ['MATCH', 'p', 'WITH', 'MATERIALS', 'FROM', 's'],
    ['MATCH', 'p', 'IN', 'x', 'WITH', 'MATERIALS', 'FROM', 's'],
    ['MATCH', 'p', 'WITH', 'MATERIALS', 'IN', 'y', 'FROM', 's'],
    ['MATCH', 'p', 'IN', 'x', 'WITH', 'PRODUCTS', 'IN', 'y', 'FROM', 's'],
  ]) assert.equal(parseRule(tokens).type, 'match');
});

test('parseRule: bad syntax is RULE_SYNTAX (bad input)', () => {
  for (const bad of [
    [], ['ALLOW'], ['FOO', '*'], ['ALLOW', '*', 'extra'], ['MATCH', '*', 'WITH', 'PRODUCTS'],
    ['MATCH', '*', 'WITH', 'ARTIFACTS', 'FROM', 's'], ['MATCH', '*', 'IN', 'x', 'WITH', 'PRODUCTS', 'IN', 'y', 'TO', 's'],
    'ALLOW *', [1, 2],
  ]) assert.throws(() => parseRule(bad), code('RULE_SYNTAX'), JSON.stringify(bad));
  const e = (() => { try { parseRule(['NOPE', 'x'], 'steps[0].expected_materials[1]'); } catch (err) { return err as CustodyError; } })();
  assert.ok(e?.message.startsWith('steps[0].expected_materials[1]: '));
  assert.equal(e?.exitCode, 2);
});

test('shlexSplit and parseRuleString follow POSIX shlex', () => {
  assert.deepEqual(shlexSplit(`MATCH "a b/*" WITH PRODUCTS FROM 'x y'`), ['MATCH', 'a b/*', 'WITH', 'PRODUCTS', 'FROM', 'x y']);
  assert.deepEqual(shlexSplit('a\\ b "c\\"d" \'e\\f\' ""'), ['a b', 'c"d', 'e\\f', '']);
  assert.deepEqual(parseRuleString('DISALLOW *'), ['DISALLOW', '*']);
  assert.throws(() => parseRuleString('ALLOW "x'), code('RULE_SYNTAX'));
});

test('CREATE consumes new products only; DELETE removed materials only', () => {
  const l = links({ s: { materials: { keep: h('a'), gone: h('b') }, products: { keep: h('a'), made: h('c') } } });
  const p = applyArtifactRules('s', 'products', [['CREATE', '*'], ['DISALLOW', 'made']], l);
  assert.equal(p.verdict, 'pass');
  assert.deepEqual(p.rules[0].consumed, ['made']);
  assert.deepEqual(p.unconsumed, ['keep']);
  const m = applyArtifactRules('s', 'materials', [['DELETE', '*'], ['DISALLOW', 'gone']], l);
  assert.deepEqual(m.rules[0].consumed, ['gone']);
  assert.equal(m.verdict, 'pass');
});

test('MODIFY consumes paths in both with different hashes; ALLOW consumes what it matches', () => {
  const l = links({ s: { materials: { same: h('a'), changed: h('b') }, products: { same: h('a'), changed: h('c'), extra: h('d') } } });
  const r = applyArtifactRules('s', 'products', [['MODIFY', '*'], ['ALLOW', 'ex*'], ['DISALLOW', 'changed'], ['DISALLOW', 'extra']], l);
  assert.equal(r.verdict, 'pass');
  assert.deepEqual(r.rules[0].consumed, ['changed']);
  assert.deepEqual(r.rules[1].consumed, ['extra']);
  assert.deepEqual(r.unconsumed, ['same']); // implicit ALLOW *
});

test('DISALLOW fails with the reference words, naming the artifacts, side and item', () => {
  const l = links({ untar: { materials: { 'demo-project.tar.gz': h('a'), 'x.pub': h('b') } } });
  const r = applyArtifactRules('untar', 'materials', [['ALLOW', '*.pub'], ['DISALLOW', '*'], ['ALLOW', '*']], l);
  assert.equal(r.verdict, 'fail');
  assert.equal(r.failure?.message, "'DISALLOW *' matched the following artifacts: ['demo-project.tar.gz'] in materials of untar");
  assert.equal(r.rules.length, 2, 'stops at the first failure');
});

test('REQUIRE needs the exact path still queued (it is not a pattern)', () => {
  const l = links({ s: { products: { 'a.txt': h('a'), 'b.txt': h('b') } } });
  assert.equal(applyArtifactRules('s', 'products', [['REQUIRE', 'a.txt']], l).verdict, 'pass');
  assert.equal(applyArtifactRules('s', 'products', [['REQUIRE', '*.txt']], l).verdict, 'fail');
  const consumed = applyArtifactRules('s', 'products', [['ALLOW', 'a.txt'], ['REQUIRE', 'a.txt']], l);
  assert.equal(consumed.verdict, 'fail');
  assert.match(consumed.failure!.message, /^'REQUIRE a.txt' did not find a.txt in products of s/);
});

test('MATCH consumes only paths with an identical hash dict at the destination', () => {
  const l = links({
    build: { products: { 'a.py': h('a'), 'b.py': h('b'), 'c.py': { sha256: 'c'.repeat(64), sha512: 'd'.repeat(128) } } },
    pkg: { materials: { 'a.py': h('a'), 'b.py': h('f'), 'c.py': h('c'), 'n.py': h('e') } },
  });
  const r = applyArtifactRules('pkg', 'materials', [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'build']], l);
  assert.deepEqual(r.rules[0].consumed, ['a.py']);
  assert.deepEqual(r.unconsumed, ['b.py', 'c.py', 'n.py']);
});

test('MATCH with IN prefixes strips the source prefix before matching and adds the destination one', () => {
  const l = links({
    build: { products: { 'dist/foo.py': h('a'), 'dist/sub/bar.py': h('b'), 'foo.py': h('c') } },
    check: { products: { 'out/foo.py': h('a'), 'out/sub/bar.py': h('b'), 'foo.py': h('a'), 'out/x.txt': h('a') } },
  });
  const both = applyArtifactRules('check', 'products', [['MATCH', '*.py', 'IN', 'out', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build']], l);
  assert.deepEqual(both.rules[0].consumed, ['out/foo.py', 'out/sub/bar.py']);
  const srcOnly = applyArtifactRules('check', 'products', [['MATCH', 'foo.py', 'IN', 'out/', 'WITH', 'PRODUCTS', 'FROM', 'build']], l);
  assert.deepEqual(srcOnly.rules[0].consumed, [], 'out/foo.py ≠ build foo.py (different hash)');
  const dstOnly = applyArtifactRules('check', 'products', [['MATCH', 'foo.py', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build']], l);
  assert.deepEqual(dstOnly.rules[0].consumed, ['foo.py']);
  // the prefix is not a pattern: `o*` does not glob
  const noGlob = applyArtifactRules('check', 'products', [['MATCH', '*', 'IN', 'o*', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build']], l);
  assert.deepEqual(noGlob.rules[0].consumed, []);
});

test('MATCH against a step without a link consumes nothing (and does not fail)', () => {
  const l = links({ pkg: { materials: { 'a.py': h('a') } } });
  const r = applyArtifactRules('pkg', 'materials', [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'ghost'], ['DISALLOW', '*']], l);
  assert.deepEqual(r.rules[0].consumed, []);
  assert.equal(r.verdict, 'fail');
});

test('MATCH … WITH MATERIALS uses the destination materials', () => {
  const l = links({ a: { materials: { 'x': h('a') } }, b: { materials: { 'x': h('a') } } });
  assert.deepEqual(applyArtifactRules('b', 'materials', [['MATCH', 'x', 'WITH', 'MATERIALS', 'FROM', 'a']], l).rules[0].consumed, ['x']);
});

test('a failed DISALLOW says, in the user\'s terms, which step made the file, both digests and what to do (the message keeps the reference\'s words)', () => {
  const l = links({
    train: { products: { 'model/w.bin': h('a') } },
    image: { materials: { 'model/w.bin': h('b'), 'model/extra.pt': h('c') } },
  });
  const r = applyArtifactRules('image', 'materials', [['MATCH', 'model/*', 'WITH', 'PRODUCTS', 'FROM', 'train'], ['DISALLOW', 'model/*']], l);
  assert.equal(r.verdict, 'fail');
  assert.equal(r.failure?.message, "'DISALLOW model/*' matched the following artifacts: ['model/extra.pt', 'model/w.bin'] in materials of image");
  assert.equal(r.failure?.hint, [
    `model/extra.pt is not among train's products (MATCH model/* WITH PRODUCTS FROM train); here it is sha256:${h('c').sha256}`,
    `; model/w.bin is not the file train produced: sha256:${h('b').sha256} here, sha256:${h('a').sha256} in train's products (MATCH model/* WITH PRODUCTS FROM train)`,
    '. What to do: use train\'s output unchanged (or re-run train and every step after it), then re-run image.',
  ].join(''));
  assert.equal(r.rules.at(-1)?.hint, r.failure?.hint);
  // nothing any rule accounts for
  const lone = applyArtifactRules('image', 'materials', [['DISALLOW', 'model/extra.pt']], l);
  assert.equal(lone.failure?.hint, `model/extra.pt (sha256:${h('c').sha256}) is in materials of image, and no rule before this DISALLOW accounts for it. What to do: if it does not belong there, remove it and re-run image; if it does, the layout owner must add a rule for it.`);
});
