import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CustodyError, LINK_PREDICATE_TYPE, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, STATEMENT_TYPE_V1,
  linkToStatement, parseStatement, statementArtifacts, statementToLink, validateStatement,
} from '@custody/core';

const link = {
  name: 'train',
  command: ['python', 'train.py'],
  materials: { 'data/train.csv': { sha256: '11' }, 'train.py': { sha256: '22' } },
  products: { 'model.safetensors': { sha256: '33' } },
  byproducts: { stdout: '', stderr: '', 'return-value': 0 },
  environment: {},
};

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { return (e as CustodyError).code; }
  return 'NO_ERROR';
}

test('link ↔ link predicate v0.3: products become the subject, materials stay in the predicate', () => {
  const st = linkToStatement(link);
  assert.equal(st._type, STATEMENT_TYPE_V1);
  assert.equal(st.predicateType, LINK_PREDICATE_TYPE);
  assert.deepEqual(st.subject, [{ name: 'model.safetensors', digest: { sha256: '33' } }]);
  assert.deepEqual(st.predicate!.materials, [
    { name: 'data/train.csv', digest: { sha256: '11' } },
    { name: 'train.py', digest: { sha256: '22' } },
  ]);
  assert.deepEqual(validateStatement(JSON.parse(JSON.stringify(st))), st);
  assert.deepEqual(statementToLink(st), { _type: 'link', ...link });
});

test('statement validation names the field', () => {
  const ok = linkToStatement(link);
  const cases: [unknown, RegExp][] = [
    [{ ...ok, _type: 'https://in-toto.io/Statement/v0.1' }, /_type/],
    [{ ...ok, subject: 'x' }, /subject must be an array/],
    [{ ...ok, subject: [{ name: 'a' }] }, /subject\[0\] needs at least one of uri, digest, content/],
    [{ ...ok, subject: [{ name: 'a', uri: 'u' }] }, /subject\[0\] must have a digest/],
    [{ ...ok, subject: [{ name: 'a', digest: { sha256: 1 } }] }, /digest.sha256/],
    [{ ...ok, predicateType: '' }, /predicateType/],
    [{ ...ok, predicate: [] }, /predicate must be an object/],
    [{ ...ok, extra: 1 }, /unknown field "extra"/],
    [{ ...ok, subject: [{ name: 'a', digest: { sha256: 'ab' }, colour: 'red' }] }, /unknown field "colour"/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => validateStatement(value), (e: unknown) => e instanceof CustodyError && e.code === 'STATEMENT_INVALID' && re.test(e.message), String(re));
  }
  assert.equal(code(() => parseStatement('{')), 'STATEMENT_INVALID');
});

test('lenient mode reads what attestation-verifier accepts: `type` and Statement v0.1', () => {
  const st = { type: STATEMENT_TYPE_V1, subject: [{ name: 'a', digest: { sha256: 'ab' } }], predicateType: 'x', predicate: {} };
  assert.equal(code(() => validateStatement(st)), 'STATEMENT_INVALID');
  assert.equal(validateStatement(st, { lenient: true })._type, STATEMENT_TYPE_V1);
  assert.equal(validateStatement({ ...st, type: undefined, _type: 'https://in-toto.io/Statement/v0.1' }, { lenient: true })._type, 'https://in-toto.io/Statement/v0.1');
});

test('materials and products per predicate type', () => {
  const subject = [{ name: 'bin/foo', digest: { sha256: 'ff' } }];
  const dep = { name: 'foo', digest: { sha256: 'ee' } };
  const v1 = statementArtifacts({ _type: STATEMENT_TYPE_V1, subject, predicateType: SLSA_PROVENANCE_V1, predicate: { buildDefinition: { resolvedDependencies: [dep] } } });
  assert.deepEqual(v1, { materials: [dep], products: subject, source: 'slsa-provenance-v1' });
  const v02 = statementArtifacts({ _type: STATEMENT_TYPE_V1, subject, predicateType: SLSA_PROVENANCE_V02, predicate: { materials: [{ uri: 'git+https://x', digest: { sha1: 'aa' } }] } });
  assert.deepEqual(v02.materials, [{ name: 'git+https://x', uri: 'git+https://x', digest: { sha1: 'aa' } }]);
  const other = statementArtifacts({ _type: STATEMENT_TYPE_V1, subject, predicateType: 'https://example.com/test-result', predicate: {} });
  assert.deepEqual(other, { materials: subject, products: [], source: 'subject' });
  const linkArts = statementArtifacts(linkToStatement(link));
  assert.equal(linkArts.source, 'link');
  assert.equal(linkArts.materials.length, 2);
});

test('schemas/statement and link-predicate accept what custody writes and reject bad statements', async () => {
  const { readFileSync } = await import('node:fs');
  const { default: Ajv } = await import('ajv');
  const load = (n: string) => JSON.parse(readFileSync(new URL(`../../../schemas/${n}.schema.json`, import.meta.url), 'utf8'));
  const ajv = new (Ajv as unknown as typeof import('ajv').default)({ allErrors: true, strict: true });
  ajv.addSchema(load('statement'), 'statement.schema.json');
  ajv.addSchema(load('link-predicate'), 'link-predicate.schema.json');
  const st = JSON.parse(JSON.stringify(linkToStatement(link)));
  assert.ok(ajv.validate('statement.schema.json', st), ajv.errorsText());
  assert.ok(ajv.validate('link-predicate.schema.json', st.predicate), ajv.errorsText());
  assert.equal(ajv.validate('statement.schema.json', { ...st, _type: 'https://in-toto.io/Statement/v0.1' }), false);
  assert.equal(ajv.validate('statement.schema.json', { ...st, subject: [{ name: 'x', uri: 'u' }] }), false);
  assert.equal(ajv.validate('link-predicate.schema.json', { ...st.predicate, products: {} }), false);
});

test('schemas/bundle.schema.json accepts the bundles custody writes', async () => {
  const { readFileSync } = await import('node:fs');
  const { default: Ajv } = await import('ajv');
  const { signAttestationBundle, generateKeyPair, signerFromKeyObject } = await import('../../sign/src/index.ts');
  const { createPrivateKey } = await import('node:crypto');
  const { publicKeyFromPem } = await import('@custody/core');
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/bundle.schema.json', import.meta.url), 'utf8'));
  const ajv = new (Ajv as unknown as typeof import('ajv').default)({ strict: true });
  const validate = ajv.compile(schema);
  const pair = generateKeyPair('ecdsa-p256');
  const bundle = await signAttestationBundle(linkToStatement(link), signerFromKeyObject(createPrivateKey(pair.privatePem), publicKeyFromPem(pair.publicPem)));
  assert.ok(validate(bundle), ajv.errorsText(validate.errors));
  assert.equal(validate({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payloadType: 'text/plain' } }), false);
});
