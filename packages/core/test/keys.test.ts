import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, constants } from 'node:crypto';
import {
  CustodyError, computeKeyid, encodeCanonical, parsePublicKeyText, publicKeyFromPem, publicKeyFromSslib, verifyRaw,
} from '@custody/core';

const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

// Fixed key files written by in-toto-keygen 1.3.1 (securesystemslib 0.26); keyids from the python reference.
const ED25519_PUB = '{"keytype": "ed25519", "scheme": "ed25519", "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": "198d420384863e30b96d2e6ac152d17ce9a8ec0576970d6cef17dc58a9cb776c"}}';
const ED25519_KEYID = 'f6f4d10b99899c7ebe9fc61d0666f96e3099bde0ee41e363c637bd66f2b3b4ff';
const ECDSA_PUB = '{"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzKsSBK96PzyK8mLL/CZU+bipQuzU\\nckd9p6fnZt4JY1BQo2G+c12ki3kSd0iPs6cFuwHcj52c5jqlofaLmY6v3w==\\n-----END PUBLIC KEY-----\\n"}}';
const ECDSA_KEYID = '4ac1012e65f5d32c35d5ebda6b3d93fd2bd8c99f4093d558518cb143160370ea';
const RSA_PUB = `-----BEGIN PUBLIC KEY-----
MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA49kEQfA8aD2cggl+RWvn
YXkwZ/Kjq7QiGbby4VXZac3sigpHjmDIvzp4tvVBZll1uEkpkpSn9lEkeKaBdNJQ
L3uXxgjg4hy1YgYvXbp812I6/zTaxOGelzspqu7eSGRyo5LJ3i6+ZXEyl/sUT90E
eR1SF4hZaa7LRDKhhwo55B6/D8dOZungxoVbwpcWTECcF+2qmoU6iAWsd18eWFKm
Nof2EkFpPsOaEjfkshObpSacGusdq3hajGTiUuth3fA75r1DI6o2VnAe7GmHLBY8
6gwKfWLF0wiBfmNL2sOaSk5BDhESiFB+u7tHNi1MnTXsaJs0ABDvgz/fVX6933mk
KNJ76t4GJLVBTGor+n7C0onO+w9L9Sit8tW91evXz81HrQScg+PXh6xhQna594aN
qdgMa9tfV4rJ/nR7Ux2SaqpC85O89hMB3c8L0Yk1frBxp4WwZj9qbTvJNIKWviqx
DDie9MszQEn2IbJbUWYUp5QJuN+Uy+NYXiF/3WEoY5t5AgMBAAE=
-----END PUBLIC KEY-----
`;
const RSA_KEYID = 'ab693deeb81a0133911e0b08f9201501e8b042f36772b43828e2643f0fb9c460';

test('keyids of reference key files equal the python reference', () => {
  assert.equal(parsePublicKeyText(ED25519_PUB, 'ed.pub').keyid, ED25519_KEYID);
  assert.equal(parsePublicKeyText(ECDSA_PUB, 'ec.pub').keyid, ECDSA_KEYID);
  assert.equal(parsePublicKeyText(RSA_PUB, 'rsa.pub').keyid, RSA_KEYID);
  // Surrounding whitespace and CRLF do not change an RSA keyid (extract_pem trims).
  assert.equal(parsePublicKeyText(`\n\n${RSA_PUB.replace(/\n/g, '\r\n')}\n`, 'rsa.pub').keyid, RSA_KEYID);
});

test('computeKeyid hashes keytype, scheme, public value and the default keyid_hash_algorithms', () => {
  const sslib = JSON.parse(ED25519_PUB);
  const expected = createHash('sha256').update(encodeCanonical({
    keyid_hash_algorithms: ['sha256', 'sha512'], keytype: 'ed25519', keyval: { public: sslib.keyval.public }, scheme: 'ed25519',
  })).digest('hex');
  assert.equal(computeKeyid(sslib), expected);
  // Like securesystemslib 0.26, what the object lists as keyid_hash_algorithms does not matter.
  assert.equal(computeKeyid({ ...sslib, keyid_hash_algorithms: ['sha512'] }), ED25519_KEYID);
  assert.equal(computeKeyid({ keytype: 'ed25519', scheme: 'ed25519', keyval: sslib.keyval }), ED25519_KEYID);
});

test('ecdsa from PEM is trimmed like import_ecdsakey_from_pem; sslib JSON keeps its stored value', () => {
  const fromJson = parsePublicKeyText(ECDSA_PUB, 'ec.pub');
  assert.ok(fromJson.sslib.keyval.public.endsWith('-----\n'));
  const fromPem = publicKeyFromPem(fromJson.sslib.keyval.public);
  assert.equal(fromPem.sslib.keytype, 'ecdsa');
  assert.equal(fromPem.sslib.scheme, 'ecdsa-sha2-nistp256');
  assert.ok(fromPem.sslib.keyval.public.endsWith('-----END PUBLIC KEY-----'));
  assert.notEqual(fromPem.keyid, ECDSA_KEYID);
  assert.equal(fromPem.keyid, computeKeyid({ keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: fromJson.sslib.keyval.public.trim() } }));
});

test('PEM keys of every supported type map to their sslib form', () => {
  const cases = [
    ['ed25519', generateKeyPairSync('ed25519'), 'ed25519', 'ed25519'],
    ['P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ecdsa', 'ecdsa-sha2-nistp256'],
    ['P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ecdsa', 'ecdsa-sha2-nistp384'],
    ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rsa', 'rsassa-pss-sha256'],
  ] as const;
  for (const [label, pair, keytype, scheme] of cases) {
    const spki = pair.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const pkcs8 = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const key = publicKeyFromPem(spki);
    assert.equal(key.sslib.keytype, keytype, label);
    assert.equal(key.scheme, scheme, label);
    assert.equal(key.keyid, computeKeyid(key.sslib), label);
    assert.equal(key.sslib.keyid, key.keyid, label);
    assert.deepEqual(key.sslib.keyid_hash_algorithms, ['sha256', 'sha512']);
    if (keytype === 'ed25519') assert.match(key.sslib.keyval.public, /^[0-9a-f]{64}$/);
    // the public part of an unencrypted private key has the same keyid
    assert.equal(parsePublicKeyText(pkcs8, 'k').keyid, key.keyid, label);
    // and the sslib dict round-trips
    assert.equal(publicKeyFromSslib(JSON.parse(JSON.stringify(key.sslib))).keyid, key.keyid, label);
  }
});

test('publicKeyFromSslib computes the keyid from the key material; an embedded keyid that differs is KEY_INVALID', () => {
  const plain = publicKeyFromSslib(JSON.parse(ED25519_PUB));
  // the right keyid embedded is fine (in-toto-keygen private key files carry one)
  assert.equal(publicKeyFromSslib({ ...JSON.parse(ED25519_PUB), keyid: plain.keyid }).keyid, plain.keyid);
  const labelled = { ...JSON.parse(ED25519_PUB), keyid: 'a'.repeat(64) };
  assert.throws(() => publicKeyFromSslib(labelled, 'bob.pub'), (e: unknown) => {
    assert.ok(e instanceof CustodyError);
    assert.equal(e.code, 'KEY_INVALID');
    assert.equal(e.file, 'bob.pub');
    assert.match(e.message, new RegExp(`says its keyid is "a{64}", but its key material's keyid is ${plain.keyid}`));
    return true;
  });
  assert.throws(() => parsePublicKeyText(JSON.stringify(labelled), 'bob.json'), (e: unknown) => code('KEY_INVALID')(e) && (e as CustodyError).file === 'bob.json');
});

test('verifyRaw: ed25519, ecdsa DER (P-384 with SHA-384), rsa PSS with any salt length', () => {
  const data = Buffer.from('in-toto \u00e9\n');
  const ed = generateKeyPairSync('ed25519');
  const edKey = publicKeyFromPem(ed.publicKey.export({ format: 'pem', type: 'spki' }) as string);
  assert.equal(verifyRaw(edKey, data, sign(null, data, ed.privateKey)), true);
  assert.equal(verifyRaw(edKey, Buffer.from('other'), sign(null, data, ed.privateKey)), false);

  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p384Key = publicKeyFromPem(p384.publicKey.export({ format: 'pem', type: 'spki' }) as string);
  assert.equal(verifyRaw(p384Key, data, sign('sha384', data, p384.privateKey)), true);
  assert.equal(verifyRaw(p384Key, data, sign('sha256', data, p384.privateKey)), false);
  assert.equal(verifyRaw(p384Key, data, Buffer.from('not der')), false);

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaKey = publicKeyFromPem(rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string);
  for (const saltLength of [constants.RSA_PSS_SALTLEN_DIGEST, constants.RSA_PSS_SALTLEN_MAX_SIGN, 0]) {
    const sig = sign('sha256', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    assert.equal(verifyRaw(rsaKey, data, sig), true, `salt ${saltLength}`);
  }
  // PKCS#1 v1.5 is a different scheme
  assert.equal(verifyRaw(rsaKey, data, sign('sha256', data, rsa.privateKey)), false);
});

test('bad key input: KEY_INVALID, KEY_UNSUPPORTED, KEY_PASSPHRASE with the file named', () => {
  assert.throws(() => parsePublicKeyText('hello', 'notakey.txt'), (e: unknown) => code('KEY_INVALID')(e) && (e as CustodyError).file === 'notakey.txt');
  assert.throws(() => parsePublicKeyText('{"a": 1}', 'x.json'), code('KEY_INVALID'));
  assert.throws(() => parsePublicKeyText('{broken', 'x.json'), code('KEY_INVALID'));
  assert.throws(() => parsePublicKeyText('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'x.pem'), code('KEY_INVALID'));
  assert.throws(() => parsePublicKeyText(ED25519_PUB.replace('198d', 'zz8d'), 'x.pub'), code('KEY_INVALID'));
  // keytype says rsa but the PEM is an EC key
  assert.throws(() => publicKeyFromSslib({ ...JSON.parse(ECDSA_PUB), keytype: 'rsa', scheme: 'rsassa-pss-sha256' }), code('KEY_INVALID'));
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
  assert.throws(() => parsePublicKeyText(p521, 'p521.pub'), code('KEY_UNSUPPORTED'));
  const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
  assert.throws(() => parsePublicKeyText(dsa, 'dsa.pub'), code('KEY_UNSUPPORTED'));
  assert.throws(() => publicKeyFromSslib({ ...JSON.parse(ED25519_PUB), scheme: 'rsa-pkcs1v15-sha256' }), code('KEY_UNSUPPORTED'));
  assert.throws(() => publicKeyFromSslib({ ...JSON.parse(ED25519_PUB), keytype: 'sphincs' }), code('KEY_UNSUPPORTED'));
  const enc = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
  assert.throws(() => parsePublicKeyText(enc, 'enc'), code('KEY_PASSPHRASE'));
  assert.throws(() => parsePublicKeyText('ab@@@@100000@@@@cd@@@@ef@@@@01', 'enc'), code('KEY_PASSPHRASE'));
});
