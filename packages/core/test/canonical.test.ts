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

test('encodeCanonical equals securesystemslib encode_canonical on awkward strings and keys', async () => {
  const { execFileSync } = await import('node:child_process');
  const samples = ['plain', 'new\nline', 'tab\t', 'ctl\u0001', 'quote"back\\slash', 'ünï', '\u2028', '\u007f',
    'emoji \u{1F600}', '\uE000', '\uFFFD', 'mixed é\n"\\'];
  const doc: Record<string, unknown> = { list: samples };
  samples.forEach((s, i) => { doc[s] = i; });
  const py = execFileSync('/usr/bin/python3', ['-c',
    'import sys,json; from securesystemslib.formats import encode_canonical; sys.stdout.buffer.write(encode_canonical(json.loads(sys.stdin.read())).encode("utf-8"))'],
  { input: JSON.stringify(doc) });
  assert.equal(encodeCanonical(doc), py.toString('utf8'));
});
