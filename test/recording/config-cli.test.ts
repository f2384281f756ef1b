// Configuration reaches `custody run`: defaults from package.json "custody", plugin options,
// --plugin overriding the list, a layout step naming its plugins, --no-attest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';

function payload(file: string): Record<string, any> {
  return JSON.parse(Buffer.from(JSON.parse(readFileSync(file, 'utf8')).payload, 'base64').toString('utf8'));
}

test('package.json "custody" settings, plugin options, overrides', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-config-cli-'));
  try {
    const pair = generateKeyPair('ed25519');
    const kid = pair.keyid.slice(0, 8);
    mkdirSync(join(d, 'keys'));
    writeFileSync(join(d, 'keys/k.pem'), pair.privatePem, { mode: 0o600 });
    writeFileSync(join(d, 'skip.me'), 'x');
    writeFileSync(join(d, 'keep.txt'), 'y');
    writeFileSync(
      join(d, 'package.json'),
      JSON.stringify({ name: 'proj', custody: { key: 'keys/k.pem', outDir: 'out', format: 'dsse', exclude: ['*.me', 'keys', 'out', 'package.json'], plugins: ['command-run', { name: 'environment', options: { env: ['CUSTODY_TEST_VISIBLE'] } }] } }),
    );
    mkdirSync(join(d, 'work'));
    const env = { ...process.env, CUSTODY_TEST_VISIBLE: 'yes', CUSTODY_TEST_HIDDEN: 'no' };
    // run from a sub-folder: the config is found upwards, its paths resolve against its folder
    let r = await custody(['run', '-n', 'cfg', '-m', '..', '--', 'true'], { cwd: join(d, 'work'), env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(d, 'out')).sort(), [`cfg.${kid}.command-run.att.json`, `cfg.${kid}.environment.att.json`, `cfg.${kid}.link`]);
    const link = payload(join(d, 'out', `cfg.${kid}.link`));
    assert.deepEqual(Object.keys(link.materials), ['../keep.txt']);
    const envPred = payload(join(d, 'out', `cfg.${kid}.environment.att.json`)).predicate;
    assert.equal(envPred.env.CUSTODY_TEST_VISIBLE, 'yes');
    assert.equal(envPred.env.CUSTODY_TEST_HIDDEN, undefined);

    // --plugin replaces the list (options still from the config); --no-attest writes only the link
    r = await custody(['run', '-n', 'one', '--plugin', 'environment', '--', 'true'], { cwd: d, env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(d, 'out')).filter((f) => f.startsWith('one.')).sort(), [`one.${kid}.environment.att.json`, `one.${kid}.link`]);
    assert.equal(payload(join(d, 'out', `one.${kid}.environment.att.json`)).predicate.env.CUSTODY_TEST_VISIBLE, 'yes');
    r = await custody(['run', '-n', 'bare', '--no-attest', '--', 'true'], { cwd: d });
    assert.deepEqual(readdirSync(join(d, 'out')).filter((f) => f.startsWith('bare.')), [`bare.${kid}.link`]);

    // a layout step naming its plugins
    r = await custody(['run', '-n', 'ls', '--layout-step', JSON.stringify({ name: 'ls', plugins: ['git'] }), '--', 'true'], { cwd: d });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(d, 'out')).filter((f) => f.startsWith('ls.')).sort(), [`ls.${kid}.git.att.json`, `ls.${kid}.link`]);
    assert.deepEqual(payload(join(d, 'out', `ls.${kid}.git.att.json`)).predicate, { isRepository: false });

    // an unknown plugin name is one clear line
    r = await custody(['run', '-n', 'x', '--plugin', 'no-such-plugin', '--', 'true'], { cwd: d });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^custody: plugin 'no-such-plugin' is neither built in nor an installed package \(built-in plugins: git, environment, command-run/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
