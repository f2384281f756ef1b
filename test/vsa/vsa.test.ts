// `custody verify --vsa`: a signed SLSA Verification Summary Attestation v1 for passing and
// failing verifications — subject, policy digest, input attestations, result — that
// `custody verify-bundle --key` accepts with the VSA key and rejects with another.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { buildVsaStatement, linkFileName, normalizeLink, VSA_PREDICATE_TYPE } from '../../packages/core/src/index.ts';
import type { VerificationReport } from '../../packages/core/src/index.ts';
import { generateKeyPair, loadSigner, serializeMetablock, signMetablock, writeKeyPair } from '../../packages/sign/src/index.ts';
import type { Signer } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';

const h = (c: string) => ({ sha256: c.repeat(64) });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const LAYOUT_YAML = `expires: 1y
keys: { owner: owner.pub, bob: bob.pub }
steps:
  - name: build
    pubkeys: [bob]
    expected_command: make
    expected_materials: [ALLOW src/*, DISALLOW *]
    expected_products: [CREATE dist/app.bin, DISALLOW *]
  - name: package
    pubkeys: [bob]
    expected_command: tar
    expected_materials: [MATCH dist/* WITH PRODUCTS FROM build, DISALLOW *]
    expected_products: [CREATE out/app.tar, DISALLOW *]
inspect: []
`;

interface Vsa {
  mediaType: string;
  dsseEnvelope: { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] };
}

describe('custody verify --vsa', () => {
  let dir: string;
  let bob: Signer;
  let verifierKey: Signer;
  let schemaValidate: ((d: unknown) => boolean) & { errors?: unknown };

  async function link(links: string, name: string, command: string, materials: Record<string, Record<string, string>>, products: Record<string, Record<string, string>>) {
    const body = normalizeLink({ _type: 'link', name, command: [command], materials, products, byproducts: {}, environment: {} });
    await writeFile(join(links, linkFileName(name, bob.keyid)), serializeMetablock(await signMetablock<unknown>(body, bob)));
  }

  /** A link folder; `packageMaterial` is what the package step says it consumed. */
  async function linkDir(name: string, packageMaterial: Record<string, string> | undefined) {
    const links = join(dir, name);
    await mkdir(links, { recursive: true });
    await link(links, 'build', 'make', { 'src/a.c': h('1') }, { 'dist/app.bin': h('2') });
    if (packageMaterial) await link(links, 'package', 'tar', { 'dist/app.bin': packageMaterial }, { 'out/app.tar': h('3') });
    return links;
  }

  const verifyArgs = (links: string, ...extra: string[]) => [
    'verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', links, ...extra,
  ];

  async function readVsa(path: string) {
    const bundle = JSON.parse(await readFile(path, 'utf8')) as Vsa;
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    assert.ok(schemaValidate(statement.predicate), JSON.stringify(schemaValidate.errors));
    return { bundle, statement };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-vsa-'));
    for (const who of ['owner', 'bob', 'verifier', 'eve']) await writeKeyPair(join(dir, who), generateKeyPair('ed25519'));
    bob = await loadSigner(join(dir, 'bob'));
    verifierKey = await loadSigner(join(dir, 'verifier'));
    await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
    const signed = await custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'owner'), '-o', join(dir, 'root.layout')]);
    assert.equal(signed.code, 0, signed.stderr);
    // ajv and ajv-formats are dependencies of @custody/engine, not of the repository root
    const req = createRequire(join(import.meta.dirname, '..', '..', 'packages', 'engine', 'package.json'));
    const Ajv = (req('ajv').default ?? req('ajv')) as new (o: object) => { compile(s: unknown): typeof schemaValidate };
    const ajv = new Ajv({ strict: true, allErrors: true });
    (req('ajv-formats').default ?? req('ajv-formats'))(ajv);
    schemaValidate = ajv.compile(JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'schemas', 'vsa.schema.json'), 'utf8')));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes a PASSED VSA: last step products as subject, layout digest as policy, the links as inputs', async () => {
    const links = await linkDir('pass', h('2'));
    const out = join(dir, 'pass.vsa.json');
    const r = await custody(verifyArgs(links, '--vsa', out, '--vsa-key', join(dir, 'verifier'), '--vsa-verifier-id', 'https://verifier.example/custody'));
    assert.equal(r.code, 0, r.stderr);
    const { bundle, statement } = await readVsa(out);
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    assert.equal(bundle.dsseEnvelope.signatures[0].keyid, verifierKey.keyid);
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.equal(statement.predicateType, VSA_PREDICATE_TYPE);
    assert.deepEqual(statement.subject, [{ name: 'out/app.tar', digest: h('3') }]);
    const p = statement.predicate;
    assert.equal(p.verificationResult, 'PASSED');
    assert.deepEqual(p.verifier, { id: 'https://verifier.example/custody' });
    assert.equal(p.resourceUri, 'out/app.tar');
    assert.equal(p.policy.uri, join(dir, 'root.layout'));
    assert.deepEqual(p.policy.digest, { sha256: sha256(await readFile(join(dir, 'root.layout'))) });
    const names = (await readdir(links)).sort();
    assert.deepEqual(p.inputAttestations, await Promise.all(names.map(async (n) => ({ uri: join(links, n), digest: { sha256: sha256(await readFile(join(links, n))) } }))));
    assert.deepEqual(p.verifiedLevels, []);
    assert.deepEqual(p.dependencyLevels, {});
    assert.equal(p.slsaVersion, '1.0');
    // timeVerified is the verification's own time
    const t = Date.parse(p.timeVerified);
    assert.ok(Math.abs(Date.now() - t) < 10 * 60_000, p.timeVerified);
    assert.deepEqual(await readdir(dir).then((n) => n.filter((x) => x.endsWith('.tmp'))), [], 'no temp file left');

    const ok = await custody(['verify-bundle', out, '--key', join(dir, 'verifier.pub')]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await custody(['verify-bundle', out, '--key', join(dir, 'eve.pub')]);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  });

  it('writes a FAILED VSA for a failing verification and keeps exit code 1', async () => {
    const links = await linkDir('fail', h('9')); // package consumed something build did not make
    const out = join(dir, 'fail.vsa.json');
    const r = await custody(verifyArgs(links, '--json', '--vsa', out, '--vsa-key', join(dir, 'verifier')));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stdout).failure.code, 'ARTIFACT_RULE');
    const { statement } = await readVsa(out);
    assert.equal(statement.predicate.verificationResult, 'FAILED');
    assert.deepEqual(statement.predicate.verifiedLevels, ['FAILED']);
    assert.deepEqual(statement.subject, [{ name: 'out/app.tar', digest: h('3') }]);
    assert.deepEqual(statement.predicate.inputAttestations.map((i: { uri: string }) => i.uri), [
      join(links, linkFileName('build', bob.keyid)), join(links, linkFileName('package', bob.keyid)),
    ]);
    assert.deepEqual(statement.predicate.verifier, { id: 'https://custody.dev/verifier' });
    const ok = await custody(['verify-bundle', out, '--key', join(dir, 'verifier.pub')]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('--vsa-subject names the subject (digest or file); a missing last-step link still gives a FAILED VSA', async () => {
    const links = await linkDir('missing', undefined);
    const artifact = join(dir, 'artifact.bin');
    await writeFile(artifact, 'payload\n');
    const out = join(dir, 'missing.vsa.json');
    const r = await custody(verifyArgs(links, '--vsa', out, '--vsa-key', join(dir, 'verifier'), '--vsa-subject', `sha256:${'A'.repeat(64)}`, '--vsa-subject', artifact));
    assert.equal(r.code, 1, r.stderr);
    const { statement } = await readVsa(out);
    assert.deepEqual(statement.subject, [{ digest: h('a') }, { name: artifact, digest: { sha256: sha256(Buffer.from('payload\n')) } }]);
    assert.equal(statement.predicate.verificationResult, 'FAILED');
    assert.equal(statement.predicate.resourceUri, `sha256:${'a'.repeat(64)}`);
    // without a subject there is nothing to summarize: bad input, after the report
    const none = await custody(verifyArgs(links, '--vsa', join(dir, 'none.vsa.json'), '--vsa-key', join(dir, 'verifier')));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no VSA written: no link of the last step 'package'/);
  });

  it('rejects bad VSA options with exit 2 before verifying', async () => {
    const links = await linkDir('usage', h('2'));
    const noKey = await custody(verifyArgs(links, '--vsa', join(dir, 'x.vsa.json')));
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--vsa needs --vsa-key/);
    assert.equal(noKey.stdout, '', 'nothing verified');
    const keyOnly = await custody(verifyArgs(links, '--vsa-key', join(dir, 'verifier')));
    assert.equal(keyOnly.code, 2);
    const badSubject = await custody(verifyArgs(links, '--vsa', join(dir, 'x.vsa.json'), '--vsa-key', join(dir, 'verifier'), '--vsa-subject', 'sha256:abc'));
    assert.equal(badSubject.code, 2);
    const badId = await custody(verifyArgs(links, '--vsa', join(dir, 'x.vsa.json'), '--vsa-key', join(dir, 'verifier'), '--vsa-verifier-id', 'not a uri'));
    assert.equal(badId.code, 2);
    const missingKey = await custody(verifyArgs(links, '--vsa', join(dir, 'x.vsa.json'), '--vsa-key', join(dir, 'nope')));
    assert.equal(missingKey.code, 2);
    await assert.rejects(readFile(join(dir, 'x.vsa.json')), { code: 'ENOENT' });
  });

  it('attestation-verifier layouts: the last step\'s provenance subject, every attestation file as input', async () => {
    const compat = join(import.meta.dirname, '..', 'compat', 'fixtures', 'attestation-verifier');
    const out = join(dir, 'compat.vsa.json');
    const r = await custody(['verify', '--layout', join(compat, 'layouts', 'layout.yml'), '--link-dir', join(compat, 'test-data'), '--vsa', out, '--vsa-key', join(dir, 'verifier')]);
    assert.equal(r.code, 0, r.stderr);
    const { statement } = await readVsa(out);
    assert.equal(statement.predicate.verificationResult, 'PASSED');
    assert.deepEqual(statement.subject.map((s: { name: string }) => s.name), ['bin/foo']);
    assert.deepEqual(statement.predicate.inputAttestations.map((i: { uri: string }) => i.uri),
      ['build', 'clone', 'test'].map((n) => join(compat, 'test-data', `${n}.fe1c6281.json`)));
  });

  it('buildVsaStatement is pure: time, result and digests come from its input', () => {
    const report: VerificationReport = { verdict: 'pass', failure: null, warnings: [], checks: [] };
    const st = buildVsaStatement({
      report, now: new Date('2026-01-02T03:04:05.678Z'), subject: [{ name: 'a', digest: h('b') }],
      policy: { uri: 'root.layout', bytes: Buffer.from('layout') },
      inputAttestations: [
        { name: 'z.link', uri: 'z.link', bytes: Buffer.from('z') },
        { name: 'a.link', uri: 'a.link', bytes: Buffer.from('a') },
        { name: 'a.link', uri: 'a.link', bytes: Buffer.from('a') },
      ],
      verifiedLevels: ['CUSTODY_LAYOUT_VERIFIED'],
    });
    assert.equal(st.predicate!.timeVerified, '2026-01-02T03:04:05.678Z');
    assert.deepEqual(st.predicate!.verifiedLevels, ['CUSTODY_LAYOUT_VERIFIED']);
    assert.deepEqual(st.predicate!.policy.digest, { sha256: sha256(Buffer.from('layout')) });
    assert.deepEqual(st.predicate!.inputAttestations.map((i) => i.uri), ['a.link', 'z.link']);
    assert.throws(() => buildVsaStatement({ report, now: new Date(), subject: [], policy: { uri: 'l', bytes: Buffer.alloc(0) }, inputAttestations: [] }), { code: 'USAGE' });
  });
});
