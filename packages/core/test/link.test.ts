import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustodyError, encodeCanonical, linkFileName, normalizeLink } from '@custody/core';

const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

test('normalizeLink fills defaults and drops unknown fields like Link(**data)', () => {
  assert.deepEqual(normalizeLink({ name: 'clone', signatures: 'x', extra: 1 }), {
    _type: 'link', name: 'clone', command: [], materials: {}, products: {}, byproducts: {}, environment: {},
  });
  const full = {
    _type: 'link', name: 's', command: ['a', 'b c'], materials: { 'x/y': { sha256: 'AB01', sha512: 'ff' } }, products: {},
    byproducts: { 'return-value': 0, stdout: 'o\n', stderr: '' }, environment: { workdir: '/w' },
  };
  assert.deepEqual(normalizeLink(full), full);
  // canonical form sorts keys by code point, independent of input order
  assert.equal(encodeCanonical(normalizeLink({ products: {}, name: 'n', _type: 'link' })),
    '{"_type":"link","byproducts":{},"command":[],"environment":{},"materials":{},"name":"n","products":{}}');
});

test('normalizeLink rejects what the reference model rejects (SCHEMA_INVALID)', () => {
  const bad: unknown[] = [
    null, [], 'link', { name: 1 }, { _type: 'layout', name: 'x' },
    { name: 'x', command: 'ls' }, { name: 'x', command: null },
    { name: 'x', materials: [] }, { name: 'x', materials: { a: 'sha256' } }, { name: 'x', products: { a: { sha256: 'xyz' } } },
    { name: 'x', products: { a: { sha256: 5 } } }, { name: 'x', byproducts: [] }, { name: 'x', environment: 'e' },
  ];
  for (const b of bad) assert.throws(() => normalizeLink(b, 'f.link'), (e: unknown) => code('SCHEMA_INVALID')(e) && (e as CustodyError).file === 'f.link', JSON.stringify(b));
});

test('linkFileName uses the first 8 hex characters of the keyid', () => {
  assert.equal(linkFileName('package', '2f89b9272acfc8f4a0a0f094d789fdb0ba798b0fe41f2f5f417c12f0085ff498'), 'package.2f89b927.link');
});
