// The pure verifier, end to end on layouts and links made here with @custody/sign:
// every verification step and each failure code, with in-memory links and inspections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import {
  CustodyError, IN_TOTO_PAYLOAD_TYPE, linkFileName, normalizeLayout, normalizeLink, parseSignedFile, publicKeyFromPem,
  verifySupplyChain, type ArtifactMap, type InspectionRunner, type PublicKey, type VerifyInput,
} from '@custody/core';
import {
  generateKeyPair, inTotoDssePayload, serializeDsse, serializeMetablock, signDsse, signMetablock, signerFromKeyObject,
  type KeyType, type Signer,
} from '../../sign/src/index.ts';

interface Party { key: PublicKey; signer: Signer }
function party(type: KeyType): Party {
  const pair = generateKeyPair(type);
  const key = publicKeyFromPem(pair.publicPem);
  return { key, signer: signerFromKeyObject(createPrivateKey(pair.privatePem), key) };
}
const alice = party('ed25519');
const bob = party('ed25519');
const carl = party('ecdsa-p256');
const dan = party('ed25519');
const eve = party('ed25519');

const h = (c: string) => ({ sha256: c.repeat(64) });
const NOW = new Date('2030-06-01T00:00:00Z');
const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

function layoutBody(over: { packageKeys?: Party[]; threshold?: number; expires?: string; packageProducts?: string[][]; inspectRun?: string[] } = {}) {
  const pk = over.packageKeys ?? [carl];
  const keys: Record<string, unknown> = {};
  for (const p of [bob, ...pk]) keys[p.key.keyid] = p.key.sslib;
  return {
    _type: 'layout', expires: over.expires ?? '2031-01-01T00:00:00Z', readme: 'test', keys,
    steps: [
      {
        _type: 'step', name: 'build', threshold: 1, pubkeys: [bob.key.keyid], expected_command: ['make'],
        expected_materials: [['ALLOW', 'src/*'], ['DISALLOW', '*']],
        expected_products: [['CREATE', 'dist/*'], ['ALLOW', 'src/*'], ['DISALLOW', '*']],
      },
      {
        _type: 'step', name: 'package', threshold: over.threshold ?? 1, pubkeys: pk.map((p) => p.key.keyid), expected_command: ['tar', 'czf', 'pkg.tgz', 'dist'],
        expected_materials: [['MATCH', 'a.bin', 'IN', 'dist', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build'], ['DISALLOW', '*']],
        expected_products: over.packageProducts ?? [['CREATE', 'pkg.tgz'], ['DISALLOW', '*']],
      },
    ],
    inspect: [
      {
        _type: 'inspection', name: 'check', run: over.inspectRun ?? ['tar', 'xzf', 'pkg.tgz'],
        expected_materials: [['MATCH', 'pkg.tgz', 'WITH', 'PRODUCTS', 'FROM', 'package'], ['DISALLOW', '*']],
        expected_products: [['MATCH', '*', 'IN', 'dist', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build'], ['ALLOW', 'pkg.tgz'], ['DISALLOW', '*']],
      },
    ],
  };
}

function link(name: string, materials: ArtifactMap, products: ArtifactMap, command: string[] = []) {
  return normalizeLink({ _type: 'link', name, command, materials, products, byproducts: { stdout: 'line\nnext\t"q"', stderr: '', 'return-value': 0 }, environment: {} });
}
const BUILD = link('build', { 'src/a.c': h('1') }, { 'src/a.c': h('1'), 'dist/a.bin': h('2') }, ['make']);
const PACKAGE = link('package', { 'dist/a.bin': h('2') }, { 'pkg.tgz': h('3') }, ['tar', 'czf', 'pkg.tgz', 'dist']);

async function signedLayout(body: unknown, ...by: Party[]): Promise<string> {
  let mb;
  for (const p of by) mb = await signMetablock<unknown>(normalizeLayout(body), p.signer, mb);
  return serializeMetablock(mb!);
}
async function signedLink(body: unknown, by: Party): Promise<string> {
  return serializeMetablock(await signMetablock<unknown>(body, by.signer));
}

/** Inspection that "extracts" pkg.tgz: materials = pkg.tgz, products add dist/a.bin. */
const goodInspection: InspectionRunner = async () => ({
  exitCode: 0, stdout: '', stderr: '',
  materials: { 'pkg.tgz': h('3') }, products: { 'pkg.tgz': h('3'), 'dist/a.bin': h('2') },
});

async function chainFiles(over: Record<string, string | undefined> = {}): Promise<Map<string, string>> {
  const files = new Map<string, string>([
    [linkFileName('build', bob.key.keyid), await signedLink(BUILD, bob)],
    [linkFileName('package', carl.key.keyid), await signedLink(PACKAGE, carl)],
  ]);
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) files.delete(k); else files.set(k, v);
  }
  return files;
}

async function run(layoutText: string, files: Map<string, string>, extra: Partial<VerifyInput> = {}) {
  return verifySupplyChain({
    layout: parseSignedFile(layoutText, 'root.layout'), layoutKeys: [alice.key], now: NOW,
    links: { read: async (p) => files.get(p) }, runInspection: goodInspection, ...extra,
  });
}

test('a good chain passes and the report records every check in the reference order', async () => {
  const r = await run(await signedLayout(layoutBody(), alice), await chainFiles());
  assert.equal(r.verdict, 'pass', JSON.stringify(r.failure));
  assert.equal(r.failure, null);
  assert.deepEqual(r.warnings, []);
  const order = r.checks.map((c) => `${c.check}${c.step ? `:${c.step}` : ''}${c.side ? `:${c.side}` : ''}`);
  assert.deepEqual(order, [
    'layout-signature', 'layout-expiry', 'links:build', 'links:package', 'threshold:build', 'threshold:package',
    'artifact-rules:build:materials', 'artifact-rules:build:products', 'artifact-rules:package:materials', 'artifact-rules:package:products',
    'inspection:check', 'inspection-rules:check:materials', 'inspection-rules:check:products',
  ]);
  const pkgMaterials = r.checks.find((c) => c.check === 'artifact-rules' && c.step === 'package' && c.side === 'materials');
  assert.deepEqual(pkgMaterials?.rules?.[0].consumed, ['dist/a.bin']);
});

test('layout signatures: every given key must verify (LAYOUT_SIGNATURE)', async () => {
  const files = await chainFiles();
  const byBob = await run(await signedLayout(layoutBody(), bob), files);
  assert.equal(byBob.failure?.code, 'LAYOUT_SIGNATURE');
  assert.match(byBob.failure!.message, /^No signature found for key/);
  const two = await signedLayout(layoutBody(), alice, bob);
  assert.equal((await run(two, files, { layoutKeys: [alice.key, bob.key] })).verdict, 'pass');
  assert.equal((await run(await signedLayout(layoutBody(), alice), files, { layoutKeys: [alice.key, bob.key] })).failure?.code, 'LAYOUT_SIGNATURE');
  const edited = JSON.parse(await signedLayout(layoutBody(), alice));
  edited.signed.readme = 'changed';
  const e = await run(JSON.stringify(edited), files);
  assert.deepEqual([e.failure?.code, e.failure?.check], ['LAYOUT_SIGNATURE', 'layout-signature']);
  assert.match(e.failure!.message, /^Invalid signature for keyid/);
  assert.equal((await run(await signedLayout(layoutBody(), alice), files, { layoutKeys: [] })).failure?.code, 'LAYOUT_SIGNATURE');
});

test('unknown layout fields are dropped before checking the signature, as the reference model does', async () => {
  const text = JSON.parse(await signedLayout(layoutBody(), alice));
  text.signed.steps[0].plugins = ['git'];
  text.signed.extra = 1;
  const r = await run(JSON.stringify(text), await chainFiles());
  assert.equal(r.verdict, 'pass');
  assert.deepEqual(r.warnings, ['steps[0]: field(s) plugins of a legacy layout are not covered by its signature and were ignored']);
});

test('an expired layout fails after the signature check (LAYOUT_EXPIRED)', async () => {
  const r = await run(await signedLayout(layoutBody({ expires: '2030-05-31T23:59:59Z' }), alice), await chainFiles());
  assert.deepEqual([r.failure?.code, r.failure?.check, r.failure?.message], ['LAYOUT_EXPIRED', 'layout-expiry', 'Layout expired']);
});

test('fewer link files than the threshold is LINK_NOT_FOUND', async () => {
  const r = await run(await signedLayout(layoutBody(), alice), await chainFiles({ [linkFileName('build', bob.key.keyid)]: undefined }));
  assert.deepEqual([r.failure?.code, r.failure?.check, r.failure?.step], ['LINK_NOT_FOUND', 'links', 'build']);
  assert.equal(r.failure?.message, "Step 'build' requires '1' link metadata file(s), found '0'.");
});

test('links with bad or unauthorized signatures are dropped, then the threshold fails (THRESHOLD)', async () => {
  const layout = await signedLayout(layoutBody(), alice);
  const byEve = await run(layout, await chainFiles({ [linkFileName('package', carl.key.keyid)]: await signedLink(PACKAGE, eve) }));
  assert.deepEqual([byEve.failure?.code, byEve.failure?.check, byEve.failure?.step], ['THRESHOLD', 'threshold', 'package']);
  const edited = JSON.parse(await signedLink(PACKAGE, carl));
  edited.signed.products['pkg.tgz'].sha256 = '4'.repeat(64);
  const e = await run(layout, await chainFiles({ [linkFileName('package', carl.key.keyid)]: JSON.stringify(edited) }));
  assert.equal(e.failure?.code, 'THRESHOLD');
  const signers = e.checks.find((c) => c.check === 'threshold' && c.step === 'package')?.signers;
  assert.equal(signers?.[0].valid, false);
});

test('threshold 2: two keys pass, the same key twice does not, disagreeing links are LINKS_DISAGREE', async () => {
  const layout = await signedLayout(layoutBody({ packageKeys: [carl, dan], threshold: 2 }), alice);
  const good = await run(layout, await chainFiles({ [linkFileName('package', dan.key.keyid)]: await signedLink(PACKAGE, dan) }));
  assert.equal(good.verdict, 'pass', JSON.stringify(good.failure));
  const copied = await run(layout, await chainFiles({ [linkFileName('package', dan.key.keyid)]: await signedLink(PACKAGE, carl) }));
  assert.equal(copied.failure?.code, 'THRESHOLD');
  const one = await run(layout, await chainFiles());
  assert.equal(one.failure?.code, 'LINK_NOT_FOUND');
  const other = link('package', { 'dist/a.bin': h('2') }, { 'pkg.tgz': h('5') }, PACKAGE.command);
  const disagree = await run(layout, await chainFiles({ [linkFileName('package', dan.key.keyid)]: await signedLink(other, dan) }));
  assert.deepEqual([disagree.failure?.code, disagree.failure?.check], ['LINKS_DISAGREE', 'threshold-agreement']);
  assert.ok(disagree.failure?.message.includes(linkFileName('package', dan.key.keyid)));
});

test('a command that differs from expected_command is a warning only', async () => {
  const cmd = link('package', PACKAGE.materials, PACKAGE.products, ['tar', '-czvf', 'pkg.tgz', 'dist']);
  const r = await run(await signedLayout(layoutBody(), alice), await chainFiles({ [linkFileName('package', carl.key.keyid)]: await signedLink(cmd, carl) }));
  assert.equal(r.verdict, 'pass');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /Step 'package'.*run command '\['tar', '-czvf', 'pkg.tgz', 'dist'\]' differs from expected command/);
});

test('step rules: a material changed between steps fails MATCH/DISALLOW (ARTIFACT_RULE, artifact-rules)', async () => {
  const changed = link('package', { 'dist/a.bin': h('9') }, PACKAGE.products, PACKAGE.command);
  const r = await run(await signedLayout(layoutBody(), alice), await chainFiles({ [linkFileName('package', carl.key.keyid)]: await signedLink(changed, carl) }));
  assert.deepEqual([r.failure?.code, r.failure?.check, r.failure?.step], ['ARTIFACT_RULE', 'artifact-rules', 'package']);
  assert.equal(r.failure?.message, "'DISALLOW *' matched the following artifacts: ['dist/a.bin'] in materials of package");
  const req = await run(await signedLayout(layoutBody({ packageProducts: [['REQUIRE', 'pkg.zip']] }), alice), await chainFiles());
  assert.equal(req.failure?.code, 'ARTIFACT_RULE');
});

test('inspections: a non-zero exit is INSPECTION_FAILED; their rules fail as inspection-rules', async () => {
  const layout = await signedLayout(layoutBody(), alice);
  const files = await chainFiles();
  const failing = await run(layout, files, { runInspection: async () => ({ exitCode: 2, stdout: '', stderr: 'x', materials: {}, products: {} }) });
  assert.deepEqual([failing.failure?.code, failing.failure?.check, failing.failure?.step], ['INSPECTION_FAILED', 'inspection', 'check']);
  assert.equal(failing.failure?.message, "Got non-zero return value '2' from command '['tar', 'xzf', 'pkg.tgz']'.");
  const tampered = await run(layout, files, {
    runInspection: async () => ({ exitCode: 0, stdout: '', stderr: '', materials: { 'pkg.tgz': h('7') }, products: { 'pkg.tgz': h('7') } }),
  });
  assert.deepEqual([tampered.failure?.code, tampered.failure?.check], ['ARTIFACT_RULE', 'inspection-rules']);
  assert.match(tampered.failure!.message, /'DISALLOW \*' matched the following artifacts: \['pkg.tgz'\] in materials of check/);
  await assert.rejects(run(layout, files, { runInspection: undefined }), code('USAGE'));
});

test('parameters are substituted only when given; a missing one is bad input', async () => {
  const body = layoutBody({ packageProducts: [['CREATE', '{TARBALL}'], ['DISALLOW', '*']] });
  const layout = await signedLayout(body, alice);
  const files = await chainFiles();
  assert.equal((await run(layout, files, { params: { TARBALL: 'pkg.tgz' } })).verdict, 'pass');
  assert.equal((await run(layout, files, { params: { TARBALL: 'other.tgz' } })).failure?.code, 'ARTIFACT_RULE');
  await assert.rejects(run(layout, files, { params: {} }), code('USAGE'));
  // without params the braces stay literal, as in the reference
  assert.equal((await run(layout, files)).failure?.code, 'ARTIFACT_RULE');
});

test('a sublayout is verified recursively with its links in <step>.<keyid8>/ and summarized', async () => {
  const sub = {
    _type: 'layout', expires: '2031-01-01T00:00:00Z', readme: '', keys: { [dan.key.keyid]: dan.key.sslib },
    steps: [{ _type: 'step', name: 'tar', threshold: 1, pubkeys: [dan.key.keyid], expected_command: [], expected_materials: [['ALLOW', '*']], expected_products: [['CREATE', 'pkg.tgz'], ['DISALLOW', '*']] }],
    inspect: [],
  };
  const subLink = await signedLink(normalizeLayout(sub), carl);
  const dir = `package.${carl.key.keyid.slice(0, 8)}`;
  const tar = link('tar', PACKAGE.materials, PACKAGE.products, PACKAGE.command);
  const layout = await signedLayout(layoutBody(), alice);
  const files = await chainFiles({
    [linkFileName('package', carl.key.keyid)]: subLink,
    [`${dir}/${linkFileName('tar', dan.key.keyid)}`]: await signedLink(tar, dan),
  });
  const good = await run(layout, files);
  assert.equal(good.verdict, 'pass', JSON.stringify(good.failure));
  const entry = good.checks.find((c) => c.check === 'sublayout');
  assert.equal(entry?.linkDir, dir);
  assert.ok(entry?.checks?.some((c) => c.check === 'threshold' && c.step === 'tar'));
  files.delete(`${dir}/${linkFileName('tar', dan.key.keyid)}`);
  const missing = await run(layout, files);
  assert.deepEqual([missing.failure?.code, missing.failure?.check, missing.failure?.step], ['LINK_NOT_FOUND', 'links', 'tar']);
  assert.equal(missing.checks.find((c) => c.check === 'sublayout')?.verdict, 'fail');
  files.set(linkFileName('package', carl.key.keyid), await signedLink(normalizeLayout(sub), eve));
  assert.equal((await run(layout, files)).failure?.code, 'THRESHOLD');
});

test('DSSE links and layouts verify over the raw payload', async () => {
  const dsse = async (body: unknown, p: Party) => serializeDsse(await signDsse(inTotoDssePayload(body), IN_TOTO_PAYLOAD_TYPE, p.signer));
  const files = new Map([
    [linkFileName('build', bob.key.keyid), await dsse(BUILD, bob)],
    [linkFileName('package', carl.key.keyid), await dsse(PACKAGE, carl)],
  ]);
  const layout = await dsse(normalizeLayout(layoutBody()), alice);
  assert.equal((await run(layout, files)).verdict, 'pass');
  const env = JSON.parse(files.get(linkFileName('package', carl.key.keyid))!);
  const body = JSON.parse(Buffer.from(env.payload, 'base64').toString());
  body.products['pkg.tgz'].sha256 = '8'.repeat(64);
  env.payload = Buffer.from(JSON.stringify(body)).toString('base64');
  files.set(linkFileName('package', carl.key.keyid), JSON.stringify(env));
  assert.equal((await run(layout, files)).failure?.code, 'THRESHOLD');
});

test('a DSSE Statement with the link predicate v0.3 counts as the link', async () => {
  const desc = (m: ArtifactMap) => Object.entries(m).map(([name, digest]) => ({ name, digest }));
  const statement = {
    _type: 'https://in-toto.io/Statement/v1', subject: desc(PACKAGE.products), predicateType: 'https://in-toto.io/attestation/link/v0.3',
    predicate: { name: 'package', command: PACKAGE.command, materials: desc(PACKAGE.materials), byproducts: {}, environment: {} },
  };
  const env = await signDsse(Buffer.from(JSON.stringify(statement)), IN_TOTO_PAYLOAD_TYPE, carl.signer);
  const r = await run(await signedLayout(layoutBody(), alice), await chainFiles({ [linkFileName('package', carl.key.keyid)]: serializeDsse(env) }));
  assert.equal(r.verdict, 'pass', JSON.stringify(r.failure));
});

test('bad input throws an input error instead of a verdict', async () => {
  const layout = await signedLayout(layoutBody(), alice);
  await assert.rejects(run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: '{"signed": {"_typ' })), code('ENVELOPE_MALFORMED'));
  const badRule = JSON.parse(layout);
  badRule.signed.steps[0].expected_materials.push(['FOO', '*']);
  await assert.rejects(run(JSON.stringify(badRule), await chainFiles()), (e) => e instanceof CustodyError && e.code === 'RULE_SYNTAX' && e.exitCode === 2);
  const notLayout = JSON.parse(layout);
  notLayout.signed._type = 'link';
  await assert.rejects(run(JSON.stringify(notLayout), await chainFiles()), code('SCHEMA_INVALID'));
});

test('reports validate against schemas/verify-report.schema.json', async () => {
  const ajvModule = await import('ajv');
  const Ajv = ((ajvModule.default as unknown as { default?: unknown }).default ?? ajvModule.default) as unknown as new (o: object) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
  const { readFileSync } = await import('node:fs');
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/verify-report.schema.json', import.meta.url), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);
  const layout = await signedLayout(layoutBody(), alice);
  const reports = [
    await run(layout, await chainFiles()),
    await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: undefined })),
    await run(layout, await chainFiles(), { runInspection: async () => ({ exitCode: 1, stdout: '', stderr: '', materials: {}, products: {} }) }),
  ];
  for (const r of reports) assert.ok(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
});

test('UNAUTHORIZED_SIGNER: a link validly signed by a layout key that is not a functionary of the step names the expected functionaries', async () => {
  const layout = await signedLayout(layoutBody(), alice);
  // carl (package's functionary, a key of this layout) records build: build.<carl8>.link
  const byCarl = await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: undefined, [linkFileName('build', carl.key.keyid)]: await signedLink(BUILD, carl) }));
  assert.deepEqual([byCarl.failure?.code, byCarl.failure?.check, byCarl.failure?.step], ['UNAUTHORIZED_SIGNER', 'links', 'build']);
  assert.equal(byCarl.failure?.message, `Step 'build' requires '1' link metadata file(s), found '0'. ${linkFileName('build', carl.key.keyid)} is validly signed by ${carl.key.keyid.slice(0, 8)}, a key of this layout that is not a functionary of step 'build' (its functionaries: ${bob.key.keyid.slice(0, 8)}).`);
  assert.match(byCarl.failure!.hint!, new RegExp(`^What to do: have a functionary of build \\(${bob.key.keyid.slice(0, 8)}\\) run and sign the step`));
  // the same link filed under bob's name: at the threshold, same code
  const renamed = await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: await signedLink(BUILD, carl) }));
  assert.deepEqual([renamed.failure?.code, renamed.failure?.check, renamed.failure?.step], ['UNAUTHORIZED_SIGNER', 'threshold', 'build']);
  assert.match(renamed.failure!.message, /^Step 'build' requires at least '1' links validly signed by different authorized functionaries\. Only found '0' /);
  const signers = renamed.checks.find((c) => c.check === 'threshold' && c.step === 'build')?.signers;
  assert.deepEqual(signers?.map((s) => [s.valid, s.reason]), [[false, `validly signed by ${carl.key.keyid.slice(0, 8)}, a key of this layout that is not a functionary of this step`]]);
  // a key the layout does not know stays what the reference says: no link found, a signature that does not verify
  const byEve = await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: await signedLink(BUILD, eve) }));
  assert.deepEqual([byEve.failure?.code, byEve.failure?.check], ['THRESHOLD', 'threshold']);
  const eveOwn = await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: undefined, [linkFileName('build', eve.key.keyid)]: await signedLink(BUILD, eve) }));
  assert.deepEqual([eveOwn.failure?.code, eveOwn.failure?.check], ['LINK_NOT_FOUND', 'links']);
  // an unreadable stray file is no evidence and no input error
  const junk = await run(layout, await chainFiles({ [linkFileName('build', bob.key.keyid)]: undefined, [linkFileName('build', carl.key.keyid)]: '{not json' }));
  assert.deepEqual([junk.failure?.code, junk.failure?.check], ['LINK_NOT_FOUND', 'links']);
});
