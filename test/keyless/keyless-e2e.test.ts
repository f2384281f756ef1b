// Issue 6: keyless signing and verification end to end, offline — @sigstore/mock's Fulcio, CT
// log, Rekor and TSA on 127.0.0.1, unsigned test tokens, and every failure with its own code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateAttestationSteps, isCustodyError } from '../../packages/core/src/index.ts';
import type { Statement } from '../../packages/core/src/index.ts';
import {
  createKeyBundleSigner, createKeylessSigner, generateKeyPair, keylessFunctionaryId, keylessOptionsFromArgv, loadSigner,
  trustMaterialFromJSON, verifyFunctionaryBundle, verifyKeylessBundle, verifySigstoreBundle, writeKeyPair,
} from '../../packages/sign/src/index.ts';
import type { KeylessSignerOptions } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';
import { startSigstoreMock, unsignedJwt } from '../helpers/sigstore-mock.ts';
import type { SigstoreMock } from '../helpers/sigstore-mock.ts';

const ISSUER = 'https://token.ci.test';
const BUILDER = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/build.yml@refs/heads/main' };
const TRAINER = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/train.yml@refs/heads/main' };
const ARTIFACT = Buffer.from('model weights v1\n');

function statement(): Statement {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'model.safetensors', digest: { sha256: createHash('sha256').update(ARTIFACT).digest('hex') } }],
    predicateType: 'https://in-toto.io/attestation/link/v0.3',
    predicate: { name: 'train', command: ['python', 'train.py'], materials: [], byproducts: {}, environment: {} },
  } as Statement;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, pattern?: RegExp): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(isCustodyError(e), `expected CustodyError ${code}, got ${(e as Error).stack}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('keyless signing and verification against a local Sigstore', () => {
  let mock: SigstoreMock;
  let root: Record<string, unknown>;
  let dir: string;
  const signerFor = (token: string, extra: KeylessSignerOptions = {}) => createKeylessSigner({
    fulcioURL: mock.fulcioURL, rekorURL: mock.rekorURL, tsaURL: mock.tsaURL, rekorEntryType: 'intoto',
    identityToken: token, timeoutMs: 5_000, ...extra,
  });
  let dsseBundle: Record<string, unknown>;
  let messageBundle: Record<string, unknown>;

  before(async () => {
    mock = await startSigstoreMock();
    root = mock.trustedRoot();
    dir = await mkdtemp(join(tmpdir(), 'custody-keyless-'));
    const signer = signerFor(mock.token(BUILDER));
    dsseBundle = await signer.signStatement(statement()) as unknown as Record<string, unknown>;
    messageBundle = await signer.signMessage(ARTIFACT) as unknown as Record<string, unknown>;
    assert.deepEqual(signer.identity(), BUILDER);
  });
  after(async () => {
    await mock.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('one certificate serves several signatures; each bundle has a tlog entry and a TSA timestamp', () => {
    assert.equal(mock.requests.filter((r) => r.includes('signingCert')).length, 1);
    const vm = dsseBundle.verificationMaterial as { tlogEntries: unknown[]; timestampVerificationData: { rfc3161Timestamps: unknown[] } };
    assert.equal(vm.tlogEntries.length, 1);
    assert.equal(vm.timestampVerificationData.rfc3161Timestamps.length, 1);
  });

  it('verifies a DSSE attestation for the right identity and returns it', () => {
    const v = verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: BUILDER });
    assert.deepEqual(v.identity, BUILDER);
    assert.equal(v.statement?.predicateType, 'https://in-toto.io/attestation/link/v0.3');
    assert.ok(v.signingTimes.length >= 2, 'tlog time and TSA time');
  });

  it('accepts a subjectPattern anchored at both ends, and one of several functionaries', () => {
    const v = verifyKeylessBundle(dsseBundle, { trustedRoot: trustMaterialFromJSON(root), identity: { issuer: ISSUER, subjectPattern: 'https://ci\\.test/org/repo/\\.github/workflows/[a-z]+\\.yml@refs/heads/main' } });
    assert.deepEqual(v.identity, BUILDER);
    const w = verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: [TRAINER, BUILDER] });
    assert.deepEqual(w.matched, BUILDER);
  });

  it('a pattern matching only part of the subject does not match', async () => {
    await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: { issuer: ISSUER, subjectPattern: 'https://ci\\.test/org' } }), 'IDENTITY_MISMATCH');
  });

  it('wrong identity → IDENTITY_MISMATCH naming the subject', async () => {
    await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: TRAINER }), 'IDENTITY_MISMATCH', /build\.yml.*is not trusted: subject/);
  });

  it('wrong issuer → IDENTITY_MISMATCH naming the issuer', async () => {
    await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: { ...BUILDER, issuer: 'https://accounts.example.com' } }), 'IDENTITY_MISMATCH', /issuer https:\/\/token\.ci\.test is not https:\/\/accounts\.example\.com/);
  });

  it('distinct signers yield distinct identities (what thresholds count)', async () => {
    const other = await signerFor(mock.token(TRAINER)).signStatement(statement());
    const a = verifyKeylessBundle(dsseBundle, { trustedRoot: root, identity: [BUILDER, TRAINER] }).identity;
    const b = verifyKeylessBundle(other, { trustedRoot: root, identity: [BUILDER, TRAINER] }).identity;
    assert.notDeepEqual(a, b);
  });

  it('a step whose functionaries are identities: thresholds count distinct identities', async () => {
    const pair = generateKeyPair('ed25519');
    await writeKeyPair(join(dir, 'functionary'), pair);
    const keySigner = createKeyBundleSigner(await loadSigner(join(dir, 'functionary')));
    const bundles = [
      dsseBundle,
      await signerFor(mock.token(BUILDER)).signStatement(statement()), // same identity again
      await signerFor(mock.token(TRAINER)).signStatement(statement()),
      await keySigner.signStatement(statement()),
    ];
    const trust = { trustedRoot: trustMaterialFromJSON(root), identities: [BUILDER, TRAINER], keys: [(await loadSigner(join(dir, 'functionary'))).publicKey] };
    const claims = bundles.map((b, i) => {
      const v = verifyFunctionaryBundle(b, trust);
      return { step: 'train', keyid: v.functionary, statement: v.statement, source: `train.${i}.sigstore.json` };
    });
    assert.deepEqual(claims.map((c) => c.keyid), [keylessFunctionaryId(BUILDER), keylessFunctionaryId(BUILDER), keylessFunctionaryId(TRAINER), pair.keyid]);
    const layout = (functionaries: string[], threshold: number) => ({
      steps: [{ name: 'train', expectedPredicates: [{ predicateType: 'https://in-toto.io/attestation/link/v0.3', functionaries, threshold, expectedAttributes: [{ rule: 'predicate.name == "train"' }] }] }],
    });
    const ids = [keylessFunctionaryId(BUILDER), keylessFunctionaryId(TRAINER)];
    assert.equal(evaluateAttestationSteps(layout(ids, 2), { train: claims }).verdict, 'pass');
    assert.equal(evaluateAttestationSteps(layout([...ids, pair.keyid], 3), { train: claims }).verdict, 'pass', 'keys and identities together');
    const two = evaluateAttestationSteps(layout([keylessFunctionaryId(BUILDER)], 2), { train: claims });
    assert.equal(two.failure?.code, 'THRESHOLD', 'two bundles by one identity are one functionary');
    // a keyless bundle whose identity the step does not list
    await expectCode(() => verifyFunctionaryBundle(bundles[2], { ...trust, identities: [BUILDER] }), 'IDENTITY_MISMATCH');
  });

  it('maps the shared CLI flags to signer options', () => {
    assert.deepEqual(keylessOptionsFromArgv({ 'identity-token-file': 't', 'fulcio-url': 'f', 'rekor-url': 'r', 'tsa-url': 's', tlog: false, 'signing-timeout': 2.5 }), {
      identityTokenFile: 't', fulcioURL: 'f', rekorURL: 'r', tsaURL: 's', tlog: false, timeoutMs: 2500,
    });
  });

  it('TSA-only signing (no Rekor entry) verifies when the policy asks for no tlog entry', async () => {
    const before = mock.requests.filter((r) => r.includes('/rekor/')).length;
    const b = await signerFor(mock.token(BUILDER), { tlog: false }).signStatement(statement());
    assert.equal(mock.requests.filter((r) => r.includes('/rekor/')).length, before, 'Rekor not called');
    assert.deepEqual(verifyKeylessBundle(b, { trustedRoot: root, identity: BUILDER, tlogThreshold: 0 }).identity, BUILDER);
    await expectCode(() => verifyKeylessBundle(b, { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID');
  });

  it('missing tlog entry → TLOG_INVALID', async () => {
    const b = clone(dsseBundle) as { verificationMaterial: { tlogEntries: unknown[] } };
    b.verificationMaterial.tlogEntries = [];
    await expectCode(() => verifyKeylessBundle(b, { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID', /tlog entries/);
  });

  it('tampered inclusion proof → TLOG_INVALID', async () => {
    type Proof = { rootHash: string; hashes: string[]; checkpoint: { envelope: string } };
    const tamper = (edit: (p: Proof) => void) => {
      const b = clone(dsseBundle) as { verificationMaterial: { tlogEntries: { inclusionProof: Proof }[] } };
      edit(b.verificationMaterial.tlogEntries[0].inclusionProof);
      return b;
    };
    const flipped = (b64: string) => {
      const h = Buffer.from(b64, 'base64');
      h[0] ^= 0xff;
      return h.toString('base64');
    };
    // an extra sibling hash: the computed root no longer matches the signed checkpoint
    await expectCode(() => verifyKeylessBundle(tamper((p) => { p.hashes = [Buffer.alloc(32, 7).toString('base64')]; }), { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID');
    // the proof's root hash edited (sigstore-js ignores it; custody compares it to the checkpoint)
    await expectCode(() => verifyKeylessBundle(tamper((p) => { p.rootHash = flipped(p.rootHash); }), { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID', /root hash/);
    // the checkpoint's root hash edited: its signature breaks
    await expectCode(() => verifyKeylessBundle(tamper((p) => {
      const lines = p.checkpoint.envelope.split('\n');
      lines[2] = flipped(lines[2]);
      p.checkpoint.envelope = lines.join('\n');
    }), { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID');
  });

  it('tampered payload → SIGNATURE_INVALID or TLOG_INVALID, never a pass', async () => {
    const b = clone(dsseBundle) as { dsseEnvelope: { payload: string } };
    const st = statement();
    st.subject[0].digest = { sha256: '0'.repeat(64) };
    b.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    const e = await expectCode(() => verifyKeylessBundle(b, { trustedRoot: root, identity: BUILDER }), 'TLOG_INVALID');
    assert.ok(e);
  });

  it('a trust root without the needed CA → CERTIFICATE_INVALID', async () => {
    await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: mock.trustedRoot({ ca: false }), identity: BUILDER }), 'CERTIFICATE_INVALID');
    const stranger = await startSigstoreMock();
    try {
      // the right logs and TSA, but another CA
      const mixed = { ...root, certificateAuthorities: stranger.trustedRoot().certificateAuthorities };
      await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: mixed, identity: BUILDER }), 'CERTIFICATE_INVALID', /certificate chain/);
    } finally {
      await stranger.close();
    }
  });

  it('a trust root without the CT log → CERTIFICATE_INVALID (SCT unverifiable)', async () => {
    await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: mock.trustedRoot({ ctlog: false }), identity: BUILDER }), 'CERTIFICATE_INVALID');
  });

  it('a malformed trust root → TRUSTED_ROOT_INVALID (input error)', async () => {
    const bad = clone(root) as { tlogs: { publicKey: { validFor?: unknown } }[] };
    delete bad.tlogs[0].publicKey.validFor;
    const e = await expectCode(() => verifyKeylessBundle(dsseBundle, { trustedRoot: bad, identity: BUILDER }), 'TRUSTED_ROOT_INVALID', /validFor\.start/);
    assert.equal((e as { exitCode?: number }).exitCode, 2);
    await expectCode(() => trustMaterialFromJSON({ mediaType: 'text/plain' }), 'TRUSTED_ROOT_INVALID');
  });

  it('a key-signed bundle is not a keyless one → CERTIFICATE_INVALID', async () => {
    const pair = generateKeyPair('ecdsa-p256');
    await writeKeyPair(join(dir, 'k'), pair);
    const keyBundle = await createKeyBundleSigner(await loadSigner(join(dir, 'k'))).signStatement(statement());
    await expectCode(() => verifyKeylessBundle(keyBundle, { trustedRoot: root, identity: BUILDER }), 'CERTIFICATE_INVALID', /public key/);
  });

  describe('certificate validity', () => {
    let old: SigstoreMock;
    before(async () => {
      // Fulcio's clock 30 minutes back: the 10-minute certificate has expired when Rekor logs it.
      old = await startSigstoreMock({ caClock: new Date(Date.now() - 30 * 60_000) });
    });
    after(() => old.close());

    it('signing time outside the certificate validity → CERTIFICATE_INVALID', async () => {
      const b = await createKeylessSigner({ fulcioURL: old.fulcioURL, rekorURL: old.rekorURL, rekorEntryType: 'intoto', identityToken: old.token(BUILDER), timeoutMs: 5_000 }).signStatement(statement());
      await expectCode(() => verifyKeylessBundle(b, { trustedRoot: old.trustedRoot(), identity: BUILDER }), 'CERTIFICATE_INVALID', /expired|not valid/);
    });

    it('a signing time in the future → TLOG_INVALID', async () => {
      const b = await signerFor(mock.token(BUILDER)).signStatement(statement());
      await expectCode(() => verifyKeylessBundle(b, { trustedRoot: root, identity: BUILDER, now: new Date(Date.now() - 10 * 60_000) }), 'TLOG_INVALID', /future/);
    });
  });

  describe('identity tokens and services', () => {
    it('a token that is not a JWT → IDENTITY_TOKEN_INVALID, nothing sent, token not echoed', async () => {
      const before = mock.requests.length;
      const e = await expectCode(signerFor('not-a-jwt-secret-value').signStatement(statement()), 'IDENTITY_TOKEN_INVALID', /not a JWT/);
      assert.doesNotMatch(e.message, /secret-value/);
      assert.equal(mock.requests.length, before);
    });

    it('an expired token → IDENTITY_TOKEN_INVALID', async () => {
      await expectCode(signerFor(mock.token({ ...BUILDER, expiresIn: -60 })).signStatement(statement()), 'IDENTITY_TOKEN_INVALID', /expired/);
    });

    it('a token without iss → IDENTITY_TOKEN_INVALID', async () => {
      await expectCode(signerFor(unsignedJwt({ sub: 'x' })).signStatement(statement()), 'IDENTITY_TOKEN_INVALID', /iss/);
    });

    it('no token anywhere → USAGE naming the ways to give one', async () => {
      await expectCode(createKeylessSigner({ fulcioURL: mock.fulcioURL, rekorURL: mock.rekorURL, env: {} }).signStatement(statement()), 'USAGE', /SIGSTORE_ID_TOKEN/);
    });

    it('reads the token from a file and from SIGSTORE_ID_TOKEN', async () => {
      const file = join(dir, 'token');
      await writeFile(file, `${mock.token(TRAINER)}\n`);
      const s1 = signerFor('', { identityToken: undefined, identityTokenFile: file, env: {} });
      verifyKeylessBundle(await s1.signStatement(statement()), { trustedRoot: root, identity: TRAINER });
      const s2 = signerFor('', { identityToken: undefined, env: { SIGSTORE_ID_TOKEN: mock.token(BUILDER) } });
      const v = verifySigstoreBundle(await s2.signMessage(ARTIFACT), { trustedRoot: trustMaterialFromJSON(root), identity: BUILDER, artifact: { bytes: ARTIFACT } });
      assert.deepEqual(v.identity, BUILDER);
    });

    it('asks GitHub Actions for a sigstore-audience token', async () => {
      const seen: { auth?: string; audience?: string | null } = {};
      const gha = createServer((req, res) => {
        seen.auth = req.headers.authorization;
        seen.audience = new URL(req.url ?? '/', 'http://x').searchParams.get('audience');
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value: mock.token(BUILDER) }));
      });
      await new Promise<void>((r) => gha.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(gha.address() as AddressInfo).port}/token?api-version=2.0`;
        const s = signerFor('', { identityToken: undefined, env: { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-token' } });
        const v = verifyKeylessBundle(await s.signStatement(statement()), { trustedRoot: root, identity: BUILDER });
        assert.deepEqual(v.identity, BUILDER);
        assert.equal(seen.auth, 'Bearer runtime-token');
        assert.equal(seen.audience, 'sigstore');
      } finally {
        await new Promise<void>((r) => gha.close(() => r()));
      }
    });

    it('an unreachable Fulcio fails fast with NETWORK naming the URL', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
      await new Promise<void>((r) => closed.close(() => r()));
      await expectCode(signerFor(mock.token(BUILDER), { fulcioURL: url }).signStatement(statement()), 'NETWORK', new RegExp(`Fulcio at ${url}.*ECONNREFUSED`));
    });

    it('a Fulcio that never answers times out with NETWORK naming the URL', async () => {
      const silent = createServer(() => { /* never answers */ });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      try {
        await expectCode(signerFor(mock.token(BUILDER), { fulcioURL: url, timeoutMs: 300 }).signStatement(statement()), 'NETWORK', new RegExp(`Fulcio at ${url}: no answer within 300 ms`));
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });

    it('a Rekor error names Rekor and its URL', async () => {
      await expectCode(signerFor(mock.token(BUILDER), { rekorURL: `${mock.url}/nowhere` }).signStatement(statement()), 'NETWORK', new RegExp(`Rekor at ${mock.url}/nowhere: answered HTTP 404`));
    });
  });

  describe('custody verify-bundle', () => {
    let files: Record<string, string>;
    before(async () => {
      files = {
        dsse: join(dir, 'att.sigstore.json'), msg: join(dir, 'model.sigstore.json'), root: join(dir, 'trusted_root.json'),
        artifact: join(dir, 'model.safetensors'), keyBundle: join(dir, 'key.sigstore.json'),
      };
      await writeFile(files.dsse, JSON.stringify(dsseBundle));
      await writeFile(files.msg, JSON.stringify(messageBundle));
      await writeFile(files.root, JSON.stringify(root));
      await writeFile(files.artifact, ARTIFACT);
      const pair = generateKeyPair('ecdsa-p384');
      await writeKeyPair(join(dir, 'p384'), pair);
      await writeFile(files.keyBundle, JSON.stringify(await createKeyBundleSigner(await loadSigner(join(dir, 'p384'))).signMessage(ARTIFACT)));
    });
    const identityArgs = ['--certificate-identity', BUILDER.subject, '--certificate-oidc-issuer', ISSUER];

    it('verifies a message signature over --artifact (exit 0)', async () => {
      const r = await custody(['verify-bundle', files.msg, '--trusted-root', files.root, ...identityArgs, '--artifact', files.artifact]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /verified: message signature signed by https:\/\/ci\.test/);
    });

    it('takes the conformance form: --bundle B ... FILE_OR_DIGEST (path and sha256 digest)', async () => {
      const digest = `sha256:${createHash('sha256').update(ARTIFACT).digest('hex')}`;
      for (const [bundle, input] of [[files.msg, files.artifact], [files.msg, digest], [files.dsse, files.artifact], [files.dsse, digest]]) {
        const r = await custody(['verify-bundle', '--bundle', bundle, ...identityArgs, '--trusted-root', files.root, input]);
        assert.equal(r.code, 0, `${bundle} ${input}: ${r.stderr}`);
      }
    });

    it('wrong identity: exit 1, one line with the reason', async () => {
      const r = await custody(['verify-bundle', files.dsse, '--trusted-root', files.root, '--certificate-identity', TRAINER.subject, '--certificate-oidc-issuer', ISSUER]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /^custody: .*att\.sigstore\.json: certificate identity .* is not trusted/);
    });

    it('an artifact that does not match: exit 1', async () => {
      const other = join(dir, 'other.bin');
      await writeFile(other, 'tampered');
      const r = await custody(['verify-bundle', files.msg, '--trusted-root', files.root, ...identityArgs, '--artifact', other]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /does not match the bundle's message digest/);
      const d = await custody(['verify-bundle', files.dsse, '--trusted-root', files.root, ...identityArgs, '--artifact', other]);
      assert.equal(d.code, 1);
      assert.match(d.stderr, /not a subject of the in-toto statement/);
    });

    it('verifies a key-signed P-384 bundle with --key, and rejects a different key', async () => {
      const ok = await custody(['verify-bundle', files.keyBundle, '--key', join(dir, 'p384.pub'), '--artifact', files.artifact]);
      assert.equal(ok.code, 0, ok.stderr);
      const wrong = await custody(['verify-bundle', files.keyBundle, '--key', join(dir, 'k.pub'), '--artifact', files.artifact]);
      assert.equal(wrong.code, 1, wrong.stderr);
    });

    it('bad input exits 2: no trust given, missing trusted root, malformed bundle', async () => {
      const none = await custody(['verify-bundle', files.dsse]);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /--key PUB, or --trusted-root/);
      const missing = await custody(['verify-bundle', files.dsse, '--trusted-root', join(dir, 'absent.json'), ...identityArgs]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /absent\.json: cannot read the trusted root/);
      const junk = join(dir, 'junk.sigstore.json');
      await writeFile(junk, '{"mediaType": "nope"}');
      const malformed = await custody(['verify-bundle', junk, '--trusted-root', files.root, ...identityArgs]);
      assert.equal(malformed.code, 2);
      assert.match(malformed.stderr, /not a valid Sigstore bundle/);
    });
  });
});
