// Keyless layouts, end to end through the CLI and offline: `custody layout sign --keyless` puts
// the layout's DSSE payload in a Sigstore bundle signed with a certificate from @sigstore/mock's
// Fulcio (logged in its Rekor); `custody verify --layout-issuer/--layout-subject --trusted-root`
// checks certificate, tlog and identity at the CLI edge and the pure core verifies the rest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, writeKeyPair } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';
import { startSigstoreMock } from '../helpers/sigstore-mock.ts';
import type { SigstoreMock } from '../helpers/sigstore-mock.ts';

const ISSUER = 'https://token.ci.test';
const OWNER = { issuer: ISSUER, subject: 'https://ci.test/org/policy/.github/workflows/release-layout.yml@refs/heads/main' };

// A fixed expiry, so the key-signed DSSE layout and the keyless one carry the same payload bytes.
const LAYOUT_YAML = `expires: 2036-01-01T00:00:00Z
keys: { alice: alice.pub }
steps:
  - name: build
    pubkeys: [alice]
    expected_command: [sh, -c, "echo built > out.txt"]
    expected_products: [CREATE out.txt, DISALLOW *]
inspect: []
`;

interface Report { verdict: string; failure: { code: string; check: string; message: string } | null; checks: { check: string; verdict: string; message: string; identities?: string[] }[] }

describe('custody layout sign --keyless / verify --layout-issuer', () => {
  let mock: SigstoreMock;
  let otherMock: SigstoreMock;
  let dir: string;
  const at = (f: string) => join(dir, f);

  async function verify(args: string[], layout = 'root.layout') {
    const r = await custody(['verify', '--layout', at(layout), '--link-dir', at('links'), '--json', ...args], { cwd: dir });
    return { ...r, report: r.stdout ? JSON.parse(r.stdout) as Report : undefined };
  }
  const owner = (id = OWNER) => ['--layout-issuer', id.issuer, '--layout-subject', id.subject, '--trusted-root', at('trusted_root.json')];
  const signKeyless = (file: string, out: string, extra: string[] = []) => custody(['layout', 'sign', '--keyless', at(file), '-o', at(out),
    '--identity-token-file', at('token'), '--fulcio-url', mock.fulcioURL, '--rekor-url', mock.rekorURL, '--rekor-entry-type', 'intoto', '--signing-timeout', '5', ...extra]);

  before(async () => {
    mock = await startSigstoreMock();
    otherMock = await startSigstoreMock();
    dir = await mkdtemp(join(tmpdir(), 'custody-layout-keyless-'));
    await writeFile(at('trusted_root.json'), JSON.stringify(mock.trustedRoot()));
    await writeFile(at('other_root.json'), JSON.stringify(otherMock.trustedRoot()));
    await writeFile(at('token'), mock.token(OWNER));
    await writeKeyPair(at('alice'), generateKeyPair('ed25519'));
    await writeKeyPair(at('owner'), generateKeyPair('ed25519'));
    await writeFile(at('layout.yaml'), LAYOUT_YAML);
    const signed = await signKeyless('layout.yaml', 'root.layout');
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /root\.layout: Sigstore bundle \(DSSE\) signed keylessly by https:\/\/ci\.test\/org\/policy\/.* \(issuer https:\/\/token\.ci\.test\)/);
    const dsse = await custody(['layout', 'sign', '--key', at('owner'), '--format', 'dsse', at('layout.yaml'), '-o', at('key.layout')]);
    assert.equal(dsse.code, 0, dsse.stderr);
    const run = await custody(['run', '-n', 'build', '-k', at('alice'), '-p', 'out.txt', '-d', at('links'), '--', 'sh', '-c', 'echo built > out.txt'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
  });
  after(async () => {
    await mock.close();
    await otherMock.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('signs the DSSE payload --format dsse signs, as a Sigstore bundle v0.3 with a certificate and a tlog entry', async () => {
    const bundle = JSON.parse(await readFile(at('root.layout'), 'utf8'));
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.ok(bundle.verificationMaterial.certificate?.rawBytes, 'a Fulcio certificate');
    assert.equal(bundle.verificationMaterial.tlogEntries.length, 1);
    assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    assert.equal(bundle.dsseEnvelope.payload, JSON.parse(await readFile(at('key.layout'), 'utf8')).payload);
    // lint and graph read it like any signed layout
    assert.equal((await custody(['layout', 'lint', at('root.layout')])).code, 0);
    assert.match((await custody(['layout', 'graph', at('root.layout')])).stdout, /build/);
  });

  it('verify with the owner identity and --trusted-root passes', async () => {
    const r = await verify(owner());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const sig = r.report!.checks.find((c) => c.check === 'layout-signature')!;
    assert.deepEqual(sig.identities, [`${OWNER.subject} (issuer ${ISSUER})`]);
    assert.match(sig.message, /signed by https:\/\/ci\.test\/org\/policy\/.* \(issuer https:\/\/token\.ci\.test\) \(keyless\)/);
    const text = await custody(['verify', '--layout', at('root.layout'), '--link-dir', at('links'), ...owner()], { cwd: dir });
    assert.equal(text.code, 0, text.stdout + text.stderr);
  });

  it('a subject pattern (anchored) may name the owner', async () => {
    const ok = await verify(['--layout-issuer', ISSUER, '--layout-subject-pattern', 'https://ci\\.test/org/policy/.+@refs/heads/main', '--trusted-root', at('trusted_root.json')]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const partial = await verify(['--layout-issuer', ISSUER, '--layout-subject-pattern', 'https://ci\\.test/org/policy', '--trusted-root', at('trusted_root.json')]);
    assert.equal(partial.code, 1);
    assert.equal(partial.report!.failure!.code, 'LAYOUT_SIGNATURE');
  });

  it('a wrong subject fails LAYOUT_SIGNATURE naming the subject', async () => {
    const r = await verify(owner({ issuer: ISSUER, subject: 'https://ci.test/org/policy/.github/workflows/other.yml@refs/heads/main' }));
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual([r.report!.failure!.code, r.report!.failure!.check], ['LAYOUT_SIGNATURE', 'layout-signature']);
    assert.match(r.report!.failure!.message, /IDENTITY_MISMATCH: certificate identity https:\/\/ci\.test\/org\/policy\/.*release-layout\.yml.* is not trusted: subject .* is not https:\/\/ci\.test\/org\/policy\/.*other\.yml/);
  });

  it('a wrong issuer fails LAYOUT_SIGNATURE naming the issuer', async () => {
    const r = await verify(owner({ issuer: 'https://accounts.example.com', subject: OWNER.subject }));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report!.failure!.code, 'LAYOUT_SIGNATURE');
    assert.match(r.report!.failure!.message, /issuer https:\/\/token\.ci\.test is not https:\/\/accounts\.example\.com/);
  });

  it('a tampered payload in the bundle fails LAYOUT_SIGNATURE', async () => {
    const bundle = JSON.parse(await readFile(at('root.layout'), 'utf8'));
    const body = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    body.steps[0].expected_products = [['ALLOW', '*']];
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(body)).toString('base64');
    await writeFile(at('tampered.layout'), JSON.stringify(bundle));
    const r = await verify(owner(), 'tampered.layout');
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual([r.report!.failure!.code, r.report!.failure!.check], ['LAYOUT_SIGNATURE', 'layout-signature']);
    assert.match(r.report!.failure!.message, /No valid keyless signature by .*: (SIGNATURE_INVALID|TLOG_INVALID): /);
  });

  it('the trust root comes from --trusted-root only: another CA\'s root fails LAYOUT_SIGNATURE (CERTIFICATE_INVALID)', async () => {
    const r = await verify(['--layout-issuer', ISSUER, '--layout-subject', OWNER.subject, '--trusted-root', at('other_root.json')]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report!.failure!.code, 'LAYOUT_SIGNATURE');
    assert.match(r.report!.failure!.message, /CERTIFICATE_INVALID/);
  });

  it('a missing --trusted-root is bad input (exit 2)', async () => {
    const r = await verify(['--layout-issuer', ISSUER, '--layout-subject', OWNER.subject]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /^custody: a keyless layout owner needs --trusted-root FILE/);
    const none = await verify([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing --layout-issuer I --layout-subject S .*signed keylessly/);
  });

  it('layout sign with --key and --keyless is bad input (exit 2)', async () => {
    const r = await signKeyless('layout.yaml', 'both.layout', ['--key', at('owner')]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /give either --key or --keyless, not both/);
    const fmt = await signKeyless('layout.yaml', 'fmt.layout', ['--format', 'legacy']);
    assert.equal(fmt.code, 2);
    const flag = await custody(['layout', 'sign', '--key', at('owner'), '--fulcio-url', mock.fulcioURL, at('layout.yaml'), '-o', at('x.layout')]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--fulcio-url needs --keyless/);
    const add = await custody(['layout', 'sign', at('root.layout'), '--key', at('owner'), '-o', at('y.layout')]);
    assert.equal(add.code, 2);
    assert.match(add.stderr, /signed keylessly: a Sigstore bundle holds exactly one signature/);
  });

  it('keys and identities do not stand in for each other: each fails LAYOUT_SIGNATURE', async () => {
    const keyOnBundle = await verify(['--layout-key', at('owner.pub')]);
    assert.equal(keyOnBundle.code, 1, keyOnBundle.stderr);
    assert.equal(keyOnBundle.report!.failure!.code, 'LAYOUT_SIGNATURE');
    assert.match(keyOnBundle.report!.failure!.message, /No signature found for key/);
    const idOnKeyLayout = await verify(owner(), 'key.layout');
    assert.equal(idOnKeyLayout.code, 1, idOnKeyLayout.stderr);
    assert.equal(idOnKeyLayout.report!.failure!.code, 'LAYOUT_SIGNATURE');
    assert.match(idOnKeyLayout.report!.failure!.message, /No keyless signature found for .* \(the layout is not a Sigstore bundle\)/);
    // the key-signed DSSE layout still verifies with its key
    const keyed = await verify(['--layout-key', at('owner.pub')], 'key.layout');
    assert.equal(keyed.code, 0, keyed.stdout + keyed.stderr);
  });
});
