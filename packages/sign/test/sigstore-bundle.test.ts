import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON } from '@sigstore/bundle';
import {
  CustodyError, IN_TOTO_PAYLOAD_TYPE, LINK_PREDICATE_TYPE, STATEMENT_TYPE_V1, pae, publicKeyFromPem,
  type PublicKey, type Statement,
} from '@custody/core';
import {
  BUNDLE_V03_MEDIA_TYPE, buildDsseBundle, generateKeyPair, signAttestationBundle, signerFromKeyObject,
  verifyAttestationBundle, type KeySigner, type SerializedBundle,
} from '@custody/sign';

const statement: Statement = {
  _type: STATEMENT_TYPE_V1,
  subject: [{ name: 'model.safetensors', digest: { sha256: 'a'.repeat(64) } }],
  predicateType: LINK_PREDICATE_TYPE,
  predicate: { name: 'train', command: ['python', 'train.py'], materials: [], byproducts: {}, environment: {} },
};

function custodySigner(type: 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'rsa'): KeySigner {
  const pair = generateKeyPair(type);
  return signerFromKeyObject(createPrivateKey(pair.privatePem), publicKeyFromPem(pair.publicPem));
}

/** P-521 is outside the legacy schemes: a hand-made key and signer (SHA-512, DER). */
function p521Signer(): KeySigner & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
  const key = { keyid: 'c'.repeat(64), scheme: 'ecdsa-sha2-nistp521', sslib: { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp521', keyval: { public: '' } }, keyObject: publicKey } as unknown as PublicKey;
  return { keyid: key.keyid, publicKey: key, privateKey, sign: async (d) => cryptoSign('sha512', d, { key: privateKey, dsaEncoding: 'der' }) };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CustodyError, `expected CustodyError, got ${(e as Error).message}`);
    return e.code;
  }
  return 'NO_ERROR';
}

function clone(b: SerializedBundle): any {
  return JSON.parse(JSON.stringify(b));
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

const signers = {
  ed25519: custodySigner('ed25519'),
  p256: custodySigner('ecdsa-p256'),
  p384: custodySigner('ecdsa-p384'),
  rsa: custodySigner('rsa'),
  p521: p521Signer(),
};

for (const [name, signer] of Object.entries(signers)) {
  test(`bundle round trip with a ${name} key`, async () => {
    const bundle = await signAttestationBundle(statement, signer);
    assert.equal(bundle.mediaType, BUNDLE_V03_MEDIA_TYPE);
    assert.equal(bundle.dsseEnvelope?.payloadType, IN_TOTO_PAYLOAD_TYPE);
    assert.equal(bundle.dsseEnvelope?.signatures[0].keyid, signer.keyid);
    assert.equal(bundle.verificationMaterial.publicKey?.hint, signer.keyid);
    assert.deepEqual(bundle.verificationMaterial.tlogEntries ?? [], []);
    const v = verifyAttestationBundle(JSON.stringify(bundle), [signers.ed25519.publicKey, signer.publicKey]);
    assert.deepEqual(v.statement, statement);
    assert.equal(v.keyid, signer.keyid);
    assert.equal(v.key, signer.publicKey);
  });
}

test('a bundle signed by a key that is not trusted fails SIGNATURE_INVALID', async () => {
  const bundle = await signAttestationBundle(statement, signers.ed25519);
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.p256.publicKey])), 'SIGNATURE_INVALID');
});

test('an edited payload fails SIGNATURE_INVALID', async () => {
  const bundle = clone(await signAttestationBundle(statement, signers.p256));
  const edited = { ...statement, subject: [{ name: 'model.safetensors', digest: { sha256: 'b'.repeat(64) } }] };
  bundle.dsseEnvelope.payload = b64(JSON.stringify(edited));
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.p256.publicKey])), 'SIGNATURE_INVALID');
});

test('an edited signature fails SIGNATURE_INVALID', async () => {
  const bundle = clone(await signAttestationBundle(statement, signers.ed25519));
  const sig = Buffer.from(bundle.dsseEnvelope.signatures[0].sig, 'base64');
  sig[5] ^= 1;
  bundle.dsseEnvelope.signatures[0].sig = sig.toString('base64');
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.ed25519.publicKey])), 'SIGNATURE_INVALID');
});

test('a changed payloadType fails PAYLOAD_TYPE, also when validly signed', async () => {
  const bundle = clone(await signAttestationBundle(statement, signers.ed25519));
  bundle.dsseEnvelope.payloadType = 'application/json';
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.ed25519.publicKey])), 'PAYLOAD_TYPE');
  const s = signers.ed25519;
  const signed = await buildDsseBundle(Buffer.from(JSON.stringify(statement)), 'application/json', {
    sign: async (data) => ({ signature: await s.sign(data), key: { $case: 'publicKey', publicKey: '', hint: s.keyid } }),
  });
  assert.equal(codeOf(() => verifyAttestationBundle(signed, [s.publicKey])), 'PAYLOAD_TYPE');
});

test('a DSSE signature keyid that differs from the key hint fails KEYID_MISMATCH', async () => {
  const bundle = clone(await signAttestationBundle(statement, signers.ed25519));
  bundle.dsseEnvelope.signatures[0].keyid = signers.p256.keyid;
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.ed25519.publicKey, signers.p256.publicKey])), 'KEYID_MISMATCH');
  // an empty keyid is allowed (DSSE keyids are optional hints)
  bundle.dsseEnvelope.signatures[0].keyid = '';
  assert.equal(verifyAttestationBundle(bundle, [signers.ed25519.publicKey]).keyid, signers.ed25519.keyid);
});

test('a changed key hint is caught: another trusted key does not verify it', async () => {
  const bundle = clone(await signAttestationBundle(statement, signers.ed25519));
  bundle.verificationMaterial.publicKey.hint = signers.p256.keyid;
  bundle.dsseEnvelope.signatures[0].keyid = signers.p256.keyid;
  assert.equal(codeOf(() => verifyAttestationBundle(bundle, [signers.ed25519.publicKey, signers.p256.publicKey])), 'SIGNATURE_INVALID');
});

for (const [name, hash] of [['p384', 'sha256'], ['p521', 'sha256'], ['p521', 'sha384']] as const) {
  test(`a ${name} signature over ${hash} (what sigstore-js accepts) fails SIGNATURE_INVALID`, async () => {
    let s: KeySigner;
    let key: KeyObject;
    if (name === 'p521') {
      s = signers.p521;
      key = signers.p521.privateKey;
    } else {
      const pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      key = pair.privateKey;
      s = signerFromKeyObject(key, publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()));
    }
    const payload = Buffer.from(JSON.stringify(statement));
    const wrongHash = await buildDsseBundle(payload, IN_TOTO_PAYLOAD_TYPE, {
      sign: async (data) => ({ signature: cryptoSign(hash, data, { key, dsaEncoding: 'der' }), key: { $case: 'publicKey', publicKey: '', hint: s.keyid } }),
    });
    if (hash === 'sha256') {
      // sigstore-js alone verifies it: the gap custody closes
      const trust = toTrustMaterial({ mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] } as never,
        () => ({ publicKey: s.publicKey.keyObject, validFor: () => true }));
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(wrongHash)));
    }
    assert.equal(codeOf(() => verifyAttestationBundle(wrongHash, [s.publicKey])), 'SIGNATURE_INVALID');
    const right = await buildDsseBundle(payload, IN_TOTO_PAYLOAD_TYPE, {
      sign: async (data) => ({ signature: cryptoSign(name === 'p384' ? 'sha384' : 'sha512', data, { key, dsaEncoding: 'der' }), key: { $case: 'publicKey', publicKey: '', hint: s.keyid } }),
    });
    assert.equal(verifyAttestationBundle(right, [s.publicKey]).keyid, s.keyid);
  });
}

test('a validly signed payload that is not a Statement v1 fails STATEMENT_INVALID', async () => {
  const s = signers.ed25519;
  const signer = { sign: async (data: Buffer) => ({ signature: await s.sign(data), key: { $case: 'publicKey' as const, publicKey: '', hint: s.keyid } }) };
  for (const body of [
    { ...statement, _type: 'https://in-toto.io/Statement/v0.1' },
    { ...statement, subject: [{ name: 'x' }] },
    { ...statement, predicateType: undefined },
    'not json',
  ]) {
    const bundle = await buildDsseBundle(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), IN_TOTO_PAYLOAD_TYPE, signer);
    assert.equal(codeOf(() => verifyAttestationBundle(bundle, [s.publicKey])), 'STATEMENT_INVALID', JSON.stringify(body));
  }
});

test('signAttestationBundle refuses an invalid Statement before signing', async () => {
  await assert.rejects(signAttestationBundle({ ...statement, _type: 'x' }, signers.ed25519), (e: unknown) => e instanceof CustodyError && e.code === 'STATEMENT_INVALID');
});

test('malformed bundles fail BUNDLE_MALFORMED', async () => {
  const good = await signAttestationBundle(statement, signers.ed25519);
  const keys = [signers.ed25519.publicKey];
  assert.equal(codeOf(() => verifyAttestationBundle('{"mediaType": ', keys)), 'BUNDLE_MALFORMED');
  assert.equal(codeOf(() => verifyAttestationBundle({ mediaType: BUNDLE_V03_MEDIA_TYPE }, keys)), 'BUNDLE_MALFORMED');
  const noMaterial = clone(good);
  delete noMaterial.verificationMaterial;
  assert.equal(codeOf(() => verifyAttestationBundle(noMaterial, keys)), 'BUNDLE_MALFORMED');
  const twoSigs = clone(good);
  twoSigs.dsseEnvelope.signatures.push(twoSigs.dsseEnvelope.signatures[0]);
  assert.equal(codeOf(() => verifyAttestationBundle(twoSigs, keys)), 'BUNDLE_MALFORMED');
  const noSigs = clone(good);
  noSigs.dsseEnvelope.signatures = [];
  assert.equal(codeOf(() => verifyAttestationBundle(noSigs, keys)), 'BUNDLE_MALFORMED');
  const wrongMedia = clone(good);
  wrongMedia.mediaType = 'application/json';
  assert.equal(codeOf(() => verifyAttestationBundle(wrongMedia, keys)), 'BUNDLE_MALFORMED');
});

test('the PAE the signature covers is the DSSE v1 encoding of the raw payload', async () => {
  const s = signers.ed25519;
  const bundle = await signAttestationBundle(statement, s);
  const payload = Buffer.from(bundle.dsseEnvelope!.payload, 'base64');
  const { verifyRaw } = await import('@custody/core');
  assert.ok(verifyRaw(s.publicKey, pae(IN_TOTO_PAYLOAD_TYPE, payload), Buffer.from(bundle.dsseEnvelope!.signatures[0].sig, 'base64')));
});

test('claimsFromBundles: verified claims per step, failures listed with their code', async () => {
  const { claimsFromBundles } = await import('@custody/sign');
  const good = await signAttestationBundle(statement, signers.ed25519);
  const tampered = clone(good);
  tampered.dsseEnvelope.payloadType = 'text/plain';
  const byOther = await signAttestationBundle(statement, signers.rsa);
  const r = claimsFromBundles([
    { step: 'train', name: 'b.sigstore.json', text: JSON.stringify(tampered) },
    { step: 'train', name: 'a.sigstore.json', text: JSON.stringify(good) },
    { step: 'train', name: 'c.sigstore.json', text: JSON.stringify(byOther) },
  ], [signers.ed25519.publicKey]);
  assert.deepEqual(r.claimsByStep.train.map((c) => [c.keyid, c.source]), [[signers.ed25519.keyid, 'a.sigstore.json']]);
  assert.deepEqual(r.rejected.map((x) => [x.file, x.code]), [['b.sigstore.json', 'PAYLOAD_TYPE'], ['c.sigstore.json', 'SIGNATURE_INVALID']]);
});
