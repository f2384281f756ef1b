// Keyless identities as layout functionaries, end to end through the CLI and offline:
// @sigstore/mock's Fulcio, CT log, Rekor and TSA on 127.0.0.1 sign a step's link Statements for
// CI identities; `custody layout sign` pins the trusted root by SHA-256; `custody verify` checks
// certificate, tlog and identity of every bundle and counts distinct identities for thresholds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keylessFunctionaryId } from '../../packages/core/src/index.ts';
import type { KeylessIdentity, Statement } from '../../packages/core/src/index.ts';
import { createKeylessSigner, generateKeyPair, writeKeyPair } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';
import { startSigstoreMock } from '../helpers/sigstore-mock.ts';
import type { SigstoreMock } from '../helpers/sigstore-mock.ts';

const ISSUER = 'https://token.ci.test';
const BUILDER = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/build.yml@refs/heads/main' };
const TRAINER = { issuer: ISSUER, subject: 'https://ci.test/org/repo/.github/workflows/train.yml@refs/heads/main' };
const STRANGER = { issuer: ISSUER, subject: 'https://ci.test/evil/repo/.github/workflows/train.yml@refs/heads/main' };
const OTHER_ISSUER = { issuer: 'https://accounts.example.com', subject: TRAINER.subject };
const MODEL = { sha256: createHash('sha256').update('weights').digest('hex') };

const LAYOUT_YAML = `expires: 1y
keys: { owner: owner.pub }
trustedRoot: { path: trusted_root.json }
steps:
  - name: train
    threshold: 2
    functionaries:
      - { issuer: "${ISSUER}", subject: "${BUILDER.subject}" }
      - { issuer: "${ISSUER}", subjectPattern: "https://ci\\\\.test/org/repo/\\\\.github/workflows/train\\\\.yml@refs/heads/.+" }
    expected_command: python train.py
    expected_products: [CREATE model.safetensors, DISALLOW *]
    expectedPredicates:
      - predicateType: https://in-toto.io/attestation/link/v0.3
        threshold: 2
        expectedAttributes:
          - rule: "predicate.command == ['python', 'train.py']"
inspect: []
`;

function linkStatement(command = ['python', 'train.py']): Statement {
  return {
    _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'model.safetensors', digest: MODEL }], predicateType: 'https://in-toto.io/attestation/link/v0.3',
    predicate: { name: 'train', command, materials: [], byproducts: {}, environment: {} },
  };
}

/** `<step>.<sha256(functionary id)[:8]>.link.sigstore.json` — the link folder name of a keyless signer's link. */
function bundleName(id: KeylessIdentity, n = ''): string {
  return `train.${createHash('sha256').update(keylessFunctionaryId(id)).digest('hex').slice(0, 8)}.link${n}.sigstore.json`;
}

describe('custody verify: keyless identities as functionaries', () => {
  let mock: SigstoreMock;
  let dir: string;
  const bundles = new Map<string, string>();
  const sign = async (id: KeylessIdentity, st = linkStatement()) => JSON.stringify(await createKeylessSigner({
    fulcioURL: mock.fulcioURL, rekorURL: mock.rekorURL, tsaURL: mock.tsaURL, rekorEntryType: 'intoto', identityToken: mock.token(id), timeoutMs: 5_000,
  }).signStatement(st));

  /** A case folder with the signed layout and the named bundles in links/. */
  async function scenario(name: string, files: Record<string, string>) {
    const links = join(dir, name);
    await mkdir(links, { recursive: true });
    for (const [f, text] of Object.entries(files)) await writeFile(join(links, f), text);
    const r = await custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', links, '--json']);
    return { ...r, report: r.stdout ? JSON.parse(r.stdout) : undefined };
  }

  before(async () => {
    mock = await startSigstoreMock();
    dir = await mkdtemp(join(tmpdir(), 'custody-verify-ids-'));
    await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(mock.trustedRoot()));
    await writeKeyPair(join(dir, 'owner'), generateKeyPair('ed25519'));
    await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
    const lint = await custody(['layout', 'lint', join(dir, 'layout.yaml')]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    const signed = await custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'owner'), '--format', 'dsse', '-o', join(dir, 'root.layout')]);
    assert.equal(signed.code, 0, signed.stderr);
    for (const id of [BUILDER, TRAINER, STRANGER, OTHER_ISSUER]) bundles.set(id.subject + id.issuer, await sign(id));
  });
  after(async () => {
    await mock.close();
    await rm(dir, { recursive: true, force: true });
  });
  const of = (id: KeylessIdentity) => bundles.get(id.subject + id.issuer)!;

  it('layout sign pins the trusted root by SHA-256 in the signed payload', async () => {
    const env = JSON.parse(await readFile(join(dir, 'root.layout'), 'utf8'));
    const body = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    assert.deepEqual(body.trustedRoot, { path: 'trusted_root.json', sha256: createHash('sha256').update(await readFile(join(dir, 'trusted_root.json'))).digest('hex') });
    assert.equal(body.steps[0].functionaries.length, 2);
  });

  it('two distinct identities sign the step: exit 0, threshold 2 of 2 identities, rules pass', async () => {
    const r = await scenario('good', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(TRAINER)]: of(TRAINER) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const th = r.report.checks.find((c: { check: string }) => c.check === 'threshold');
    assert.equal(th.counted, 2);
    assert.deepEqual(th.signers.map((s: { identity: string; format: string }) => [s.identity, s.format]).sort(), [
      [`${BUILDER.subject} (issuer ${ISSUER})`, 'sigstore'], [`${TRAINER.subject} (issuer ${ISSUER})`, 'sigstore'],
    ]);
    const pr = r.report.checks.find((c: { check: string }) => c.check === 'predicate-rules');
    assert.deepEqual(pr.predicates[0].accepted.sort(), [keylessFunctionaryId(BUILDER), keylessFunctionaryId(TRAINER)].sort());
    assert.equal(r.report.checks.find((c: { check: string; side?: string }) => c.check === 'artifact-rules' && c.side === 'products').verdict, 'pass');
  });

  it('one identity twice is one functionary: the threshold of 2 is not met', async () => {
    const r = await scenario('same', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(BUILDER, '-2')]: await sign(BUILDER) });
    assert.equal(r.code, 1);
    assert.deepEqual([r.report.failure.code, r.report.failure.step], ['LINK_NOT_FOUND', 'train']);
  });

  it('a wrong identity (subject not listed) fails IDENTITY_MISMATCH naming the subject', async () => {
    const r = await scenario('wrong-subject', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(STRANGER)]: of(STRANGER) });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual([r.report.failure.code, r.report.failure.check, r.report.failure.step], ['IDENTITY_MISMATCH', 'links', 'train']);
    assert.match(r.report.failure.message, /certificate identity https:\/\/ci\.test\/evil\/repo.* is not trusted: subject/);
  });

  it('a wrong issuer fails IDENTITY_MISMATCH naming the issuer', async () => {
    const r = await scenario('wrong-issuer', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(OTHER_ISSUER)]: of(OTHER_ISSUER) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report.failure.code, 'IDENTITY_MISMATCH');
    assert.match(r.report.failure.message, /issuer https:\/\/accounts\.example\.com is not https:\/\/token\.ci\.test/);
  });

  it('a bundle without its tlog entry fails TLOG_INVALID', async () => {
    const b = JSON.parse(of(TRAINER));
    b.verificationMaterial.tlogEntries = [];
    const r = await scenario('no-tlog', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(TRAINER)]: JSON.stringify(b) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report.failure.code, 'TLOG_INVALID');
  });

  it('a failing rule on a keyless claim fails PREDICATE_RULE at predicate-rules', async () => {
    const r = await scenario('bad-command', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(TRAINER)]: await sign(TRAINER, linkStatement(['python', 'train.py'])), [bundleName(BUILDER, '-x')]: '' });
    // (an empty extra file of the builder is rejected, the builder's good bundle still counts)
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const bad = await scenario('bad-command-2', {
      [bundleName(BUILDER)]: await sign(BUILDER, linkStatement(['python', 'train.py', '--poison'])), [bundleName(TRAINER)]: of(TRAINER),
    });
    assert.equal(bad.code, 1);
    assert.deepEqual([bad.report.failure.code, bad.report.failure.check, bad.report.failure.step], ['PREDICATE_RULE', 'predicate-rules', 'train']);
  });

  it('a trusted root changed after the layout was signed is bad input (exit 2)', async () => {
    const original = await readFile(join(dir, 'trusted_root.json'));
    try {
      await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(mock.trustedRoot({ tsa: false })));
      const r = await scenario('root-changed', { [bundleName(BUILDER)]: of(BUILDER), [bundleName(TRAINER)]: of(TRAINER) });
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, /^custody: .*trusted_root\.json: trusted root has SHA-256 [0-9a-f]{64}, but the layout pins/);
    } finally {
      await writeFile(join(dir, 'trusted_root.json'), original);
    }
  });

  it('custody run --keyless --format sigstore: two CI identities sign a step, verify counts both', async () => {
    const fit = `expires: 1y
keys: { owner: owner.pub }
trustedRoot: { path: trusted_root.json }
steps:
  - name: fit
    threshold: 2
    functionaries:
      - { issuer: "${ISSUER}", subject: "${BUILDER.subject}" }
      - { issuer: "${ISSUER}", subject: "${TRAINER.subject}" }
    expected_command: [sh, -c, echo w > model.bin]
    expected_products: [CREATE model.bin, DISALLOW *]
    expectedPredicates:
      - predicateType: https://custody.dev/attestation/command-run/v0.1
        threshold: 2
        expectedAttributes: [{ rule: predicate.exitCode == 0 }]
inspect: []
`;
    await writeFile(join(dir, 'fit.yaml'), fit);
    const s = await custody(['layout', 'sign', join(dir, 'fit.yaml'), '--key', join(dir, 'owner'), '--format', 'dsse', '-o', join(dir, 'fit.layout')]);
    assert.equal(s.code, 0, s.stderr);
    const out = join(dir, 'fit-out');
    for (const id of [BUILDER, TRAINER]) {
      const work = join(dir, `fit-${id === BUILDER ? 'b' : 't'}`);
      await mkdir(work, { recursive: true });
      await writeFile(join(work, 'token'), mock.token(id));
      const r = await custody(['run', '-n', 'fit', '--format', 'sigstore', '--keyless', '--identity-token-file', 'token', '--fulcio-url', mock.fulcioURL,
        '--rekor-url', mock.rekorURL, '--tsa-url', mock.tsaURL, '--rekor-entry-type', 'intoto', '--plugin', 'command-run', '-p', 'model.bin', '-d', out,
        '--', 'sh', '-c', 'echo w > model.bin'], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
    }
    const id8 = (id: KeylessIdentity) => createHash('sha256').update(keylessFunctionaryId(id)).digest('hex').slice(0, 8);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(out)).sort(), [BUILDER, TRAINER].flatMap((id) => [`fit.${id8(id)}.command-run.sigstore.json`, `fit.${id8(id)}.link.sigstore.json`]).sort());
    const v = await custody(['verify', '--layout', join(dir, 'fit.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', out, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout);
    assert.equal(report.checks.find((c: { check: string }) => c.check === 'threshold').counted, 2);
    assert.equal(report.checks.find((c: { check: string }) => c.check === 'predicate-rules').predicates[0].accepted.length, 2);
    // keyless needs --format sigstore; and it excludes --key
    const bad = await custody(['run', '-n', 'fit', '--keyless', '--', 'true'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--keyless signs Sigstore bundles: add --format sigstore/);
    // A token Fulcio cannot use fails before the command runs: nothing is created.
    const early = join(dir, 'fit-early');
    await mkdir(early, { recursive: true });
    await writeFile(join(early, 'token'), 'not-a-jwt');
    const r = await custody(['run', '-n', 'fit', '--format', 'sigstore', '--keyless', '--identity-token-file', 'token', '--fulcio-url', mock.fulcioURL,
      '--rekor-url', mock.rekorURL, '-p', 'model.bin', '--', 'sh', '-c', 'echo w > model.bin'], { cwd: early });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /token/);
    assert.deepEqual((await readdir(early)).sort(), ['token']);
  });
});
