import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCanonical, pythonJsonDumps, CustodyError } from '@custody/core';

test('OLPC canonical JSON escapes only backslash and quote, sorts by code point', () => {
  assert.equal(encodeCanonical({ b: 'x\ny"\\', a: [1, true, null], 'é': 'ü', '\u{1F600}': 1, '\uFFFF': 2 }),
    '{"a":[1,true,null],"b":"x\ny\\"\\\\","é":"ü","\uFFFF":2,"\u{1F600}":1}');
});

test('OLPC canonical JSON refuses floats', () => {
  assert.throws(() => encodeCanonical({ a: 1.5 }), (e: unknown) => e instanceof CustodyError && e.code === 'CANONICAL_JSON');
});

test('pythonJsonDumps matches json.dumps(indent=1, sort_keys=True)', () => {
  assert.equal(pythonJsonDumps({ b: [], a: { c: 'é\n' }, d: [1, 2] }),
    '{\n "a": {\n  "c": "\\u00e9\\n"\n },\n "b": [],\n "d": [\n  1,\n  2\n ]\n}');
});
