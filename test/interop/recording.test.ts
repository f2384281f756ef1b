// Issue 2 interop: links recorded by custody verify with in-toto-verify 1.3.1, and links
// recorded by in-toto-run / in-toto-record are read and checked by `custody link show`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody, runCommand, type RunResult } from '../helpers/cli.ts';
import { describeRun, limited, reference, referenceCheckDsse, referenceDemoLayout } from '../helpers/interop.ts';

const FOO_V0 = 'VERSION = "foo-v0"\n\nprint("Hello in-toto")\n';
const TAR = ['tar', '--exclude', '.git', '-zcvf', 'demo-project.tar.gz', 'demo-project'];

function ok(label: string, r: RunResult): RunResult {
  assert.equal(r.code, 0, describeRun(label, r));
  return r;
}

const run = (args: string[], cwd: string) => limited(() => custody(args, { cwd }));

/** Records clone -> update-version -> package with custody in root/ws; returns the link files. */
async function recordDemoWithCustody(root: string, bobKey: string, carlKey: string): Promise<{ ws: string; links: string[] }> {
  await mkdir(join(root, 'origin', 'demo-project'), { recursive: true });
  await writeFile(join(root, 'origin', 'demo-project', 'foo.py'), FOO_V0);
  const ws = join(root, 'ws');
  await mkdir(ws);
  ok('custody run clone', await run(['run', '--step', 'clone', '--key', bobKey, '--products', 'demo-project', '--',
    'cp', '-r', '../origin/demo-project', 'demo-project'], ws));
  // update-version is observed, not wrapped, as in the in-toto demo.
  ok('custody record start', await run(['record', 'start', '--step', 'update-version', '--key', bobKey,
    '--materials', 'demo-project'], ws));
  const foo = join(ws, 'demo-project', 'foo.py');
  await writeFile(foo, (await readFile(foo, 'utf8')).replace('foo-v0', 'foo-v1'));
  ok('custody record stop', await run(['record', 'stop', '--step', 'update-version', '--key', bobKey,
    '--products', 'demo-project'], ws));
  ok('custody run package', await run(['run', '--step', 'package', '--key', carlKey, '--materials', 'demo-project',
    '--products', 'demo-project.tar.gz', '--', ...TAR], ws));
  const links = (await readdir(ws)).filter((f) => f.endsWith('.link')).sort();
  return { ws, links };
}

/** The demo's final-product directory: layout, owner key, tarball and links. */
async function finalProductDir(dest: string, ws: string, links: string[], layout: string, ownerPub: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  for (const l of links) await cp(join(ws, l), join(dest, l));
  await cp(join(ws, 'demo-project.tar.gz'), join(dest, 'demo-project.tar.gz'));
  await cp(layout, join(dest, 'root.layout'));
  await cp(ownerPub, join(dest, 'alice.pub'));
  return dest;
}

describe('interop with the in-toto 1.3.1 reference (recording)', () => {
  let tmp = '';
  let keys = '';

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'custody-interop-record-'));
    keys = join(tmp, 'keys');
    await mkdir(keys);
    // Reference key files: RSA (PKCS#1 private PEM + SPKI public PEM), ed25519 and ecdsa (securesystemslib JSON).
    const made = await Promise.all([
      reference('in-toto-keygen', ['alice'], { cwd: keys }),
      reference('in-toto-keygen', ['bob'], { cwd: keys }),
      reference('in-toto-keygen', ['carl'], { cwd: keys }),
      reference('in-toto-keygen', ['-t', 'ed25519', 'dan'], { cwd: keys }),
      reference('in-toto-keygen', ['-t', 'ecdsa', 'erin'], { cwd: keys }),
      limited(() => custody(['keygen', join(keys, 'cbob')])),
      limited(() => custody(['keygen', join(keys, 'ccarl')])),
      limited(() => custody(['keygen', '--type', 'ecdsa-p256', join(keys, 'cec')])),
    ]);
    made.forEach((r, i) => ok(`keygen #${i}`, r));
  }, { timeout: 120_000 });

  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const variant of [
    { name: 'RSA keys from in-toto-keygen', bob: 'bob', carl: 'carl' },
    { name: 'ed25519 keys from custody keygen', bob: 'cbob', carl: 'ccarl' },
    { name: 'ed25519 and ecdsa securesystemslib keys from in-toto-keygen', bob: 'dan', carl: 'erin' },
  ]) {
    it(`custody run/record with ${variant.name}: in-toto-verify passes, and fails once the package changes`, { timeout: 120_000 }, async () => {
      const root = join(tmp, `chain-${variant.bob}`);
      await mkdir(root);
      const bobKey = join(keys, variant.bob);
      const carlKey = join(keys, variant.carl);
      const { ws, links } = await recordDemoWithCustody(root, bobKey, carlKey);

      // The layout is made and signed by the reference's python API; it embeds the
      // functionaries' public keys, so its keyids must be the ones custody computes.
      const layout = join(root, 'root.layout');
      const embedded = await referenceDemoLayout({ owner: join(keys, 'alice'), bob: `${bobKey}.pub`, carl: `${carlKey}.pub`, out: layout });
      for (const [role, keyid] of Object.entries(embedded)) {
        const r = ok(`custody key id ${role}`, await run(['key', 'id', join(keys, `${role === 'bob' ? variant.bob : variant.carl}.pub`)], root));
        assert.equal(r.stdout.trim(), keyid, `custody's keyid for ${role} differs from in-toto's`);
      }
      assert.deepEqual(links, [
        `clone.${embedded.bob.slice(0, 8)}.link`,
        `package.${embedded.carl.slice(0, 8)}.link`,
        `update-version.${embedded.bob.slice(0, 8)}.link`,
      ].sort());

      const good = await finalProductDir(join(root, 'final'), ws, links, layout, join(keys, 'alice.pub'));
      const pass = await reference('in-toto-verify', ['--layout', 'root.layout', '--layout-keys', 'alice.pub'], { cwd: good });
      assert.equal(pass.code, 0, describeRun('in-toto-verify', pass));

      // Change the package after recording: the untar inspection's MATCH no longer consumes it.
      const bad = await finalProductDir(join(root, 'tampered'), ws, links, layout, join(keys, 'alice.pub'));
      await writeFile(join(ws, 'demo-project', 'foo.py'), 'import os; os.system("echo pwned")\n');
      const retar = await limited(() => runCommand('tar', ['-zcf', join(bad, 'demo-project.tar.gz'), 'demo-project'], { cwd: ws }));
      assert.equal(retar.code, 0, describeRun('tar', retar));
      const fail = await reference('in-toto-verify', ['--layout', 'root.layout', '--layout-keys', 'alice.pub'], { cwd: bad });
      assert.equal(fail.code, 1, describeRun('in-toto-verify (tampered)', fail));
      assert.match(fail.stderr, /RuleVerificationError: 'DISALLOW \*' matched the following artifacts: \['demo-project\.tar\.gz'\]/);
    });
  }

  it('custody run --format dsse: envelopes verify with securesystemslib over PAE (in-toto 1.4 rules)', { timeout: 120_000 }, async () => {
    const dir = join(tmp, 'dsse');
    await mkdir(dir);
    await writeFile(join(dir, 'in.txt'), 'input\n');
    for (const key of ['cbob', 'cec', 'bob', 'dan', 'erin']) {
      const step = `dsse-${key}`;
      ok(`custody run --format dsse (${key})`, await run(['run', '--step', step, '--key', join(keys, key), '--format', 'dsse',
        '--materials', 'in.txt', '--products', `${step}.txt`, '--', 'cp', 'in.txt', `${step}.txt`], dir));
      const file = (await readdir(dir)).find((f) => f.startsWith(`${step}.`) && f.endsWith('.link'));
      assert.ok(file, `no ${step}.<keyid8>.link written`);
      const checked = await referenceCheckDsse(join(dir, file), join(keys, `${key}.pub`));
      assert.deepEqual({ valid: checked.valid, payloadType: checked.payloadType, type: checked.type, name: checked.name },
        { valid: true, payloadType: 'application/vnd.in-toto+json', type: 'link', name: step }, `DSSE link ${file}`);
      assert.equal(file, `${step}.${checked.keyid.slice(0, 8)}.link`);

      // A payload edited after signing must not verify, for the reference nor for custody.
      const envelope = JSON.parse(await readFile(join(dir, file), 'utf8')) as { payload: string };
      const body = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { products: Record<string, { sha256: string }> };
      body.products[`${step}.txt`].sha256 = '0'.repeat(64);
      envelope.payload = Buffer.from(JSON.stringify(body)).toString('base64');
      const tampered = join(dir, `tampered-${file}`);
      await writeFile(tampered, JSON.stringify(envelope));
      assert.equal((await referenceCheckDsse(tampered, join(keys, `${key}.pub`))).valid, false);
      const shown = await run(['link', 'show', tampered, '--key', join(keys, `${key}.pub`)], dir);
      assert.equal(shown.code, 1, describeRun('custody link show (tampered DSSE)', shown));
    }
  });

  for (const key of [
    { type: 'rsa', priv: 'alice', pub: 'alice.pub', other: 'dan.pub' },
    { type: 'ed25519', priv: 'dan', pub: 'dan.pub', other: 'erin.pub' },
    { type: 'ecdsa', priv: 'erin', pub: 'erin.pub', other: 'alice.pub' },
  ]) {
    it(`custody link show checks links from in-toto-run and in-toto-record signed with ${key.type}`, { timeout: 120_000 }, async () => {
      const dir = join(tmp, `links-${key.type}`);
      await mkdir(join(dir, 'src'), { recursive: true });
      await writeFile(join(dir, 'src', 'a.txt'), 'alpha\n');
      const priv = join(keys, key.priv);
      // Recorded streams with raw newlines and non-ASCII: the signature covers OLPC canonical JSON.
      const ran = await reference('in-toto-run', ['-n', 'build', '-k', priv, '-t', key.type, '-s', '-m', 'src', '-p', 'out.txt', '--',
        'sh', '-c', 'printf "h\\303\\251llo\\nw\\303\\266rld\\n"; printf "tab\\there\\n" >&2; cp src/a.txt out.txt'], { cwd: dir });
      ok('in-toto-run', ran);
      ok('in-toto-record start', await reference('in-toto-record', ['start', '-n', 'review', '-k', priv, '-t', key.type, '-m', 'src'], { cwd: dir }));
      await writeFile(join(dir, 'src', 'a.txt'), 'alpha, reviewed\n');
      ok('in-toto-record stop', await reference('in-toto-record', ['stop', '-n', 'review', '-k', priv, '-t', key.type, '-p', 'src'], { cwd: dir }));

      const links = (await readdir(dir)).filter((f) => f.endsWith('.link')).sort();
      assert.equal(links.length, 2, `expected build and review links, got ${links.join(', ')}`);
      for (const link of links) {
        const shown = await run(['link', 'show', link, '--key', join(keys, key.pub)], dir);
        assert.equal(shown.code, 0, describeRun(`custody link show ${link}`, shown));
        if (link.startsWith('build.')) assert.match(shown.stdout, /out\.txt/);

        const wrongKey = await run(['link', 'show', link, '--key', join(keys, key.other)], dir);
        assert.equal(wrongKey.code, 1, describeRun(`custody link show ${link} with another key`, wrongKey));

        // Edit the signed body: the signature must no longer verify.
        const text = await readFile(join(dir, link), 'utf8');
        const metablock = JSON.parse(text) as { signed: { products: Record<string, { sha256: string }> } };
        const [first] = Object.keys(metablock.signed.products);
        metablock.signed.products[first].sha256 = '0'.repeat(64);
        const tampered = `tampered-${link}`;
        await writeFile(join(dir, tampered), JSON.stringify(metablock, null, 1));
        const bad = await run(['link', 'show', tampered, '--key', join(keys, key.pub)], dir);
        assert.equal(bad.code, 1, describeRun(`custody link show ${tampered}`, bad));
      }
    });
  }
});
