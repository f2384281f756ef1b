// `custody keygen`, `custody key id|show`, `custody link show` through the built CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, linkFileName, normalizeLink } from '@custody/core';
import { loadSigner, serializeDsse, serializeMetablock, signDsse, signMetablock } from '@custody/sign';
import { custody, type RunResult } from '../../../test/helpers/cli.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'custody-cli-keys-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

function oneErrorLine(r: RunResult, exit: number, ...parts: string[]): void {
  assert.equal(r.code, exit, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^custody: /);
  for (const p of parts) assert.ok(lines[0].includes(p), `${lines[0]} should mention ${p}`);
}

test('keygen writes NAME (0600 PKCS#8) and NAME.pub, prints keyid and paths, never private material', async () => {
  const r = await custody(['keygen', 'alice'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const keyid = /keyid:\s+([0-9a-f]{64})/.exec(r.stdout)?.[1];
  assert.ok(keyid, r.stdout);
  assert.ok(r.stdout.includes('alice') && r.stdout.includes('alice.pub'));
  assert.ok(!/PRIVATE|BEGIN/.test(r.stdout + r.stderr));
  assert.equal((await stat(join(dir, 'alice'))).mode & 0o777, 0o600);
  assert.match(await readFile(join(dir, 'alice'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(await readFile(join(dir, 'alice.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  for (const f of ['alice.pub', 'alice']) {
    const id = await custody(['key', 'id', f], { cwd: dir });
    assert.equal(id.code, 0, id.stderr);
    assert.equal(id.stdout, `${keyid}\n`);
  }
  const show = await custody(['key', 'show', 'alice.pub'], { cwd: dir });
  const sslib = JSON.parse(show.stdout);
  assert.equal(sslib.keytype, 'ed25519');
  assert.equal(sslib.keyid, keyid);
  // refuses to replace an existing key
  oneErrorLine(await custody(['keygen', 'alice'], { cwd: dir }), 2, 'alice', 'already exists');
  const forced = await custody(['keygen', '--force', '--type', 'ecdsa-p256', 'alice'], { cwd: dir });
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(/keyid:\s+([0-9a-f]{64})/.exec(forced.stdout)?.[1], keyid);
});

test('keygen --passphrase-file encrypts; key id needs the passphrase for the private file', async () => {
  await writeFile(join(dir, 'pw'), 'hunter2\n');
  await writeFile(join(dir, 'wrong'), 'hunter3\n');
  const r = await custody(['keygen', '--type', 'ecdsa-p384', '--passphrase-file', 'pw', 'bob'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const keyid = /keyid:\s+([0-9a-f]{64})/.exec(r.stdout)![1];
  assert.match(await readFile(join(dir, 'bob'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  oneErrorLine(await custody(['key', 'id', 'bob'], { cwd: dir }), 2, 'bob', 'encrypted');
  oneErrorLine(await custody(['key', 'id', 'bob', '--passphrase-file', 'wrong'], { cwd: dir }), 2, 'bob', 'wrong passphrase');
  const ok = await custody(['key', 'id', 'bob', '--passphrase-file', 'pw'], { cwd: dir });
  assert.equal(ok.stdout, `${keyid}\n`);
  oneErrorLine(await custody(['keygen', '--passphrase-file', 'missing-pw', 'carol'], { cwd: dir }), 2, 'missing-pw', 'no such file');
});

test('key id on bad input: one line naming the file, exit 2', async () => {
  oneErrorLine(await custody(['key', 'id', 'nope.pub'], { cwd: dir }), 2, 'nope.pub', 'no such file');
  await writeFile(join(dir, 'text.pub'), 'hello\n');
  oneErrorLine(await custody(['key', 'id', 'text.pub'], { cwd: dir }), 2, 'text.pub', 'not a key');
  const { generateKeyPairSync } = await import('node:crypto');
  await writeFile(join(dir, 'p521.pub'), generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'pem', type: 'spki' }));
  oneErrorLine(await custody(['key', 'id', 'p521.pub'], { cwd: dir }), 2, 'p521.pub', 'unsupported');
  oneErrorLine(await custody(['keygen', '--type', 'dsa', 'x'], { cwd: dir }), 2);
  oneErrorLine(await custody(['keygen', 'no/such/dir/k'], { cwd: dir }), 2, 'no/such/dir/k', 'cannot write');
});

test('link show prints the link and checks signatures: 0 valid, 1 invalid, 2 bad input', async () => {
  const k = await custody(['keygen', '--type', 'rsa', 'fn'], { cwd: dir });
  assert.equal(k.code, 0, k.stderr);
  await custody(['keygen', 'other'], { cwd: dir });
  const signer = await loadSigner(join(dir, 'fn'));
  const body = normalizeLink({
    name: 'package', command: ['tar', 'czf', 'out.tar.gz', 'src dir'],
    materials: { 'src/\u00e9.py': { sha256: 'ab'.repeat(32) } }, products: { 'out.tar.gz': { sha256: 'cd'.repeat(32) } },
    byproducts: { 'return-value': 0, stdout: 'first\nz\u00fcrich\n', stderr: '\u001b[31mred' },
  });
  const linkName = linkFileName('package', signer.keyid);
  await writeFile(join(dir, linkName), serializeMetablock(await signMetablock(body, signer)));

  const shown = await custody(['link', 'show', linkName], { cwd: dir });
  assert.equal(shown.code, 0, shown.stderr);
  for (const s of ['package', 'tar czf out.tar.gz "src dir"', 'src/\u00e9.py', `sha256:${'ab'.repeat(32)}`, 'out.tar.gz', '| first', '| z\u00fcrich', '\\x1b[31mred', signer.keyid]) {
    assert.ok(shown.stdout.includes(s), `missing ${s} in\n${shown.stdout}`);
  }
  const valid = await custody(['link', 'show', linkName, '--key', 'fn.pub'], { cwd: dir });
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /signature check: valid/);

  const json = await custody(['link', 'show', linkName, '--key', 'fn.pub', '--json'], { cwd: dir });
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.format, 'metablock');
  assert.deepEqual(doc.link, body);
  assert.deepEqual(doc.signature, { keyid: signer.keyid, valid: true });

  oneErrorLine(await custody(['link', 'show', linkName, '--key', 'other.pub'], { cwd: dir }), 1, linkName, 'not signed by key');
  const text = await readFile(join(dir, linkName), 'utf8');
  await writeFile(join(dir, 'tampered.link'), text.replace('z\\u00fcrich', 'zurich'));
  oneErrorLine(await custody(['link', 'show', 'tampered.link', '--key', 'fn.pub'], { cwd: dir }), 1, 'tampered.link', 'does not verify');

  // DSSE envelope
  const env = await signDsse(Buffer.from(JSON.stringify(body)), IN_TOTO_PAYLOAD_TYPE, signer);
  await writeFile(join(dir, 'dsse.link'), serializeDsse(env));
  const d = await custody(['link', 'show', 'dsse.link', '--key', 'fn.pub'], { cwd: dir });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /DSSE \(application\/vnd\.in-toto\+json\)/);

  // bad input
  oneErrorLine(await custody(['link', 'show', 'missing.link'], { cwd: dir }), 2, 'missing.link', 'no such file');
  await writeFile(join(dir, 'garbage.link'), '{"hello": 1}');
  oneErrorLine(await custody(['link', 'show', 'garbage.link'], { cwd: dir }), 2, 'garbage.link');
  oneErrorLine(await custody(['link', 'show', linkName, '--key', 'missing.pub'], { cwd: dir }), 2, 'missing.pub');
});
