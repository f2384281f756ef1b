// `custody plugins list` shows every plugin option with what it means; `custody run
// --plugin-option PLUGIN.OPTION=VALUE` sets one, typed as the plugin declares it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-plugin-options-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

test('plugins list: each option with its type and description', async () => {
  const r = await custody(['plugins', 'list'], { cwd: root });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n {2}model {2}\[built-in\][^\n]*\n(?: {4}[^\n]*\n)*? {4}options:\n {6}dir=string {2,}model folder \(default: the working directory\)\n/);
  assert.match(r.stdout, /\n {6}dirtyFiles {2,}list the changed files/);
  const json = JSON.parse((await custody(['plugins', 'list', '--json'], { cwd: root })).stdout);
  const model = json.plugins.find((p: { name: string }) => p.name === 'model');
  assert.deepEqual(model.optionSpecs.dir, { type: 'string', describe: 'model folder (default: the working directory)' });
  assert.ok(model.options.includes('dir'));
});

test('run --plugin-option model.dir=m: the option reaches the plugin; unknown plugins, options and bad values are one line, exit 2', async () => {
  const dir = join(root, 'run');
  mkdirSync(join(dir, 'm'), { recursive: true });
  writeFileSync(join(dir, 'm', 'config.json'), '{"a":1}\n');
  writeFileSync(join(dir, 'outside.txt'), 'not the model\n');
  assert.equal((await custody(['keygen', 'k'], { cwd: dir })).code, 0);
  const r = await custody(['run', '--step', 's', '--key', 'k', '--products', '.', '--plugin', 'model', '--plugin-option', 'model.dir=m', '--no-command'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const bundle = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.model.sigstore.json'))!), 'utf8'));
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
  const files = (statement.predicate.files as { path: string }[]).map((f) => f.path);
  assert.deepEqual(files, ['config.json'], 'the model plugin read m/, not the working folder');
  for (const [opt, msg] of [
    ['model.dirx=m', /^custody: --plugin-option model\.dirx=m: plugin 'model' has no option dirx \(options: dir, url, revision, include, exclude, shardSize, concurrency\)\n$/],
    ['git.dir=m', /^custody: --plugin-option git\.dir=m: this step runs no plugin 'git' \(it runs: model\)\n$/],
    ['model.concurrency=two', /^custody: --plugin-option model\.concurrency=two: concurrency must be a number\n$/],
    ['modeldir', /^custody: --plugin-option "modeldir": expected PLUGIN\.OPTION=VALUE \(e\.g\. model\.dir=model\)\n$/],
  ] as const) {
    const bad = await custody(['run', '--step', 't', '--key', 'k', '--plugin', 'model', '--plugin-option', opt, '--no-command'], { cwd: dir });
    assert.equal(bad.code, 2, opt);
    assert.match(bad.stderr, msg);
  }
});
