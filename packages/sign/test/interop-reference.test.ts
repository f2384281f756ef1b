// Key and signature interop with the in-toto python reference (Debian in-toto 1.3.1,
// securesystemslib 0.26): keyids agree, the reference verifies what custody signs, custody
// verifies what in-toto-run signs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError, linkFileName, normalizeLink, parseSignedFile, verifySignedFile } from '@custody/core';
import {
  generateKeyPair, inTotoDssePayload, loadPublicKey, loadSigner, serializeDsse, serializeMetablock, signDsse, signMetablock, writeKeyPair,
  type KeyType,
} from '@custody/sign';
import { runCommand, SYSTEM_PYTHON } from '../../../test/helpers/cli.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'custody-interop-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function python(script: string, args: string[]): Promise<string> {
  const r = await runCommand(SYSTEM_PYTHON, ['-c', script, ...args]);
  assert.equal(r.code, 0, `python failed: ${r.stderr}`);
  return r.stdout;
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const r = await runCommand(cmd, args, { cwd });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

// The reference's own ways to import each kind of public key, printing {path: keyid}.
const REFERENCE_KEYIDS = `
import json, sys
from securesystemslib import interface, keys
out = {}
for kind, path, arg in json.loads(sys.argv[1]):
    if kind == 'rsa-pem':
        k = interface.import_rsa_publickey_from_file(path)
    elif kind == 'ed25519-json':
        k = interface.import_ed25519_publickey_from_file(path)
    elif kind == 'ecdsa-json':
        k = interface.import_ecdsa_publickey_from_file(path)
    elif kind == 'ecdsa-pem':
        k = keys.import_ecdsakey_from_pem(open(path).read(), scheme=arg)
    elif kind == 'sslib-dict':
        d = json.load(open(path)); d.pop('keyid', None)
        k, _ = keys.format_metadata_to_key(d)
    elif kind == 'private':
        k = interface.import_privatekey_from_file(path, key_type=arg[0], password=arg[1])
    out[path] = k['keyid']
print(json.dumps(out))
`;

// Loads a metablock with the reference model and verifies it with a key imported the reference's way.
const REFERENCE_VERIFY = `
import json, sys
from in_toto.models.metadata import Metablock
from in_toto.exceptions import SignatureVerificationError
from securesystemslib import interface, keys
out = {}
for link, kind, path, arg in json.loads(sys.argv[1]):
    if kind == 'rsa-pem':
        k = interface.import_rsa_publickey_from_file(path)
    elif kind == 'ecdsa-pem':
        k = keys.import_ecdsakey_from_pem(open(path).read(), scheme=arg)
    elif kind == 'sslib-dict':
        d = json.load(open(path)); d.pop('keyid', None)
        k, _ = keys.format_metadata_to_key(d)
    else:
        k = interface.import_publickeys_from_file([path], [arg])
        k = list(k.values())[0]
    mb = Metablock.load(link)
    try:
        mb.verify_signature(k)
        out[link] = 'valid'
    except SignatureVerificationError as e:
        out[link] = 'invalid'
print(json.dumps(out))
`;

const STDOUT = 'line one\nz\u00fcrich \u2713 \u{1F600} "quoted" \\ back\n\ttabbed\n';

function trickyLink(name: string) {
  return normalizeLink({
    _type: 'link', name, command: ['sh', '-c', 'printf "\u00e9"'],
    materials: { 'src/\u00e9t\u00e9.txt': { sha256: 'ab'.repeat(32) } },
    products: { 'out/a b.tar.gz': { sha256: 'cd'.repeat(32), sha512: 'ef'.repeat(64) } },
    byproducts: { 'return-value': 0, stderr: 'warn\r\n', stdout: STDOUT },
    environment: {},
  });
}

test('in-toto-keygen keys (plain and encrypted): custody computes the same keyids and signs with the stored keyid', async () => {
  const kg = join(dir, 'keygen');
  await mkdir(kg);
  for (const t of ['rsa', 'ed25519', 'ecdsa']) await run('in-toto-keygen', ['-t', t, `k_${t}`], kg);
  // encrypted key files (what in-toto-keygen -p writes) through the same python API
  await python(`
import sys
from securesystemslib import interface
d = sys.argv[1]
interface._generate_and_write_rsa_keypair(filepath=d + '/e_rsa', bits=2048, password='pw \u00e9')
interface._generate_and_write_ed25519_keypair(filepath=d + '/e_ed25519', password='pw \u00e9')
interface._generate_and_write_ecdsa_keypair(filepath=d + '/e_ecdsa', password='pw \u00e9')
`, [kg]);
  const p = (n: string) => join(kg, n);
  const spec = [
    ['rsa-pem', p('k_rsa.pub'), null], ['ed25519-json', p('k_ed25519.pub'), null], ['ecdsa-json', p('k_ecdsa.pub'), null],
    ['rsa-pem', p('e_rsa.pub'), null], ['ed25519-json', p('e_ed25519.pub'), null], ['ecdsa-json', p('e_ecdsa.pub'), null],
    ['private', p('k_rsa'), ['rsa', null]], ['private', p('k_ed25519'), ['ed25519', null]], ['private', p('k_ecdsa'), ['ecdsa', null]],
    ['private', p('e_rsa'), ['rsa', 'pw \u00e9']], ['private', p('e_ed25519'), ['ed25519', 'pw \u00e9']], ['private', p('e_ecdsa'), ['ecdsa', 'pw \u00e9']],
  ];
  const ref = JSON.parse(await python(REFERENCE_KEYIDS, [JSON.stringify(spec)])) as Record<string, string>;
  for (const t of ['rsa', 'ed25519', 'ecdsa']) {
    assert.equal((await loadPublicKey(p(`k_${t}.pub`))).keyid, ref[p(`k_${t}.pub`)], `k_${t}.pub`);
    assert.equal((await loadPublicKey(p(`e_${t}.pub`))).keyid, ref[p(`e_${t}.pub`)], `e_${t}.pub`);
    assert.equal((await loadSigner(p(`k_${t}`))).keyid, ref[p(`k_${t}`)], `k_${t}`);
    assert.equal((await loadSigner(p(`e_${t}`), { passphrase: 'pw \u00e9' })).keyid, ref[p(`e_${t}`)], `e_${t}`);
    await assert.rejects(loadSigner(p(`e_${t}`), { passphrase: 'wrong' }), (e: unknown) => e instanceof CustodyError && e.code === 'KEY_PASSPHRASE');
    await assert.rejects(loadSigner(p(`e_${t}`)), (e: unknown) => e instanceof CustodyError && e.code === 'KEY_PASSPHRASE');
    assert.equal(ref[p(`k_${t}`)], ref[p(`k_${t}.pub`)]);
  }

  // custody signs with in-toto-keygen keys; the reference verifies
  const jobs: unknown[] = [];
  for (const [t, pass] of [['rsa', undefined], ['ed25519', undefined], ['ecdsa', undefined], ['ed25519', 'pw \u00e9'], ['ecdsa', 'pw \u00e9']] as const) {
    const stem = pass ? `e_${t}` : `k_${t}`;
    const signer = await loadSigner(p(stem), { passphrase: pass });
    const mb = await signMetablock(trickyLink(`by-${stem}`), signer);
    const link = join(kg, linkFileName(`by-${stem}`, signer.keyid));
    await writeFile(link, serializeMetablock(mb));
    jobs.push([link, t === 'rsa' ? 'rsa-pem' : 'json', p(`${stem}.pub`), t]);
  }
  const verdicts = JSON.parse(await python(REFERENCE_VERIFY, [JSON.stringify(jobs)])) as Record<string, string>;
  assert.deepEqual(Object.values(verdicts), jobs.map(() => 'valid'));
});

test('custody-generated keys: the reference computes the same keyid and verifies custody metablocks; tampering fails', async () => {
  const ck = join(dir, 'custody');
  await mkdir(ck);
  const types: [KeyType, string, string | null][] = [
    ['ed25519', 'sslib-dict', null], ['ecdsa-p256', 'ecdsa-pem', 'ecdsa-sha2-nistp256'],
    ['ecdsa-p384', 'ecdsa-pem', 'ecdsa-sha2-nistp384'], ['rsa', 'rsa-pem', null],
  ];
  const keyidJobs: unknown[] = [];
  const verifyJobs: unknown[] = [];
  const expectedKeyids: Record<string, string> = {};
  const expectedVerdicts: Record<string, string> = {};
  for (const [type, kind, scheme] of types) {
    const pair = generateKeyPair(type, { passphrase: type === 'rsa' ? 'pw' : undefined });
    const { privatePath, publicPath } = await writeKeyPair(join(ck, type), pair);
    const signer = await loadSigner(privatePath, { passphrase: type === 'rsa' ? 'pw' : undefined });
    // ed25519 has no PEM import in securesystemslib 0.26: the reference gets custody's sslib dict
    const keyPath = kind === 'sslib-dict' ? `${publicPath}.json` : publicPath;
    if (kind === 'sslib-dict') await writeFile(keyPath, JSON.stringify(signer.publicKey.sslib));
    keyidJobs.push([kind, keyPath, scheme]);
    expectedKeyids[keyPath] = pair.keyid;

    const mb = await signMetablock(trickyLink(`step-${type}`), signer);
    const link = join(ck, linkFileName(`step-${type}`, signer.keyid));
    await writeFile(link, serializeMetablock(mb));
    const tampered = join(ck, `tampered-${type}.link`);
    await writeFile(tampered, serializeMetablock({ ...mb, signed: { ...mb.signed, byproducts: { ...mb.signed.byproducts, stdout: STDOUT.replace('\u00fc', 'u') } } }));
    for (const [f, verdict] of [[link, 'valid'], [tampered, 'invalid']]) {
      verifyJobs.push([f, kind, keyPath, scheme]);
      expectedVerdicts[f] = verdict;
    }
  }
  assert.deepEqual(JSON.parse(await python(REFERENCE_KEYIDS, [JSON.stringify(keyidJobs)])), expectedKeyids);
  assert.deepEqual(JSON.parse(await python(REFERENCE_VERIFY, [JSON.stringify(verifyJobs)])), expectedVerdicts);
});

test('links recorded by in-toto-run (rsa, ed25519, ecdsa; raw newlines and non-ASCII in stdout) verify in custody', async () => {
  const work = join(dir, 'run');
  await mkdir(work);
  await writeFile(join(work, 'input.txt'), 'data\n');
  for (const t of ['rsa', 'ed25519', 'ecdsa']) await run('in-toto-keygen', ['-t', t, `k_${t}`], work);
  for (const t of ['rsa', 'ed25519', 'ecdsa']) {
    const pub = await loadPublicKey(join(work, `k_${t}.pub`));
    await run('in-toto-run', [
      '-n', `step-${t}`, '-k', `k_${t}`, '-t', t, '-m', 'input.txt', '-p', 'input.txt', '-s', '--',
      'printf', 'line1\\nz\\303\\274rich \\342\\234\\223 "q" \\\\ \\360\\237\\230\\200\\n',
    ], work);
    const linkPath = join(work, linkFileName(`step-${t}`, pub.keyid));
    const text = await readFile(linkPath, 'utf8');
    const file = parseSignedFile(text, linkPath);
    assert.equal(file.format, 'metablock');
    const body = normalizeLink(file.body, linkPath);
    assert.equal(body.byproducts.stdout, 'line1\nz\u00fcrich \u2713 "q" \\ \u{1F600}\n');
    assert.equal(verifySignedFile(file, pub), true, `in-toto-run ${t}`);
    // flip one character of the recorded stdout: the signature no longer holds
    const tampered = text.replace('line1', 'line2');
    assert.notEqual(tampered, text);
    assert.equal(verifySignedFile(parseSignedFile(tampered, linkPath), pub), false, `tampered ${t}`);
    // another key does not verify it
    const other = await loadPublicKey(join(work, `k_${t === 'rsa' ? 'ed25519' : 'rsa'}.pub`));
    assert.equal(verifySignedFile(file, other), false);
  }
});

test('in-toto-run signs with custody-generated RSA keys (PKCS#8, plain and encrypted) under the same keyid', async () => {
  const work = join(dir, 'run-custody-rsa');
  await mkdir(work);
  for (const passphrase of [undefined, 'pw \u00e9']) {
    const name = passphrase ? 'enc' : 'plain';
    const pair = generateKeyPair('rsa', { passphrase });
    await writeKeyPair(join(work, name), pair);
    await run('in-toto-run', ['-n', `s-${name}`, '-k', name, ...(passphrase ? ['-P', passphrase] : []), '-s', '--', 'printf', 'ok\\n'], work);
    const linkPath = join(work, linkFileName(`s-${name}`, pair.keyid));
    const file = parseSignedFile(await readFile(linkPath, 'utf8'), linkPath);
    assert.equal(verifySignedFile(file, await loadPublicKey(join(work, `${name}.pub`))), true, name);
  }
});

test('serialization is byte-identical to the reference: metablock (1.3.1 dump) and DSSE payload (1.4 json.dumps)', async () => {
  const work = join(dir, 'serialize');
  await mkdir(work);
  const pair = generateKeyPair('ed25519');
  await writeKeyPair(join(work, 'k'), pair);
  const signer = await loadSigner(join(work, 'k'));
  const body = { ...trickyLink('ser'), environment: { nested: { '\u00e9': [1, -2, true, null, ''] }, b: 'x' } };
  const ours = join(work, 'ours.link');
  await writeFile(ours, serializeMetablock(await signMetablock(body, signer)));
  const out = await python(`
import json, sys
from in_toto.models.metadata import Metablock
mb = Metablock.load(sys.argv[1])
mb.dump(sys.argv[2])
sys.stdout.write(json.dumps(json.load(open(sys.argv[1], encoding='utf8'))['signed'], sort_keys=True))
`, [ours, join(work, 'theirs.link')]);
  assert.equal(await readFile(join(work, 'theirs.link'), 'utf8'), await readFile(ours, 'utf8'));
  assert.equal(inTotoDssePayload(body).toString('utf8'), out);
  const env = await signDsse(inTotoDssePayload(body), 'application/vnd.in-toto+json', signer);
  const text = serializeDsse(env);
  assert.ok(!text.includes('\n') && text.startsWith('{"payload": "'));
  assert.equal(verifySignedFile(parseSignedFile(text, 'x'), signer.publicKey), true);
});
