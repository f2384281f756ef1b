// Keyless model signing, offline: @sigstore/mock's Fulcio, CT log, Rekor and TSA on 127.0.0.1
// (test/helpers/sigstore-mock.ts), through the API and through `custody model sign|verify`;
// plus model.sig files the OpenSSF model_signing tool made with the public-good Sigstore.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCustodyError } from '@custody/core';
import {
  keylessModelBundleSigner, keylessModelBundleVerifier, serializeModelSignature, signModel, sigstoreModelBundleSigner,
  splitDssePae, verifyModel, dssePae, type SigstoreBundleJson,
} from '../src/index.ts';
import { custody } from '../../../test/helpers/cli.ts';
import { startSigstoreMock, type SigstoreMock } from '../../../test/helpers/sigstore-mock.ts';
import { tinySafetensors, tmp, write } from './helpers.ts';

const ISSUER = 'https://token.ci.test';
const TRAINER = { issuer: ISSUER, subject: 'https://ci.test/org/models/.github/workflows/train.yml@refs/heads/main' };
const OTHER = { issuer: ISSUER, subject: 'https://ci.test/org/other/.github/workflows/train.yml@refs/heads/main' };
const sigstoreFixtures = fileURLToPath(new URL('./fixtures/model-signing-sigstore/', import.meta.url));

async function rejectsCode(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(isCustodyError(e), (e as Error).stack);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.fail(`expected ${code}`);
}

function modelDir(): string {
  const root = tmp('custody-msig-keyless-');
  write(root, 'README.md', '---\nlicense: mit\n---\n');
  write(root, 'model.safetensors', tinySafetensors());
  write(root, 'config.json', '{}\n');
  return root;
}

it('splitDssePae inverts DSSE pre-authentication encoding and rejects anything else', () => {
  const payload = Buffer.from('{"a": "b c 1 2"}');
  assert.deepEqual(splitDssePae(dssePae('application/vnd.in-toto+json', payload)), { payloadType: 'application/vnd.in-toto+json', payload });
  assert.deepEqual(splitDssePae(dssePae('', Buffer.alloc(0))), { payloadType: '', payload: Buffer.alloc(0) });
  for (const bad of ['DSSEv1 3 abc 5 xy', 'DSSEv2 1 a 1 b', 'DSSEv1 01 a 1 b', 'DSSEv1 1 ab 1 b', 'DSSEv1 x a 1 b']) {
    assert.throws(() => splitDssePae(Buffer.from(bad)), (e: unknown) => isCustodyError(e) && e.code === 'MODEL_SIGNATURE_MALFORMED', bad);
  }
});

it('sigstoreModelBundleSigner refuses a bundle for some other envelope', async () => {
  const liar = { signDsse: async () => ({ mediaType: 'x', verificationMaterial: {}, dsseEnvelope: { payload: 'e30=', payloadType: 'application/vnd.in-toto+json', signatures: [{ sig: 'AA==', keyid: '' }] } }) };
  await rejectsCode(signModel(modelDir(), sigstoreModelBundleSigner(liar as never)), 'MODEL_SIGNATURE_INVALID', /different DSSE envelope/);
});

describe('keyless model signing against a local Sigstore', () => {
  let mock: SigstoreMock;
  let trustedRoot: Record<string, unknown>;
  let dir: string;
  let sigText: string;

  before(async () => {
    mock = await startSigstoreMock();
    trustedRoot = mock.trustedRoot();
    dir = modelDir();
    const keyless = await keylessModelBundleSigner({
      fulcioURL: mock.fulcioURL, rekorURL: mock.rekorURL, tsaURL: mock.tsaURL, rekorEntryType: 'intoto',
      identityToken: mock.token(TRAINER), timeoutMs: 10_000,
    });
    const { bundle } = await signModel(dir, keyless.signer);
    assert.deepEqual(keyless.identity(), TRAINER);
    sigText = serializeModelSignature(bundle);
    writeFileSync(join(dir, 'model.sig'), sigText);
  });
  after(async () => {
    await mock.close();
  });

  it('model.sig carries the certificate, a Rekor entry and a TSA timestamp, and verifies for the signer identity', async () => {
    const bundle = JSON.parse(sigText) as SigstoreBundleJson;
    const vm = bundle.verificationMaterial as { certificate?: { rawBytes: string }; tlogEntries: unknown[]; timestampVerificationData?: { rfc3161Timestamps: unknown[] } };
    assert.ok(vm.certificate?.rawBytes, 'certificate');
    assert.equal(vm.tlogEntries.length, 1);
    assert.equal(vm.timestampVerificationData?.rfc3161Timestamps.length, 1);
    assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    let seen: { subject: string; issuer: string } | undefined;
    const verifier = keylessModelBundleVerifier({ trustedRoot, identity: TRAINER, onVerified: (r) => { seen = r.identity; } });
    const signed = await verifyModel(dir, sigText, { verifier });
    assert.deepEqual(signed.resources.map((r) => r.name), ['README.md', 'config.json', 'model.safetensors']);
    assert.deepEqual(seen, TRAINER);
    // a subject pattern also matches
    await verifyModel(dir, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot, identity: { issuer: ISSUER, subjectPattern: 'https://ci\\.test/org/models/.*' } }) });
  });

  it('wrong identity, wrong issuer, untrusted CA and a tampered payload fail with their codes', async () => {
    await rejectsCode(verifyModel(dir, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot, identity: OTHER }) }), 'IDENTITY_MISMATCH', /is not https:\/\/ci\.test\/org\/other/);
    await rejectsCode(verifyModel(dir, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot, identity: { ...TRAINER, issuer: 'https://accounts.example.com' } }) }), 'IDENTITY_MISMATCH', /issuer/);
    // a trust root whose CA (and CT log) is some other one (a second mock's); tlog and TSA are ours
    const stranger = await startSigstoreMock();
    try {
      const foreign = stranger.trustedRoot();
      const otherCA = { ...trustedRoot, certificateAuthorities: foreign.certificateAuthorities, ctlogs: foreign.ctlogs };
      await rejectsCode(verifyModel(dir, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot: otherCA, identity: TRAINER }) }), 'CERTIFICATE_INVALID');
      // and a wholly foreign trust root cannot even place the signing time
      await assert.rejects(verifyModel(dir, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot: foreign, identity: TRAINER }) }),
        (e: unknown) => isCustodyError(e) && e.exitCode === 1);
    } finally {
      await stranger.close();
    }
    const tampered = JSON.parse(sigText) as SigstoreBundleJson;
    const statement = JSON.parse(Buffer.from(tampered.dsseEnvelope.payload, 'base64').toString());
    statement.predicate.resources[0].digest = createHash('sha256').update('evil').digest('hex');
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    try {
      await verifyModel(dir, JSON.stringify(tampered), { verifier: keylessModelBundleVerifier({ trustedRoot, identity: TRAINER }) });
      assert.fail('tampered payload verified');
    } catch (e) {
      assert.ok(isCustodyError(e), String(e));
      assert.equal(e.exitCode, 1, `${e.code}: ${e.message}`);
      assert.ok(['SIGNATURE_INVALID', 'TLOG_INVALID'].includes(e.code), `${e.code}: ${e.message}`);
    }
  });

  it('a changed file fails by name after the signature verified', async () => {
    const copy = tmp('custody-msig-keyless-');
    cpSync(dir, copy, { recursive: true });
    write(copy, 'config.json', '{"evil":true}\n');
    await rejectsCode(verifyModel(copy, sigText, { verifier: keylessModelBundleVerifier({ trustedRoot, identity: TRAINER }) }), 'MODEL_INTEGRITY', /changed: config\.json/);
  });

  it('CLI: custody model sign --keyless, then verify with trusted root, identity and issuer; wrong identity exits 1', async () => {
    const work = tmp('custody-msig-keyless-cli-');
    const model = modelDir();
    writeFileSync(join(work, 'token'), `${mock.token(TRAINER)}\n`);
    writeFileSync(join(work, 'trusted_root.json'), JSON.stringify(trustedRoot));
    const signed = await custody(['model', 'sign', model, '--keyless', '--identity-token-file', join(work, 'token'),
      '--fulcio-url', mock.fulcioURL, '--rekor-url', mock.rekorURL, '--tsa-url', mock.tsaURL, '--rekor-entry-type', 'intoto', '--json']);
    assert.equal(signed.code, 0, signed.stderr);
    const out = JSON.parse(signed.stdout);
    assert.deepEqual(out.signer, { kind: 'keyless', identity: TRAINER.subject, issuer: ISSUER });
    assert.equal(out.files, 3);
    const bundle = JSON.parse(readFileSync(join(model, 'model.sig'), 'utf8'));
    assert.ok(bundle.verificationMaterial.certificate);

    const base = ['model', 'verify', model, '--signature', join(model, 'model.sig'), '--trusted-root', join(work, 'trusted_root.json')];
    const ok = await custody([...base, '--identity', TRAINER.subject, '--issuer', ISSUER]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /verified: +3 file\(s\)/);
    assert.ok(ok.stdout.includes(`signer:      ${TRAINER.subject} (issuer ${ISSUER})`), ok.stdout);
    const okJson = await custody([...base, '--identity-regexp', 'https://ci\\.test/org/models/.+', '--issuer', ISSUER, '--json']);
    assert.equal(okJson.code, 0, okJson.stderr);
    const report = JSON.parse(okJson.stdout);
    assert.equal(report.signer.identity, TRAINER.subject);
    assert.equal(report.signer.signingTimes.length, 2); // Rekor integrated time and TSA time

    const wrong = await custody([...base, '--identity', OTHER.subject, '--issuer', ISSUER, '--json']);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.equal(JSON.parse(wrong.stdout).failure.code, 'IDENTITY_MISMATCH');
    const wrongIssuer = await custody([...base, '--identity', TRAINER.subject, '--issuer', 'https://accounts.example.com']);
    assert.equal(wrongIssuer.code, 1);
    assert.match(wrongIssuer.stderr, /issuer https:\/\/token\.ci\.test is not https:\/\/accounts\.example\.com/);
    // a keyless signature needs keyless verification: --key is refused clearly
    writeFileSync(join(work, 'k.pem'), (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const withKey = await custody(['model', 'verify', model, '--key', join(work, 'k.pem'), '--json']);
    assert.notEqual(withKey.code, 0);
    assert.match(withKey.stderr, /no public key material/);

    // tamper after signing
    write(model, 'model.safetensors', Buffer.concat([tinySafetensors(), Buffer.from([0])]));
    const changed = await custody([...base, '--identity', TRAINER.subject, '--issuer', ISSUER]);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /changed: model\.safetensors/);
  });

  it('CLI: a token that is not a JWT and an unreachable Fulcio fail clearly', async () => {
    const work = tmp('custody-msig-keyless-cli-');
    writeFileSync(join(work, 'token'), 'not-a-jwt\n');
    const model = modelDir();
    const r = await custody(['model', 'sign', model, '--keyless', '--identity-token-file', join(work, 'token'), '--fulcio-url', mock.fulcioURL, '--rekor-url', mock.rekorURL]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a JWT/);
    writeFileSync(join(work, 'token'), mock.token(TRAINER));
    const down = await custody(['model', 'sign', model, '--keyless', '--identity-token-file', join(work, 'token'), '--fulcio-url', 'http://127.0.0.1:9/fulcio', '--rekor-url', mock.rekorURL, '--signing-timeout', '5']);
    assert.equal(down.code, 2, down.stderr);
    assert.match(down.stderr, /Fulcio at http:\/\/127\.0\.0\.1:9\/fulcio/);
  });
});

describe('OpenSSF model_signing Sigstore signatures (public-good instance, verified offline)', () => {
  const root = join(sigstoreFixtures, 'trusted_root.json');
  const IBM = { identity: 'stefanb@us.ibm.com', issuer: 'https://sigstore.verify.ibm.com/oauth2' };
  for (const v of ['v1.0.1-sigstore', 'v1.1.0-sigstore']) {
    it(`${v} verifies through the CLI; a wrong identity or a changed file fails`, async () => {
      const dir = join(tmp('custody-msig-interop-'), v);
      cpSync(join(sigstoreFixtures, v), dir, { recursive: true });
      const args = ['model', 'verify', dir, '--signature', join(dir, 'model.sig'), '--trusted-root', root, '--ignore-paths', 'ignore-me'];
      const ok = await custody([...args, '--identity', IBM.identity, '--issuer', IBM.issuer, '--json']);
      assert.equal(ok.code, 0, ok.stderr);
      const report = JSON.parse(ok.stdout);
      assert.deepEqual(report.files, ['signme-1', 'signme-2']);
      assert.equal(report.signer.identity, IBM.identity);
      const wrong = await custody([...args, '--identity', 'someone@example.com', '--issuer', IBM.issuer, '--json']);
      assert.equal(wrong.code, 1);
      assert.equal(JSON.parse(wrong.stdout).failure.code, 'IDENTITY_MISMATCH');
      writeFileSync(join(dir, 'signme-2'), 'changed\n');
      const changed = await custody([...args, '--identity', IBM.identity, '--issuer', IBM.issuer]);
      assert.equal(changed.code, 1);
      assert.match(changed.stderr, /changed: signme-2/);
    });
  }
});
