// Issue 12 through the CLI: keyids come from key material, names that would make paths and
// deeply nested files are bad input naming the file, what `custody run` records is what the
// reference records (`__proto__`, `constructor`, backslashes), DSSE payloadType is checked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody } from '../helpers/cli.ts';
import { canonicalBytes, computeKeyid, parseSignedFile, type SslibKey } from '../../packages/core/src/index.ts';
import { loadSigner, signDsse, serializeDsse } from '../../packages/sign/src/index.ts';

let dir = '';
const ids: Record<string, string> = {};
const sslib: Record<string, SslibKey> = {};

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr:\n${stderr}`);
  return lines[0];
}

/** Signs `body` as given (no normalization): what a hand-made, validly signed file holds. */
async function rawMetablock(body: unknown, keys: string[]): Promise<string> {
  const signatures = [];
  for (const k of keys) {
    const signer = await loadSigner(join(dir, k));
    signatures.push({ keyid: signer.keyid, sig: (await signer.sign(canonicalBytes(body))).toString('hex') });
  }
  return JSON.stringify({ signatures, signed: body }, null, 1);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-trust-'));
  for (const name of ['owner', 'bob', 'carol']) {
    const r = await custody(['keygen', name], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const show = await custody(['key', 'show', `${name}.pub`], { cwd: dir });
    sslib[name] = JSON.parse(show.stdout) as SslibKey;
    ids[name] = sslib[name].keyid!;
  }
  // bob's key material, labelled with carol's keyid
  await writeFile(join(dir, 'bob-as-carol.json'), JSON.stringify({ ...sslib.bob, keyid: ids.carol }));
}, { timeout: 60_000 });

after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('key id, layout sign and lint: a key file labelled with another functionary\'s keyid is bad input', { timeout: 60_000 }, async () => {
  const id = await custody(['key', 'id', 'bob-as-carol.json'], { cwd: dir });
  assert.equal(id.code, 2);
  assert.match(oneLine(id.stderr), new RegExp(`^custody: bob-as-carol\\.json: .*says its keyid is "${ids.carol}", but its key material's keyid is ${ids.bob}`));
  await writeFile(join(dir, 'labelled.yaml'), `expires: 30d
keys: { bob: bob-as-carol.json, carol: carol.pub }
steps:
  - { name: build, pubkeys: [bob, carol], threshold: 2 }
`);
  const sign = await custody(['layout', 'sign', 'labelled.yaml', '--key', 'owner', '-o', 'labelled.layout'], { cwd: dir });
  assert.equal(sign.code, 2);
  assert.match(oneLine(sign.stderr), /bob-as-carol\.json: .*key material's keyid/);
  await assert.rejects(readFile(join(dir, 'labelled.layout')), 'nothing written');
  const lint = await custody(['layout', 'lint', 'labelled.yaml'], { cwd: dir });
  assert.equal(lint.code, 1, lint.stdout);
  assert.match(lint.stdout, /error keys\.bob: key bob-as-carol\.json: .*key material's keyid/);
});

test('one key under a made-up second keyid never meets threshold 2: lint flags it, sign refuses it, verify rejects it', { timeout: 60_000 }, async () => {
  const madeUp = 'cd'.repeat(32);
  const { keyid: _k, ...bobKey } = sslib.bob;
  void _k;
  const body = {
    _type: 'layout', expires: '2030-01-01T00:00:00Z', readme: '', inspect: [],
    keys: { [ids.bob]: bobKey, [madeUp]: { ...bobKey, keyid: madeUp } },
    steps: [{ _type: 'step', name: 'build', threshold: 2, pubkeys: [ids.bob, madeUp], expected_command: [], expected_materials: [], expected_products: [] }],
  };
  await writeFile(join(dir, 'twice.json'), JSON.stringify(body));
  const lint = await custody(['layout', 'lint', 'twice.json'], { cwd: dir });
  assert.equal(lint.code, 1, lint.stdout);
  assert.match(lint.stdout, new RegExp(`error keys\\.${madeUp}: holds the key whose keyid is ${ids.bob}`));
  assert.match(lint.stdout, /threshold 2 is more than the 1 distinct functionary/);
  const sign = await custody(['layout', 'sign', 'twice.json', '--key', 'owner', '-o', 'twice.layout'], { cwd: dir });
  assert.equal(sign.code, 2);
  assert.match(oneLine(sign.stderr), new RegExp(`twice\\.json: invalid layout: keys\\.${madeUp} holds the key whose keyid is ${ids.bob}`));

  // a hand-signed copy, and bob's link signed under both keyids
  const verifyDir = join(dir, 'twice');
  await mkdir(verifyDir);
  await writeFile(join(verifyDir, 'root.layout'), await rawMetablock(body, ['owner']));
  const link = { _type: 'link', name: 'build', command: [], materials: {}, products: {}, byproducts: {}, environment: {} };
  const bob = await loadSigner(join(dir, 'bob'));
  const sig = (await bob.sign(canonicalBytes(link))).toString('hex');
  for (const keyid of [ids.bob, madeUp]) {
    await writeFile(join(verifyDir, `build.${keyid.slice(0, 8)}.link`), JSON.stringify({ signatures: [{ keyid, sig }], signed: link }));
  }
  const verify = await custody(['verify', '--layout', 'root.layout', '--layout-key', join(dir, 'owner.pub')], { cwd: verifyDir });
  assert.equal(verify.code, 2, verify.stdout + verify.stderr);
  assert.match(oneLine(verify.stderr), new RegExp(`root\\.layout: invalid layout: keys\\.${madeUp}`));
});

test('custody run records __proto__, constructor and a\\b as the reference does; every rule sees them', { timeout: 60_000 }, async () => {
  const work = join(dir, 'work');
  await mkdir(join(work, 'dist'), { recursive: true });
  for (const f of ['__proto__', 'constructor', 'dist\\evil.bin', 'dist/ok.bin']) await writeFile(join(work, f), `${f}\n`);
  const run = await custody(['run', '--step', 'build', '--key', join(dir, 'bob'), '--products', '.', '--no-command'], { cwd: work });
  assert.equal(run.code, 0, run.stderr);
  const linkName = `build.${ids.bob.slice(0, 8)}.link`;
  const signed = parseSignedFile(await readFile(join(work, linkName), 'utf8'), linkName);
  const products = (signed.body as { products: Record<string, unknown> }).products;
  assert.deepEqual(Object.keys(products).sort(), ['__proto__', 'constructor', 'dist/evil.bin', 'dist/ok.bin']);

  const layoutFor = (rules: string) => `expires: 30d
keys: [${join(dir, 'bob.pub')}]
steps:
  - { name: build, pubkeys: [bob], expected_products: ${rules} }
`;
  for (const [name, rules, artifact] of [
    ['dist', '[ALLOW __proto__, ALLOW constructor, DISALLOW dist/*]', 'dist/evil.bin'],
    ['proto', '[ALLOW dist/*, DISALLOW *]', '__proto__'],
  ] as const) {
    await writeFile(join(work, `${name}.yaml`), layoutFor(rules));
    const s = await custody(['layout', 'sign', `${name}.yaml`, '--key', join(dir, 'owner'), '-o', `${name}.layout`], { cwd: work });
    assert.equal(s.code, 0, s.stderr);
    const v = await custody(['verify', '--layout', `${name}.layout`, '--layout-key', join(dir, 'owner.pub'), '--json'], { cwd: work });
    assert.equal(v.code, 1, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout) as { failure: { code: string; message: string } };
    assert.equal(report.failure.code, 'ARTIFACT_RULE');
    assert.ok(report.failure.message.includes(artifact), report.failure.message);
  }
});

test('step names that would make a path are bad input before anything runs or is written', { timeout: 60_000 }, async () => {
  const work = join(dir, 'names');
  await mkdir(work);
  for (const step of ['../escape', 'a/b', '..', 'a\\b']) {
    const r = await custody(['run', '--step', step, '--key', join(dir, 'bob'), '--products', '.', '--', 'touch', 'ran'], { cwd: work });
    assert.equal(r.code, 2, `${step}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), /step names become file names/);
  }
  assert.deepEqual(await readdir(work), [], 'the command did not run, no link was written');
  assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('escape')), []);
});

test('a deeply nested link file is bad input naming it; so is a deep layout', { timeout: 60_000 }, async () => {
  const work = join(dir, 'deep');
  await mkdir(work);
  await writeFile(join(work, 'layout.yaml'), `expires: 30d
keys: [${join(dir, 'bob.pub')}]
steps:
  - { name: build, pubkeys: [bob] }
`);
  assert.equal((await custody(['layout', 'sign', 'layout.yaml', '--key', join(dir, 'owner'), '-o', 'root.layout'], { cwd: work })).code, 0);
  const linkName = `build.${ids.bob.slice(0, 8)}.link`;
  await writeFile(join(work, linkName), `{"signatures":[],"signed":{"_type":"link","name":"build","environment":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`);
  const v = await custody(['verify', '--layout', 'root.layout', '--layout-key', join(dir, 'owner.pub')], { cwd: work });
  assert.equal(v.code, 2, v.stdout + v.stderr);
  assert.match(oneLine(v.stderr), new RegExp(`${linkName.replace('.', '\\.')}: .*nested more than 512 levels`));
  assert.doesNotMatch(v.stderr, /RangeError|call stack/);
  await writeFile(join(work, 'deep.json'), `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`);
  const lint = await custody(['layout', 'lint', 'deep.json'], { cwd: work });
  assert.equal(lint.code, 2);
  assert.match(oneLine(lint.stderr), /deep\.json: .*nested more than/);
});

test('a DSSE layout or link with another payloadType fails PAYLOAD_TYPE', { timeout: 60_000 }, async () => {
  const work = join(dir, 'dsse');
  await mkdir(work);
  await writeFile(join(work, 'layout.yaml'), `expires: 30d
keys: [${join(dir, 'bob.pub')}]
steps:
  - { name: build, pubkeys: [bob] }
`);
  assert.equal((await custody(['layout', 'sign', 'layout.yaml', '--format', 'dsse', '--key', join(dir, 'owner'), '-o', 'good.layout'], { cwd: work })).code, 0);
  const good = parseSignedFile(await readFile(join(work, 'good.layout'), 'utf8'), 'good.layout');
  assert.equal(good.format, 'dsse');
  if (good.format !== 'dsse') return;
  const owner = await loadSigner(join(dir, 'owner'));
  await writeFile(join(work, 'root.layout'), serializeDsse(await signDsse(good.payloadBytes, 'application/json', owner)));
  const v = await custody(['verify', '--layout', 'root.layout', '--layout-key', join(dir, 'owner.pub')], { cwd: work });
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.match(oneLine(v.stderr), /root\.layout: DSSE payloadType is "application\/json", not application\/vnd\.in-toto\+json/);
  const add = await custody(['layout', 'sign', 'root.layout', '--key', join(dir, 'carol'), '-o', 'more.layout'], { cwd: work });
  assert.equal(add.code, 1);
  assert.match(oneLine(add.stderr), /payloadType/);
  // `custody key id` of a fine key still prints the computed keyid
  const id = await custody(['key', 'id', join(dir, 'bob.pub')]);
  assert.equal(id.stdout.trim(), computeKeyid(sslib.bob));
});
