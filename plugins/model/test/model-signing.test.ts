import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCustodyError } from '@custody/core';
import {
  buildModelManifest, modelSigningStatement, modelRootDigest, signModel, verifyModel, serializeModelSignature,
  ecKeyBundleSigner, ecKeyBundleVerifier, parseModelSignature, manifestFromStatement, publicKeyHint,
  MODEL_SIGNING_PREDICATE_TYPE, type ModelBundleVerifier,
} from '../src/index.ts';
import { sha256, tinySafetensors, tmp, write } from './helpers.ts';

const fixtures = fileURLToPath(new URL('./fixtures/model-signing/', import.meta.url));

async function rejectsCode(p: Promise<unknown>, code: string, re?: RegExp) {
  try {
    await p;
  } catch (e) {
    assert.ok(isCustodyError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.fail(`expected ${code}`);
}

function model(): string {
  const root = tmp('custody-msig-');
  write(root, 'README.md', '---\nlicense: mit\n---\n');
  write(root, 'model.safetensors', tinySafetensors());
  write(root, 'tokenizer/vocab.txt', 'a\nb\n');
  write(root, 'empty', '');
  write(root, '.gitattributes', '*.safetensors filter=lfs\n');
  write(root, '.git/HEAD', 'ref: refs/heads/main\n');
  return root;
}

test('manifest by files: sorted resources, root digest over raw digests, default ignores', async () => {
  const root = model();
  const m = await buildModelManifest(root);
  assert.deepEqual(m.resources.map((r) => r.name), ['README.md', 'empty', 'model.safetensors', 'tokenizer/vocab.txt']);
  assert.ok(m.resources.every((r) => r.algorithm === 'sha256'));
  assert.equal(m.resources.find((r) => r.name === 'empty')!.digest, sha256(''));
  assert.deepEqual(m.serialization, { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'model.sig'] });
  const s = modelSigningStatement(m);
  const expectedRoot = createHash('sha256').update(Buffer.concat(m.resources.map((r) => Buffer.from(r.digest, 'hex')))).digest('hex');
  assert.equal(s.subject[0].digest.sha256, expectedRoot);
  assert.equal(s.predicateType, MODEL_SIGNING_PREDICATE_TYPE);
  assert.equal(s._type, 'https://in-toto.io/Statement/v1');
});

test('manifest by shards: path:start:end names, empty files skipped, numeric order', async () => {
  const root = tmp('custody-msig-');
  const data = Buffer.alloc(25, 7);
  write(root, 'w.bin', data);
  write(root, 'empty', '');
  const m = await buildModelManifest(root, { method: 'shards', shardSize: 10 });
  assert.deepEqual(m.resources.map((r) => r.name), ['w.bin:0:10', 'w.bin:10:20', 'w.bin:20:25']);
  assert.ok(m.resources.every((r) => r.algorithm === 'sha256-sharded-10'));
  assert.equal(m.resources[2]!.digest, sha256(data.subarray(20, 25)));
  assert.equal(m.serialization.shard_size, 10);
  const big = tmp('custody-msig-');
  write(big, 'w.bin', Buffer.alloc(120, 1));
  const m2 = await buildModelManifest(big, { method: 'shards', shardSize: 10 });
  // 100 sorts after 20 numerically (not as strings).
  assert.deepEqual(m2.resources.slice(-3).map((r) => r.name), ['w.bin:90:100', 'w.bin:100:110', 'w.bin:110:120']);
});

for (const curve of ['P-256', 'P-384'] as const) {
  test(`sign and verify with an EC ${curve} key; changed, missing and extra files fail by name`, async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const root = model();
    const { bundle } = await signModel(root, ecKeyBundleSigner(privateKey));
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(bundle.verificationMaterial, { publicKey: { hint: publicKeyHint(publicKey) }, tlogEntries: [] });
    const sigText = serializeModelSignature(bundle);
    writeFileSync(join(root, 'model.sig'), sigText); // lives inside the folder and is ignored
    const verifier = ecKeyBundleVerifier(publicKey);
    const signed = await verifyModel(root, sigText, { verifier });
    assert.equal(signed.resources.length, 4);
    // .git contents never matter
    write(root, '.git/HEAD', 'changed');
    await verifyModel(root, sigText, { verifier });

    write(root, 'tokenizer/vocab.txt', 'a\nc\n');
    await rejectsCode(verifyModel(root, sigText, { verifier }), 'MODEL_INTEGRITY', /changed: tokenizer\/vocab\.txt/);
    write(root, 'tokenizer/vocab.txt', 'a\nb\n');
    rmSync(join(root, 'empty'));
    await rejectsCode(verifyModel(root, sigText, { verifier }), 'MODEL_INTEGRITY', /missing: empty/);
    write(root, 'empty', '');
    write(root, 'backdoor.py', 'import os');
    await rejectsCode(verifyModel(root, sigText, { verifier }), 'MODEL_INTEGRITY', /extra \(not signed\): backdoor\.py/);
    await verifyModel(root, sigText, { verifier, ignorePaths: ['backdoor.py'] });
    rmSync(join(root, 'backdoor.py'));

    const other = generateKeyPairSync('ec', { namedCurve: curve }).publicKey;
    await rejectsCode(verifyModel(root, sigText, { verifier: ecKeyBundleVerifier(other) }), 'KEYID_MISMATCH');
    // Without the hint, a wrong key still fails on the signature itself.
    const noHint = JSON.parse(sigText);
    noHint.verificationMaterial = { publicKey: {} };
    await rejectsCode(verifyModel(root, JSON.stringify(noHint), { verifier: ecKeyBundleVerifier(other) }), 'MODEL_SIGNATURE_INVALID');
    // A payload edited after signing does not verify.
    const tampered = JSON.parse(sigText);
    const stmt = JSON.parse(Buffer.from(tampered.dsseEnvelope.payload, 'base64').toString());
    stmt.predicate.resources[0].digest = sha256('evil');
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(stmt)).toString('base64');
    await rejectsCode(verifyModel(root, JSON.stringify(tampered), { verifier }), 'MODEL_SIGNATURE_INVALID');
  });
}

test('sharded signatures verify and detect a changed shard', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const root = tmp('custody-msig-');
  write(root, 'w.bin', Buffer.alloc(50, 3));
  const { bundle } = await signModel(root, ecKeyBundleSigner(privateKey), { method: 'shards', shardSize: 16 });
  const sig = serializeModelSignature(bundle);
  await verifyModel(root, sig, { verifier: ecKeyBundleVerifier(publicKey) });
  const b = Buffer.alloc(50, 3);
  b[40] = 9;
  write(root, 'w.bin', b);
  await rejectsCode(verifyModel(root, sig, { verifier: ecKeyBundleVerifier(publicKey) }), 'MODEL_INTEGRITY', /changed: w\.bin/);
});

test('manifest consistency and malformed signatures', async () => {
  const m = await buildModelManifest(model());
  const s = modelSigningStatement(m);
  assert.deepEqual(manifestFromStatement(JSON.parse(JSON.stringify(s))).resources, m.resources);
  const wrongRoot = { ...s, subject: [{ name: 'x', digest: { sha256: sha256('x') } }] };
  assert.throws(() => manifestFromStatement(wrongRoot), (e: unknown) => isCustodyError(e) && e.code === 'MODEL_SIGNATURE_INVALID' && /root digest/.test(e.message));
  assert.throws(() => manifestFromStatement({ ...s, predicateType: 'https://model_signing/Digests/v0.1' }), (e: unknown) => isCustodyError(e) && e.code === 'MODEL_SIGNATURE_MALFORMED');
  assert.throws(() => manifestFromStatement({ ...s, predicate: { ...s.predicate, serialization: { method: 'files', hash_type: 'blake2b', allow_symlinks: false } } }),
    (e: unknown) => isCustodyError(e) && /blake2b/.test(e.message));
  assert.equal(modelRootDigest([]), sha256(''));
  assert.throws(() => parseModelSignature('nope'), (e: unknown) => isCustodyError(e) && e.code === 'MODEL_SIGNATURE_MALFORMED');
  assert.throws(() => parseModelSignature('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}'),
    (e: unknown) => isCustodyError(e) && /DSSE/.test(e.message));
  const accept: ModelBundleVerifier = () => {};
  const env = { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: {}, dsseEnvelope: { payload: Buffer.from('{}').toString('base64'), payloadType: 'text/plain', signatures: [{ sig: '' }] } };
  await rejectsCode(verifyModel(tmp(), JSON.stringify(env), { verifier: accept }), 'PAYLOAD_TYPE');
});

test('interop: signatures made by OpenSSF model_signing v1.0.1 and v1.1.0 (EC P-384 key) verify', async () => {
  const publicKey = createPublicKey(readFileSync(join(fixtures, 'signing-key-pub.pem')));
  for (const v of ['v1.0.1-elliptic-key', 'v1.1.0-elliptic-key']) {
    const dir = join(tmp('custody-msig-interop-'), v);
    cpSync(join(fixtures, v), dir, { recursive: true });
    const sig = readFileSync(join(dir, 'model.sig'), 'utf8');
    const m = await verifyModel(dir, sig, { verifier: ecKeyBundleVerifier(publicKey), ignorePaths: ['ignore-me'] });
    assert.deepEqual(m.resources.map((r) => r.name), ['signme-1', 'signme-2'], v);
    // and a modified file is caught
    writeFileSync(join(dir, 'signme-2'), 'changed\n');
    await rejectsCode(verifyModel(dir, sig, { verifier: ecKeyBundleVerifier(publicKey), ignorePaths: ['ignore-me'] }), 'MODEL_INTEGRITY', /changed: signme-2/);
  }
  // v1.1.0 records its ignore_paths in the signature: no --ignore-paths needed
  const dir = join(tmp('custody-msig-interop-'), 'v1.1.0-elliptic-key');
  cpSync(join(fixtures, 'v1.1.0-elliptic-key'), dir, { recursive: true });
  await verifyModel(dir, readFileSync(join(dir, 'model.sig'), 'utf8'), { verifier: ecKeyBundleVerifier(publicKey) });
  // v1.0.1 did not: then ignore-me is an extra file
  const dir2 = join(tmp('custody-msig-interop-'), 'v1.0.1-elliptic-key');
  cpSync(join(fixtures, 'v1.0.1-elliptic-key'), dir2, { recursive: true });
  await rejectsCode(verifyModel(dir2, readFileSync(join(dir2, 'model.sig'), 'utf8'), { verifier: ecKeyBundleVerifier(publicKey) }), 'MODEL_INTEGRITY', /extra \(not signed\): ignore-me/);
});
