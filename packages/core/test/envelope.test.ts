import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import {
  CustodyError, canonicalBytes, encodeCanonical, metablockSignedBytes, normalizeLink, pae, parseSignedFile,
  publicKeyFromPem, pythonJsonDumps, verifySignedFile, type PublicKey,
} from '@custody/core';

const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

function edKeyPair(): { key: PublicKey; signRaw: (d: Uint8Array) => Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { key: publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }) as string), signRaw: (d) => sign(null, d, privateKey) };
}

// A link whose stdout has raw newlines, a tab, a quote, a backslash and non-ASCII (BMP and astral).
const STDOUT = 'line 1\nz\u00fcrich \u2713 \u{1F600}\t"q" \\ end\n';
const LINK = {
  _type: 'link', name: 'build', command: ['sh', '-c', 'echo hi'],
  materials: { 'src/a.py': { sha256: 'ab'.repeat(32) } }, products: { 'dist/\u00e9.tar': { sha256: 'cd'.repeat(32) } },
  byproducts: { 'return-value': 0, stderr: '', stdout: STDOUT }, environment: {},
};

test('PAE matches the DSSE spec example', () => {
  assert.equal(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  // lengths are byte lengths
  assert.equal(pae('t', Buffer.from('\u00e9')).toString('latin1'), 'DSSEv1 1 t 2 \u00c3\u00a9');
});

test('metablock signature covers OLPC canonical JSON of the normalized link (raw newlines, non-ASCII)', () => {
  const { key, signRaw } = edKeyPair();
  const canon = encodeCanonical(normalizeLink(LINK));
  assert.ok(canon.includes('line 1\nz\u00fcrich \u2713 \u{1F600}\t\\"q\\" \\\\ end\n'), 'raw newline, unescaped unicode');
  const sig = signRaw(Buffer.from(canon, 'utf8')).toString('hex');
  // written like the reference (ensure_ascii, indent 1) with an extra unknown field the model drops
  const text = pythonJsonDumps({ signatures: [{ keyid: key.keyid, sig }], signed: { ...LINK, extra: { x: 1 } } });
  assert.ok(text.includes('\\u00fc') && text.includes('\\ud83d\\ude00'));
  const file = parseSignedFile(text, 'build.link');
  assert.equal(file.format, 'metablock');
  assert.equal(verifySignedFile(file, key), true, 'default normalizer drops the unknown field');
  assert.equal(verifySignedFile(file, key, (b) => normalizeLink(b)), true);
  assert.equal(verifySignedFile(file, key, (b) => b), false, 'without normalization the extra field breaks it');
  assert.deepEqual(metablockSignedBytes(file.body), Buffer.from(canon, 'utf8'));
});

test('tampered metablocks and wrong keys fail', () => {
  const { key, signRaw } = edKeyPair();
  const other = edKeyPair().key;
  const sig = signRaw(canonicalBytes(normalizeLink(LINK))).toString('hex');
  const good = { signatures: [{ keyid: key.keyid, sig }], signed: LINK };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(good), 'f'), key), true);
  const tampered = { ...good, signed: { ...LINK, products: { 'dist/\u00e9.tar': { sha256: 'ce'.repeat(32) } } } };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(tampered), 'f'), key), false);
  const stdoutChanged = { ...good, signed: { ...LINK, byproducts: { ...LINK.byproducts, stdout: STDOUT.replace('\n', '\r\n') } } };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(stdoutChanged), 'f'), key), false);
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(good), 'f'), other), false, 'no signature by that keyid');
  const relabelled = { ...good, signatures: [{ keyid: other.keyid, sig }] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(relabelled), 'f'), other), false);
  const badHex = { ...good, signatures: [{ keyid: key.keyid, sig: 'xyz' }] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(badHex), 'f'), key), false);
  // Like the reference, only the first signature with the key's keyid decides.
  const firstBad = { ...good, signatures: [{ keyid: key.keyid, sig: '00'.repeat(64) }, { keyid: key.keyid, sig }] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(firstBad), 'f'), key), false);
});

test('DSSE envelopes verify over PAE of the raw payload bytes', () => {
  const { key, signRaw } = edKeyPair();
  // payload bytes that a re-serialization would not reproduce (spacing, key order)
  const payload = Buffer.from('{"name": "build",  "_type": "link", "stdout": "a\\nb \u00e9"}', 'utf8');
  const type = 'application/vnd.in-toto+json';
  const env = { payload: payload.toString('base64'), payloadType: type, signatures: [{ keyid: key.keyid, sig: signRaw(pae(type, payload)).toString('base64') }] };
  const file = parseSignedFile(JSON.stringify(env), 'x.link');
  assert.equal(file.format, 'dsse');
  assert.ok(file.format === 'dsse' && file.payloadBytes.equals(payload));
  assert.deepEqual((file.body as { name: string }).name, 'build');
  assert.equal(verifySignedFile(file, key), true);
  // payloadType is authenticated
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify({ ...env, payloadType: 'application/json' }), 'x'), key), false);
  // URL-safe base64 is accepted too
  const urlSafe = { ...env, payload: payload.toString('base64url'), signatures: [{ keyid: key.keyid, sig: Buffer.from(env.signatures[0].sig, 'base64').toString('base64url') }] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(urlSafe), 'x'), key), true);
  // tampered payload
  const tampered = { ...env, payload: Buffer.from(payload.toString().replace('build', 'buil2')).toString('base64') };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(tampered), 'x'), key), false);
  // any matching signature may verify
  const two = { ...env, signatures: [{ keyid: key.keyid, sig: Buffer.alloc(64).toString('base64') }, env.signatures[0]] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(two), 'x'), key), true);
  // a signature without keyid matches no key
  const noKeyid = { ...env, signatures: [{ sig: env.signatures[0].sig }] };
  assert.equal(verifySignedFile(parseSignedFile(JSON.stringify(noKeyid), 'x'), key), false);
});

test('malformed signed files: ENVELOPE_MALFORMED naming the file', () => {
  const bad = [
    'not json', '[]', '{"foo": 1}', '{"signed": [], "signatures": []}', '{"signed": {}, "signatures": {}}',
    '{"signed": {}, "signatures": [{"keyid": 1, "sig": "00"}]}',
    '{"payload": 5, "payloadType": "t", "signatures": []}',
    '{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k", "sig": "!!"}]}',
    '{"payload": "%%%", "payloadType": "t", "signatures": []}',
    '{"payload": "bm90IGpzb24=", "payloadType": "t", "signatures": []}',
  ];
  for (const text of bad) {
    assert.throws(() => parseSignedFile(text, 'bad.link'), (e: unknown) => code('ENVELOPE_MALFORMED')(e) && (e as CustodyError).file === 'bad.link', text);
  }
});
