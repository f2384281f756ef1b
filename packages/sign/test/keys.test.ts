import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, readdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError, normalizeLink, parseSignedFile, verifySignedFile, IN_TOTO_PAYLOAD_TYPE } from '@custody/core';
import {
  KEY_TYPES, generateKeyPair, loadPublicKey, loadSigner, readPassphraseFile, serializeDsse, serializeMetablock,
  signDsse, signMetablock, writeKeyPair,
} from '@custody/sign';
import { writeFileAtomic } from '@custody/store/atomic';

const code = (c: string, file?: string) => (e: unknown) =>
  e instanceof CustodyError && e.code === c && (file === undefined || e.file === file);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'custody-sign-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('every key type: generate, write (0600 private), load, sign a metablock and a DSSE envelope, verify', async (t) => {
  const dir = await tempDir(t);
  for (const type of KEY_TYPES) {
    const pair = generateKeyPair(type);
    assert.match(pair.privatePem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pair.publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const name = join(dir, type);
    const { privatePath, publicPath } = await writeKeyPair(name, pair);
    assert.equal((await stat(privatePath)).mode & 0o777, 0o600, type);
    assert.equal((await stat(publicPath)).mode & 0o777, 0o644, type);
    const signer = await loadSigner(privatePath);
    const pub = await loadPublicKey(publicPath);
    assert.equal(signer.keyid, pair.keyid);
    assert.equal(pub.keyid, pair.keyid);
    assert.equal((await loadPublicKey(privatePath)).keyid, pair.keyid, 'public part of the private file');

    const body = normalizeLink({ name: 'step', byproducts: { stdout: 'a\n\u00e9' } });
    const mb = await signMetablock(body, signer);
    assert.match(mb.signatures[0].sig, /^[0-9a-f]+$/);
    assert.equal(verifySignedFile(parseSignedFile(serializeMetablock(mb), 'f'), pub), true, type);

    const payload = Buffer.from(JSON.stringify(body));
    const env = await signDsse(payload, IN_TOTO_PAYLOAD_TYPE, signer);
    assert.equal(env.payloadType, 'application/vnd.in-toto+json');
    assert.equal(Buffer.from(env.payload, 'base64').toString(), payload.toString());
    assert.equal(verifySignedFile(parseSignedFile(serializeDsse(env), 'f'), pub), true, type);
  }
  // no temp files left behind
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('.tmp')), []);
});

test('signMetablock / signDsse add and replace signatures by keyid', async () => {
  const a = await signerOf('ed25519');
  const b = await signerOf('ecdsa-p256');
  const body = normalizeLink({ name: 'x' });
  const one = await signMetablock(body, a);
  const two = await signMetablock(body, b, one);
  assert.deepEqual(two.signatures.map((s) => s.keyid), [a.keyid, b.keyid]);
  const again = await signMetablock(body, a, two);
  assert.deepEqual(again.signatures.map((s) => s.keyid), [b.keyid, a.keyid]);
  await assert.rejects(signMetablock(normalizeLink({ name: 'y' }), a, two), code('USAGE'));
  const file = parseSignedFile(serializeMetablock(again), 'f');
  assert.equal(verifySignedFile(file, a.publicKey), true);
  assert.equal(verifySignedFile(file, b.publicKey), true);

  const payload = Buffer.from('{"_type":"link"}');
  const e1 = await signDsse(payload, IN_TOTO_PAYLOAD_TYPE, a);
  const e2 = await signDsse(payload, IN_TOTO_PAYLOAD_TYPE, b, e1);
  assert.equal(e2.signatures.length, 2);
  await assert.rejects(signDsse(Buffer.from('{}'), IN_TOTO_PAYLOAD_TYPE, a, e2), code('USAGE'));
  await assert.rejects(signDsse(payload, 'text/plain', a, e2), code('USAGE'));
});

async function signerOf(type: (typeof KEY_TYPES)[number]) {
  const pair = generateKeyPair(type);
  const dir = await mkdtemp(join(tmpdir(), 'custody-sign-'));
  try {
    await writeKeyPair(join(dir, 'k'), pair);
    return await loadSigner(join(dir, 'k'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('encrypted PKCS#8 round trip; missing or wrong passphrase is KEY_PASSPHRASE', async (t) => {
  const dir = await tempDir(t);
  const pair = generateKeyPair('ecdsa-p384', { passphrase: 'correct horse' });
  assert.match(pair.privatePem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  const { privatePath } = await writeKeyPair(join(dir, 'enc'), pair);
  const signer = await loadSigner(privatePath, { passphrase: 'correct horse' });
  assert.equal(signer.keyid, pair.keyid);
  await assert.rejects(loadSigner(privatePath), code('KEY_PASSPHRASE', privatePath));
  await assert.rejects(loadSigner(privatePath, { passphrase: 'wrong' }), code('KEY_PASSPHRASE', privatePath));
  await assert.rejects(loadPublicKey(privatePath), code('KEY_PASSPHRASE', privatePath));
  assert.equal((await loadPublicKey(`${privatePath}.pub`)).keyid, pair.keyid);
});

test('loader errors name the file: FILE_NOT_FOUND, KEY_INVALID, KEY_PRIVATE_EXPECTED, KEY_UNSUPPORTED', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'nope');
  await assert.rejects(loadSigner(missing), code('FILE_NOT_FOUND', missing));
  await assert.rejects(loadPublicKey(missing), code('FILE_NOT_FOUND', missing));
  await assert.rejects(loadSigner(dir), code('FILE_UNREADABLE', dir));
  const junk = join(dir, 'junk');
  await writeFile(junk, 'just some text\n');
  await assert.rejects(loadSigner(junk), code('KEY_INVALID', junk));
  const huge = join(dir, 'model.bin');
  await writeFile(huge, Buffer.alloc(2 * 1024 * 1024));
  await assert.rejects(loadPublicKey(huge), code('KEY_INVALID', huge));
  const brokenPem = join(dir, 'broken.pem');
  await writeFile(brokenPem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  await assert.rejects(loadSigner(brokenPem), code('KEY_INVALID', brokenPem));
  const pair = generateKeyPair('ed25519');
  const { publicPath } = await writeKeyPair(join(dir, 'k'), pair);
  await assert.rejects(loadSigner(publicPath), code('KEY_PRIVATE_EXPECTED', publicPath));
  const pubJson = join(dir, 'pub.json');
  await writeFile(pubJson, JSON.stringify((await loadPublicKey(publicPath)).sslib));
  await assert.rejects(loadSigner(pubJson), code('KEY_PRIVATE_EXPECTED', pubJson));
  const { generateKeyPairSync } = await import('node:crypto');
  const p521 = join(dir, 'p521.pem');
  await writeFile(p521, generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await assert.rejects(loadSigner(p521), code('KEY_UNSUPPORTED', p521));
  // an sslib ed25519 private key whose private half does not belong to its public half
  const other = generateKeyPairSync('ed25519');
  const mismatched = join(dir, 'mismatch');
  await writeFile(mismatched, JSON.stringify({
    keytype: 'ed25519', scheme: 'ed25519', keyval: {
      public: Buffer.from(other.publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex'),
      private: '11'.repeat(32),
    },
  }));
  await assert.rejects(loadSigner(mismatched), code('KEY_INVALID', mismatched));
});

test('writeKeyPair refuses to replace keys unless asked; writeFileAtomic failures are FILE_UNWRITABLE', async (t) => {
  const dir = await tempDir(t);
  const name = join(dir, 'k');
  await writeKeyPair(name, generateKeyPair('ed25519'));
  const before = await readFile(name, 'utf8');
  await assert.rejects(writeKeyPair(name, generateKeyPair('ed25519')), code('FILE_UNWRITABLE', name));
  assert.equal(await readFile(name, 'utf8'), before);
  await writeKeyPair(name, generateKeyPair('ed25519'), { overwrite: true });
  assert.notEqual(await readFile(name, 'utf8'), before);
  const nested = join(dir, 'no', 'such', 'dir', 'f');
  await assert.rejects(writeFileAtomic(nested, 'x'), code('FILE_UNWRITABLE', nested));
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    await (await import('node:fs/promises')).mkdir(ro);
    await chmod(ro, 0o500);
    await assert.rejects(writeFileAtomic(join(ro, 'f'), 'x'), code('FILE_UNWRITABLE'));
  }
});

test('passphrase files: one trailing newline stripped, empty refused', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'pw');
  await writeFile(f, 'secret phrase\n');
  assert.equal(await readPassphraseFile(f), 'secret phrase');
  await writeFile(f, 'secret\n\n');
  assert.equal(await readPassphraseFile(f), 'secret\n');
  await writeFile(f, '\n');
  await assert.rejects(readPassphraseFile(f), code('KEY_PASSPHRASE', f));
});
