// `custody model sign|verify` through the built CLI (pnpm build first): key-based round trips
// with keys made by `custody keygen`, every tamper case with its exit code and error code, and
// the OpenSSF model_signing v1.0.1/v1.1.0 key-signed fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { custody, type RunResult } from '../../../test/helpers/cli.ts';
import { tinySafetensors, tmp, write } from './helpers.ts';

const fixtures = fileURLToPath(new URL('./fixtures/model-signing/', import.meta.url));
const OPENSSF_PUB = join(fixtures, 'signing-key-pub.pem');

function sha256(b: Uint8Array | string): Buffer {
  return createHash('sha256').update(b).digest();
}

/** The model_signing root digest computed from the files themselves: sha256 over the raw file digests in path order. */
function expectedRoot(dir: string, files: string[]): string {
  return createHash('sha256').update(Buffer.concat([...files].sort().map((f) => sha256(readFileSync(join(dir, f)))))).digest('hex');
}

function modelDir(): string {
  const root = tmp('custody-msig-cli-');
  write(root, 'README.md', '---\nlicense: mit\n---\n# tiny\n');
  write(root, 'config.json', '{"model_type":"logistic"}\n');
  write(root, 'model.safetensors', tinySafetensors());
  write(root, 'tokenizer/vocab.txt', 'a\nb\n');
  return root;
}
const MODEL_FILES = ['README.md', 'config.json', 'model.safetensors', 'tokenizer/vocab.txt'];

function failure(r: RunResult): { code: string; message: string } {
  const report = JSON.parse(r.stdout) as { verified: boolean; failure: { code: string; message: string } };
  assert.equal(report.verified, false, r.stdout);
  return report.failure;
}

async function keygen(dir: string, name: string, type: string, extra: string[] = []): Promise<string> {
  const r = await custody(['keygen', join(dir, name), '--type', type, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return join(dir, name);
}

for (const type of ['ecdsa-p256', 'ecdsa-p384'] as const) {
  test(`CLI round trip with a ${type} key; changed, missing, extra file, wrong key, bad and truncated signature`, async () => {
    const keys = tmp('custody-msig-keys-');
    const key = await keygen(keys, 'signer', type);
    const other = await keygen(keys, 'other', type);
    const dir = modelDir();

    const signed = await custody(['model', 'sign', dir, '--key', key]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /signed: +4 file\(s\)/);
    const root = expectedRoot(dir, MODEL_FILES);
    assert.match(signed.stdout, new RegExp(`root digest: sha256:${root}`));
    const sigPath = join(dir, 'model.sig');
    const bundle = JSON.parse(readFileSync(sigPath, 'utf8'));
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    assert.equal(statement.predicateType, 'https://model_signing/signature/v1.0');
    assert.equal(statement.subject[0].digest.sha256, root);
    // model.sig sits in the folder and is not one of the signed resources
    assert.deepEqual(statement.predicate.resources.map((r: { name: string }) => r.name), MODEL_FILES);
    // the key hint model_signing uses: sha256 of the SPKI PEM
    const hint = createHash('sha256').update(readFileSync(`${key}.pub`, 'utf8').replace(/\r\n/g, '\n')).digest('hex');
    assert.equal(bundle.verificationMaterial.publicKey.hint, hint);

    const ok = await custody(['model', 'verify', dir, '--signature', sigPath, '--key', `${key}.pub`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /verified: +4 file\(s\)/);
    assert.match(ok.stdout, new RegExp(`root digest: sha256:${root}`));
    assert.match(ok.stdout, new RegExp(`signer: +key ${hint}`));
    const okJson = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--json']);
    assert.equal(okJson.code, 0, okJson.stderr);
    const report = JSON.parse(okJson.stdout);
    assert.equal(report.verified, true);
    assert.deepEqual(report.files, MODEL_FILES);
    assert.equal(report.rootDigest, `sha256:${root}`);
    assert.deepEqual(report.signer, { kind: 'key', keyHint: hint });

    // changed file
    write(dir, 'tokenizer/vocab.txt', 'a\nc\n');
    let r = await custody(['model', 'verify', dir, '--key', `${key}.pub`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^custody: .*changed: tokenizer\/vocab\.txt\n$/);
    r = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--json']);
    assert.equal(r.code, 1);
    assert.equal(failure(r).code, 'MODEL_INTEGRITY');
    write(dir, 'tokenizer/vocab.txt', 'a\nb\n');

    // missing file
    rmSync(join(dir, 'config.json'));
    r = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(failure(r).code, 'MODEL_INTEGRITY');
    assert.match(r.stderr, /missing: config\.json/);
    write(dir, 'config.json', '{"model_type":"logistic"}\n');

    // extra file (and --ignore-paths lets a known extra file through)
    write(dir, 'extra/backdoor.py', 'import os\n');
    r = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(failure(r).code, 'MODEL_INTEGRITY');
    assert.match(r.stderr, /extra \(not signed\): extra\/backdoor\.py/);
    r = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--ignore-paths', 'extra']);
    assert.equal(r.code, 0, r.stderr);
    rmSync(join(dir, 'extra'), { recursive: true });

    // wrong key: the key hint already disagrees
    r = await custody(['model', 'verify', dir, '--key', `${other}.pub`, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(failure(r).code, 'KEYID_MISMATCH');

    // a signature that does not verify (one byte of the DER signature changed)
    const badSig = structuredClone(bundle);
    const sigBytes = Buffer.from(badSig.dsseEnvelope.signatures[0].sig, 'base64');
    sigBytes[sigBytes.length - 2] ^= 0x01;
    badSig.dsseEnvelope.signatures[0].sig = sigBytes.toString('base64');
    const badPath = join(keys, 'bad.sig');
    writeFileSync(badPath, JSON.stringify(badSig));
    r = await custody(['model', 'verify', dir, '--signature', badPath, '--key', `${key}.pub`, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(failure(r).code, 'MODEL_SIGNATURE_INVALID');

    // truncated model.sig: malformed input, exit 2
    writeFileSync(sigPath, readFileSync(sigPath).subarray(0, 200));
    r = await custody(['model', 'verify', dir, '--key', `${key}.pub`, '--json']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(failure(r).code, 'MODEL_SIGNATURE_MALFORMED');
    assert.match(r.stderr, /^custody: .*model\.sig: not JSON/);
  });
}

test('CLI: encrypted key, sharded hashing, signature outside the folder, ignore paths recorded', async () => {
  const keys = tmp('custody-msig-keys-');
  writeFileSync(join(keys, 'pass'), 'correct horse\n');
  const key = await keygen(keys, 'enc', 'ecdsa-p384', ['--passphrase-file', join(keys, 'pass')]);
  const dir = modelDir();
  write(dir, 'notes.txt', 'not part of the model\n');
  const sig = join(keys, 'tiny.sig');
  const noPass = await custody(['model', 'sign', dir, '--key', key, '--signature', sig]);
  assert.equal(noPass.code, 2);
  assert.match(noPass.stderr, /passphrase/);
  const r = await custody(['model', 'sign', dir, '--key', key, '--passphrase-file', join(keys, 'pass'), '--signature', sig, '--shard-size', '16', '--ignore-paths', 'notes.txt', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.files, 4);
  assert.equal(out.serialization.method, 'shards');
  assert.equal(out.serialization.shard_size, 16);
  assert.ok(out.serialization.ignore_paths.includes('notes.txt'));
  const statement = JSON.parse(Buffer.from(JSON.parse(readFileSync(sig, 'utf8')).dsseEnvelope.payload, 'base64').toString());
  // shards of 16 bytes: README.md (between 17 and 32 bytes) is two resources, 0:16 and 16:END
  const readmeSize = readFileSync(join(dir, 'README.md')).length;
  assert.ok(readmeSize > 16 && readmeSize <= 32);
  assert.deepEqual(statement.predicate.resources.filter((x: { name: string }) => x.name.startsWith('README.md')).map((x: { name: string }) => x.name), ['README.md:0:16', `README.md:16:${readmeSize}`]);
  assert.equal(statement.predicate.resources[0].algorithm, 'sha256-sharded-16');
  // notes.txt is left out by the signature itself: no --ignore-paths needed when verifying
  const v = await custody(['model', 'verify', dir, '--signature', sig, '--key', `${key}.pub`]);
  assert.equal(v.code, 0, v.stderr);
  const b = readFileSync(join(dir, 'model.safetensors'));
  b[b.length - 1] ^= 0xff;
  writeFileSync(join(dir, 'model.safetensors'), b);
  const t = await custody(['model', 'verify', dir, '--signature', sig, '--key', `${key}.pub`]);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /changed: model\.safetensors/);
});

test('CLI: ed25519 and RSA keys are refused (model_signing signs with EC keys only); usage errors exit 2', async () => {
  const keys = tmp('custody-msig-keys-');
  const ed = await keygen(keys, 'ed', 'ed25519');
  const dir = modelDir();
  let r = await custody(['model', 'sign', dir, '--key', ed]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /elliptic-curve key .*an Ed25519 key/);
  const rsa = await keygen(keys, 'rsa', 'rsa');
  r = await custody(['model', 'sign', dir, '--key', rsa]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /an RSA key/);
  r = await custody(['model', 'verify', dir, '--key', `${ed}.pub`, '--json']);
  assert.equal(r.code, 2);
  assert.equal(failure(r).code, 'KEY_UNSUPPORTED');
  r = await custody(['model', 'sign', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--key PRIVATE_KEY or --keyless/);
  r = await custody(['model', 'sign', dir, '--key', ed, '--keyless']);
  assert.equal(r.code, 2);
  r = await custody(['model', 'sign', dir, '--key', ed, '--fulcio-url', 'http://127.0.0.1:1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--fulcio-url needs --keyless/);
  r = await custody(['model', 'verify', dir]);
  assert.equal(r.code, 2);
  r = await custody(['model', 'verify', dir, '--trusted-root', join(keys, 'tr.json'), '--identity', 'x@example.com']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--issuer/);
  r = await custody(['model', 'sign', join(dir, 'absent'), '--key', ed]);
  assert.equal(r.code, 2);
  r = await custody(['model', 'verify', dir, '--key', `${ed}.pub`, '--signature', join(dir, 'absent.sig'), '--json']);
  assert.equal(r.code, 2);
});

test('CLI: OpenSSF model_signing v1.0.1 and v1.1.0 key signatures (EC P-384) verify with their public key', async () => {
  for (const v of ['v1.0.1-elliptic-key', 'v1.1.0-elliptic-key']) {
    const dir = join(tmp('custody-msig-interop-'), v);
    cpSync(join(fixtures, v), dir, { recursive: true });
    const ok = await custody(['model', 'verify', dir, '--signature', join(dir, 'model.sig'), '--key', OPENSSF_PUB, '--ignore-paths', 'ignore-me', '--json']);
    assert.equal(ok.code, 0, `${v}: ${ok.stderr}`);
    const report = JSON.parse(ok.stdout);
    assert.deepEqual(report.files, ['signme-1', 'signme-2']);
    assert.equal(report.rootDigest, `sha256:${expectedRoot(dir, ['signme-1', 'signme-2'])}`);
    writeFileSync(join(dir, 'signme-1'), 'tampered\n');
    const bad = await custody(['model', 'verify', dir, '--key', OPENSSF_PUB, '--ignore-paths', 'ignore-me']);
    assert.equal(bad.code, 1, v);
    assert.match(bad.stderr, /changed: signme-1/);
  }
  // v1.1.0 records ignore-me in the signature itself
  const dir = join(tmp('custody-msig-interop-'), 'v1.1.0-elliptic-key');
  cpSync(join(fixtures, 'v1.1.0-elliptic-key'), dir, { recursive: true });
  const r = await custody(['model', 'verify', dir, '--key', OPENSSF_PUB]);
  assert.equal(r.code, 0, r.stderr);
  // a custody P-384 key is not the one that signed them
  const keys = tmp('custody-msig-keys-');
  const mine = await keygen(keys, 'mine', 'ecdsa-p384');
  const wrong = await custody(['model', 'verify', dir, '--key', `${mine}.pub`]);
  assert.equal(wrong.code, 1);
});

test('CLI: a P-521 key (accepted by model_signing, not made by custody keygen) signs and verifies; re-signing ignores the old model.sig', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const keys = tmp('custody-msig-keys-');
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  writeFileSync(join(keys, 'p521.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(keys, 'p521.pub'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const dir = modelDir();
  for (let i = 0; i < 2; i++) {
    const s = await custody(['model', 'sign', dir, '--key', join(keys, 'p521.pem')]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /signed: +4 file\(s\)/);
  }
  const v = await custody(['model', 'verify', dir, '--key', join(keys, 'p521.pub'), '--json']);
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual(JSON.parse(v.stdout).files, MODEL_FILES);
  assert.equal(JSON.parse(v.stdout).rootDigest, `sha256:${expectedRoot(dir, MODEL_FILES)}`);
});
