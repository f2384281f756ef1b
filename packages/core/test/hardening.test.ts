// Issue 12, parse exactly what is signed: every class of input the reference rejects (or that
// would let custody see something other than what was signed) fails with its exact code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  CustodyError, applyArtifactRules, checkStepFileName, compileRule, computeKeyid, evaluateRule, linkFileName,
  normalizeLayout, normalizeLink, parseLayoutDocument, parsePublicKeyText, parseSignedFile, publicKeyFromPem,
  requireInTotoPayloadType, substituteCelParams, type ErrorCode, type SslibKey,
} from '@custody/core';

function fails(fn: () => unknown, code: ErrorCode, message: RegExp, file?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CustodyError, `not a CustodyError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    if (file !== undefined) assert.equal(e.file, file);
    return true;
  });
}

function edKey(): SslibKey {
  const { publicKey } = generateKeyPairSync('ed25519');
  return publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }) as string).sslib;
}

const BOB = edKey();
const BOB_ID = computeKeyid(BOB);
const { keyid: _unused, ...BOB_KEY } = BOB;
void _unused;

function layout(overrides: Record<string, unknown> = {}, step: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    _type: 'layout', expires: '2030-01-01T00:00:00Z', readme: '', keys: { [BOB_ID]: BOB_KEY },
    steps: [{ _type: 'step', name: 'build', threshold: 1, pubkeys: [BOB_ID], expected_command: [], expected_materials: [], expected_products: [], ...step }],
    inspect: [],
    ...overrides,
  };
}

test('a well-formed layout normalizes; present-but-null fields are rejected as Layout.read rejects them', () => {
  assert.equal(normalizeLayout(layout(), 'root.layout').steps[0].name, 'build');
  const nullStep = ['threshold', 'pubkeys', 'expected_command', 'expected_materials', 'expected_products'];
  for (const f of nullStep) fails(() => normalizeLayout(layout({}, { [f]: null }), 'root.layout'), 'SCHEMA_INVALID', new RegExp(`steps\\[0\\]\\.${f}`), 'root.layout');
  for (const f of ['readme', 'keys', 'steps', 'inspect', 'expires']) fails(() => normalizeLayout(layout({ [f]: null }), 'root.layout'), 'SCHEMA_INVALID', new RegExp(f), 'root.layout');
  fails(() => normalizeLayout(layout({ inspect: [{ name: 'i', run: null }] }), 'root.layout'), 'SCHEMA_INVALID', /inspect\[0\]\.run/);
  // wrong types
  for (const threshold of ['1', true, 1.5, [1]]) fails(() => normalizeLayout(layout({}, { threshold }), 'r'), 'SCHEMA_INVALID', /threshold must be an integer/);
  fails(() => normalizeLayout(layout({ readme: 5 }), 'r'), 'SCHEMA_INVALID', /readme must be a string/);
  for (const expires of ['2030-01-01', '2030-02-30T00:00:00Z', '', 20300101, '2030-01-01T00:00:00Z\n']) {
    fails(() => normalizeLayout(layout({ expires }), 'r'), 'SCHEMA_INVALID', /expires/);
  }
  fails(() => normalizeLayout(layout({}, { _type: 'inspection' }), 'r'), 'SCHEMA_INVALID', /_type must be "step"/);
  fails(() => normalizeLayout(layout({}, { pubkeys: ['not-hex'] }), 'r'), 'SCHEMA_INVALID', /not a keyid/);
  fails(() => normalizeLayout(layout({}, { expected_materials: [['ALLOW']] }), 'r'), 'RULE_SYNTAX', /pattern/);
  fails(() => normalizeLayout(layout({ inspect: [{ name: 'build' }] }), 'r'), 'SCHEMA_INVALID', /already a step or inspection named "build"/);
  fails(() => normalizeLayout(layout({ keys: { [BOB_ID]: { ...BOB_KEY, keyval: { public: BOB_KEY.keyval.public, private: 'x' } } } }), 'r'), 'SCHEMA_INVALID', /private key/);
  fails(() => normalizeLayout(layout({ keys: { [BOB_ID]: { ...BOB_KEY, keyid_hash_algorithms: ['md4'] } } }), 'r'), 'SCHEMA_INVALID', /keyid_hash_algorithms/);
});

test('layout keys are filed under the keyid of their material: another keyid, a made-up second keyid, a respelled copy are rejected', () => {
  const carol = edKey();
  const carolId = computeKeyid(carol);
  // bob's key filed under carol's keyid
  fails(() => normalizeLayout(layout({ keys: { [carolId]: BOB_KEY } }, { pubkeys: [carolId] }), 'root.layout'), 'SCHEMA_INVALID', new RegExp(`keys\\.${carolId} holds the key whose keyid is ${BOB_ID}`), 'root.layout');
  // an embedded keyid label that differs
  fails(() => normalizeLayout(layout({ keys: { [BOB_ID]: { ...BOB_KEY, keyid: carolId } } })), 'SCHEMA_INVALID', /says its keyid is/);
  // one key, two keyids (a made-up second one), threshold 2: never two functionaries
  const madeUp = 'ab'.repeat(32);
  fails(() => normalizeLayout(layout({ keys: { [BOB_ID]: BOB_KEY, [madeUp]: { ...BOB_KEY, keyid: madeUp } } }, { pubkeys: [BOB_ID, madeUp], threshold: 2 })), 'SCHEMA_INVALID', new RegExp(`keys\\.${madeUp}`));
  // the same key spelled in upper-case hex has its own keyid, but is the same key
  const upper = { ...BOB_KEY, keyval: { public: BOB_KEY.keyval.public.toUpperCase() } };
  const upperId = computeKeyid(upper as SslibKey);
  fails(() => normalizeLayout(layout({ keys: { [BOB_ID]: BOB_KEY, [upperId]: upper } }, { pubkeys: [BOB_ID, upperId], threshold: 2 })), 'SCHEMA_INVALID', /are the same key/);
});

test('a key file labelled with another keyid is KEY_INVALID naming the file', () => {
  const labelled = JSON.stringify({ ...BOB_KEY, keyid: computeKeyid(edKey()) });
  fails(() => parsePublicKeyText(labelled, 'bob.pub'), 'KEY_INVALID', /but its key material's keyid is/, 'bob.pub');
  assert.equal(parsePublicKeyText(JSON.stringify({ ...BOB_KEY, keyid: BOB_ID }), 'bob.pub').keyid, BOB_ID);
});

test('links: null or wrongly typed fields rejected; artifacts named __proto__ and constructor kept and seen by rules', () => {
  for (const f of ['materials', 'products', 'byproducts', 'environment', 'command']) {
    fails(() => normalizeLink({ _type: 'link', name: 'x', [f]: null }, 'x.link'), 'SCHEMA_INVALID', new RegExp(f), 'x.link');
  }
  fails(() => normalizeLink({ _type: 'link', name: 'x', products: { a: { sha256: 'abc\n' } } }, 'x.link'), 'SCHEMA_INVALID', /hex digest/);
  const parsed = JSON.parse('{"_type":"link","name":"build","materials":{},"products":{"__proto__":{"sha256":"aa"},"constructor":{"sha256":"bb"},"ok":{"sha256":"cc"}}}');
  const link = normalizeLink(parsed, 'build.link');
  assert.deepEqual(Object.keys(link.products).sort(), ['__proto__', 'constructor', 'ok']);
  assert.equal(Object.getPrototypeOf(link.products), Object.prototype, 'the entry did not become the prototype');
  const links = new Map([['build', link]]);
  const res = applyArtifactRules('build', 'products', [['ALLOW', 'ok'], ['DISALLOW', '*']], links);
  assert.equal(res.verdict, 'fail');
  assert.deepEqual(res.failure?.artifacts, ['__proto__', 'constructor']);
  // constructor is not "there" in a map that did not record it
  const empty = normalizeLink({ _type: 'link', name: 'build' });
  const req = applyArtifactRules('build', 'products', [['REQUIRE', 'constructor']], new Map([['build', empty]]));
  assert.equal(req.verdict, 'fail');
});

test('MATCH … IN joins prefixes with the reference\'s backslash normalization', () => {
  const src = normalizeLink({ _type: 'link', name: 'a', products: { 'dist/x\\y': { sha256: 'aa' } } });
  const dst = normalizeLink({ _type: 'link', name: 'b', materials: { 'dist/x/y': { sha256: 'aa' } } });
  const links = new Map([['a', src], ['b', dst]]);
  // the reference rejoins dist/ + x\y as dist/x/y, which is not the queued artifact: KeyError, a failure
  const res = applyArtifactRules('a', 'products', [['MATCH', '*', 'IN', 'dist', 'WITH', 'MATERIALS', 'FROM', 'b']], links);
  assert.equal(res.verdict, 'fail');
  assert.match(res.failure!.message, /not an artifact/);
  // a backslash prefix is normalized before it is compared
  const ok = normalizeLink({ _type: 'link', name: 'c', products: { 'dist/z': { sha256: 'aa' } } });
  const okDst = normalizeLink({ _type: 'link', name: 'd', materials: { 'dist/z': { sha256: 'aa' } } });
  const r2 = applyArtifactRules('c', 'products', [['MATCH', '*', 'IN', 'dist\\', 'WITH', 'MATERIALS', 'IN', 'dist', 'FROM', 'd'], ['DISALLOW', '*']], new Map([['c', ok], ['d', okDst]]));
  assert.equal(r2.verdict, 'fail', 'dist\\ + "/" is dist// after normalization, which no path starts with');
});

test('deeply nested JSON is bad input naming the file, never a RangeError', () => {
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
  const deepObj = `{"signed":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)},"signatures":[]}`;
  fails(() => parseSignedFile(deep, 'x.link'), 'ENVELOPE_MALFORMED', /nested more than/, 'x.link');
  fails(() => parseSignedFile(deepObj, 'x.link'), 'ENVELOPE_MALFORMED', /nested more than/, 'x.link');
  const dsse = JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(deep).toString('base64'), signatures: [] });
  fails(() => parseSignedFile(dsse, 'x.json'), 'ENVELOPE_MALFORMED', /payload JSON is nested/, 'x.json');
  fails(() => parseLayoutDocument(deep, 'layout.json'), 'MALFORMED_JSON', /nested more than/, 'layout.json');
  fails(() => parseLayoutDocument(`a: ${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'layout.yaml'), 'MALFORMED_YAML', /./, 'layout.yaml');
  fails(() => parseLayoutDocument(`a:${Array.from({ length: 600 }, (_, i) => `\n${' '.repeat(i + 1)}b${i}:`).join('')} 1`, 'layout.yaml'), 'MALFORMED_YAML', /nested more than/, 'layout.yaml');
  fails(() => parsePublicKeyText(`{"k":${deep}}`, 'k.pub'), 'KEY_INVALID', /nested more than/, 'k.pub');
});

test('a metablock holding 1.0 is CANONICAL_JSON (the reference reads a float, which canonical JSON cannot sign)', () => {
  fails(() => parseSignedFile('{"signatures":[],"signed":{"_type":"link","name":"x","byproducts":{"return-value":0.0}}}', 'x.link'), 'CANONICAL_JSON', /0\.0/, 'x.link');
  // a float-looking string is not a number
  assert.equal(parseSignedFile('{"signatures":[],"signed":{"_type":"link","name":"1.0e5"}}', 'x.link').format, 'metablock');
});

test('DSSE layouts and links must carry payloadType application/vnd.in-toto+json', () => {
  const env = (payloadType: string) => parseSignedFile(JSON.stringify({ payloadType, payload: Buffer.from('{"_type":"link","name":"x"}').toString('base64'), signatures: [] }), 'x.json');
  requireInTotoPayloadType(env('application/vnd.in-toto+json'), 'x.json');
  fails(() => requireInTotoPayloadType(env('application/json'), 'x.json'), 'PAYLOAD_TYPE', /application\/json/, 'x.json');
});

test('step names that would make a path are bad input', () => {
  for (const name of ['', '.', '..', 'a/b', '../x', 'a\\b', 'x\0y']) {
    fails(() => normalizeLayout(layout({}, { name }), 'root.layout'), 'SCHEMA_INVALID', /steps\[0\]\.name/, 'root.layout');
    fails(() => linkFileName(name, BOB_ID), 'USAGE', /step names become file names/);
    fails(() => checkStepFileName(name), 'USAGE', /step name/);
  }
  fails(() => normalizeLayout(layout({ inspect: [{ name: '../i' }] }), 'root.layout'), 'SCHEMA_INVALID', /inspect\[0\]\.name/);
  fails(() => linkFileName('.hidden', BOB_ID), 'USAGE', /starts with a dot/);
  assert.equal(linkFileName('build..x', BOB_ID), `build..x.${BOB_ID.slice(0, 8)}.link`);
});

test('CEL parameters are values: a quote in a value never changes a rule\'s structure', () => {
  const predicate = { license: 'GPL-3.0', coverage: 90 };
  const evaluate = (rule: string, params: Record<string, string>) => evaluateRule(compileRule(substituteCelParams(rule, params)), { subject: [], predicateType: 't', predicate }).verdict;
  const inject = ['MIT" || true || "', "MIT' || true || '", 'MIT\\" || true || \\"', 'x") || true || ("'];
  for (const value of inject) {
    for (const rule of ['predicate.license == "{lic}"', "predicate.license == '{lic}'", 'predicate.license == {lic}', 'predicate.license == """{lic}"""']) {
      assert.equal(evaluate(rule, { lic: value }), 'fail', `${rule} with ${value}`);
    }
  }
  assert.equal(evaluate('predicate.license == "{lic}"', { lic: 'GPL-3.0' }), 'pass');
  assert.equal(evaluate('predicate.license == {lic}', { lic: 'GPL-3.0' }), 'pass');
  assert.equal(evaluate('predicate.coverage >= {min}', { min: '80' }), 'pass');
  assert.equal(evaluate('predicate.coverage >= {min}', { min: '95' }), 'fail');
  // a value that is not a number stays a string: comparing it with a number is an error, not a pass
  assert.equal(evaluate('predicate.coverage >= {min}', { min: '0 || true' }), 'error');
  fails(() => substituteCelParams('predicate.license == r"{lic}"', { lic: 'a" || true || "' }), 'USAGE', /raw string/);
});
