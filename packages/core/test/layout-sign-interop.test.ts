// `custody layout sign` writes layouts in-toto-verify 1.3.1 accepts (and custody verify agrees);
// extensions are refused in legacy layouts unless dropped, and kept (signed) in DSSE layouts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody, runCommand } from '../../../test/helpers/cli.ts';

let dir = '';

const LAYOUT = `
expires: 30d
readme: interop
keys: { bob: bob.pub }
steps:
  - name: build
    pubkeys: [bob]
    expected_command: cp src/a.txt out.txt
    expected_materials: [ALLOW src/*, DISALLOW *]
    expected_products:
      - CREATE out.txt
      - ALLOW src/*
      - DISALLOW *
    plugins: [git]
inspect:
  - name: check
    run: cat out.txt
    expected_materials:
      - MATCH out.txt WITH PRODUCTS FROM build
      - ALLOW *
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-layout-sign-'));
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'a.txt'), 'hello\n');
  for (const [name, type] of [['alice', 'rsa'], ['bob', 'ed25519'], ['carol', 'ed25519']]) {
    const r = await runCommand('in-toto-keygen', ['-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), name], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  }
  const run = await runCommand('in-toto-run', ['-n', 'build', '-k', 'bob', '-t', 'ed25519', '-m', 'src', '-p', 'src', 'out.txt', '--', 'cp', 'src/a.txt', 'out.txt'], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  await writeFile(join(dir, 'layout.yaml'), LAYOUT);
}, { timeout: 60_000 });

after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('legacy layouts: extensions are refused unless dropped; the signed layout verifies in both tools', { timeout: 60_000 }, async () => {
  const refused = await custody(['layout', 'sign', 'layout.yaml', '--key', 'alice', '-o', 'root.layout'], { cwd: dir });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /steps\[0\]\.plugins/);
  const signed = await custody(['layout', 'sign', 'layout.yaml', '--key', 'alice', '--drop-extensions', '-o', 'root.layout'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  const text = await readFile(join(dir, 'root.layout'), 'utf8');
  assert.ok(text.startsWith('{\n "signatures": [\n  {\n   "keyid": '), 'json.dumps(indent=1, sort_keys=True) style');
  const ref = await runCommand('in-toto-verify', ['--layout', 'root.layout', '--layout-keys', 'alice.pub'], { cwd: dir });
  assert.equal(ref.code, 0, ref.stderr);
  const ours = await custody(['verify', '--layout', 'root.layout', '--layout-key', 'alice.pub', '--json'], { cwd: dir });
  assert.equal(ours.code, 0, ours.stdout + ours.stderr);
  assert.equal(JSON.parse(ours.stdout).verdict, 'pass');

  // a second owner appends a signature; both tools then require both keys
  const second = await custody(['layout', 'sign', 'root.layout', '--key', 'carol', '-o', 'root2.layout'], { cwd: dir });
  assert.equal(second.code, 0, second.stderr);
  const ref2 = await runCommand('in-toto-verify', ['--layout', 'root2.layout', '--layout-keys', 'alice.pub', 'carol.pub', '--key-types', 'rsa', 'ed25519'], { cwd: dir });
  assert.equal(ref2.code, 0, ref2.stderr);
  const ours2 = await custody(['verify', '--layout', 'root2.layout', '--layout-key', 'alice.pub', '--layout-key', 'carol.pub'], { cwd: dir });
  assert.equal(ours2.code, 0, ours2.stdout + ours2.stderr);
  assert.match(ours2.stdout, /custody verify root2\.layout: PASS/);
});

test('DSSE layouts keep the extensions under the signature and verify', { timeout: 60_000 }, async () => {
  const signed = await custody(['layout', 'sign', 'layout.yaml', '--key', 'alice', '--format', 'dsse', '-o', 'root.dsse'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  const env = JSON.parse(await readFile(join(dir, 'root.dsse'), 'utf8'));
  assert.deepEqual(JSON.parse(Buffer.from(env.payload, 'base64').toString()).steps[0].plugins, ['git']);
  const ours = await custody(['verify', '--layout', 'root.dsse', '--layout-key', 'alice.pub', '--json'], { cwd: dir });
  assert.equal(ours.code, 0, ours.stdout + ours.stderr);
  const tampered = { ...env, payload: Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('"git"', '"evil"')).toString('base64') };
  await writeFile(join(dir, 'tampered.dsse'), JSON.stringify(tampered));
  const bad = await custody(['verify', '--layout', 'tampered.dsse', '--layout-key', 'alice.pub', '--json'], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.stdout).failure.code, 'LAYOUT_SIGNATURE');
});

test('lint, graph and bad input from the command line', { timeout: 60_000 }, async () => {
  const lint = await custody(['layout', 'lint', 'layout.yaml'], { cwd: dir });
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  await writeFile(join(dir, 'bad.yaml'), 'steps:\n  - name: x\n    pubkeys: [nobody.pub]\n    expected_products: [MATCH * FROM y]\n');
  const bad = await custody(['layout', 'lint', 'bad.yaml'], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /bad\.yaml: error steps\[0\]\.expected_products\[0\]: /);
  assert.match(bad.stdout, /bad\.yaml: error steps\[0\]\.pubkeys\[0\]: key nobody\.pub/);
  const graph = await custody(['layout', 'graph', 'layout.yaml', '--format', 'dot'], { cwd: dir });
  assert.equal(graph.code, 0);
  assert.match(graph.stdout, /^digraph layout \{/);
  await writeFile(join(dir, 'broken.yaml'), 'steps: [\n');
  const broken = await custody(['layout', 'lint', 'broken.yaml'], { cwd: dir });
  assert.equal(broken.code, 2);
  assert.equal(broken.stderr.trim().split('\n').length, 1);
  for (const args of [
    ['verify', '--layout', 'root.layout', '--layout-key', 'alice.pub', '--link-dir', 'no-such-dir'],
    ['verify', '--layout', 'root.layout', '--layout-key', 'layout.yaml'],
    ['verify', '--layout', 'layout.yaml', '--layout-key', 'alice.pub'],
  ]) {
    const r = await custody(args, { cwd: dir });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
