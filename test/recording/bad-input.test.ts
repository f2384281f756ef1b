// Bad input for run/record: one line naming the file and the problem, exit 2, no link left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../packages/sign/src/index.ts';
import { custody, runCommand } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-badinput-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string): string {
  const d = join(root, name);
  mkdirSync(d);
  writeFileSync(join(d, 'in.txt'), 'input');
  return d;
}

function assertOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
}

function noLink(d: string): void {
  assert.deepEqual(readdirSync(d).filter((f) => /\.link|\.att\.json|\.tmp/.test(f)), []);
}

test('bad inputs', async (t) => {
  const keys = folder('keys');
  const plain = generateKeyPair('ed25519');
  writeFileSync(join(keys, 'k.pem'), plain.privatePem, { mode: 0o600 });
  const enc = generateKeyPair('ecdsa-p256', { passphrase: 'right horse' });
  writeFileSync(join(keys, 'enc.pem'), enc.privatePem, { mode: 0o600 });
  writeFileSync(join(keys, 'wrong.txt'), 'wrong battery\n');
  writeFileSync(join(keys, 'garbage.pem'), 'not a key at all\n');
  const x25519 = await runCommand('openssl', ['genpkey', '-algorithm', 'X25519', '-out', join(keys, 'x25519.pem')]);
  assert.equal(x25519.code, 0, x25519.stderr);
  const k = join(keys, 'k.pem');

  const cases: [string, (d: string) => string[], RegExp][] = [
    ['missing key', () => ['-k', join(keys, 'absent.pem'), '--', 'true'], /^custody: .*absent\.pem: /],
    ['unreadable key content', () => ['-k', join(keys, 'garbage.pem'), '--', 'true'], /^custody: .*garbage\.pem: /],
    ['unsupported key type', () => ['-k', join(keys, 'x25519.pem'), '--', 'true'], /^custody: .*x25519\.pem: /],
    ['wrong passphrase', () => ['-k', join(keys, 'enc.pem'), '--passphrase-file', join(keys, 'wrong.txt'), '--', 'true'], /^custody: .*enc\.pem: /],
    ['encrypted key without passphrase', () => ['-k', join(keys, 'enc.pem'), '--', 'true'], /^custody: .*enc\.pem: /],
    ['command that does not exist', () => ['-k', k, '-m', 'in.txt', '--', 'no-such-command-xyz', '--flag'], /^custody: no-such-command-xyz: command not found$/],
    ['material that does not exist', () => ['-k', k, '-m', 'in.txt', 'nope.txt', '--', 'true'], /^custody: nope\.txt: material path does not exist$/],
    ['out dir that is a file', () => ['-k', k, '-d', 'in.txt', '--', 'true'], /^custody: in\.txt: out dir is not a directory$/],
    ['out dir under a file', () => ['-k', k, '-d', 'in.txt/sub', '--', 'true'], /^custody: in\.txt\/sub: /],
    ['no command', () => ['-k', k], /^custody: no command: put it after --/],
    ['command and --no-command', () => ['-k', k, '--no-command', '--', 'true'], /^custody: give either a command/],
    ['overlapping lstrip prefixes', () => ['-k', k, '-m', '.', '--lstrip-paths', 'a/', 'a/b/', '--', 'true'], /^custody: .*left substring/],
    ['missing step name', () => ['-k', k, '--', 'true'], /^custody: .*step/],
  ];
  for (const [name, args, pattern] of cases) {
    await t.test(name, async () => {
      const d = folder(name.replace(/\W+/g, '-'));
      const stepArgs = name === 'missing step name' ? [] : ['-n', 'bad'];
      const r = await custody(['run', ...stepArgs, '--no-attest', ...args(d)], { cwd: d });
      assertOneLine(r, pattern);
      noLink(d);
    });
  }
  await t.test('a failing plugin stops the step: nothing written', async () => {
    const d = folder('plugin-fails');
    writeFileSync(join(d, 'bad-plugin.mjs'), "export default { name: 'breaks', apiVersion: 1, apply(h) { h.postProduct.tapPromise('breaks', async () => { throw new Error('disk on fire'); }); } };\n");
    writeFileSync(join(d, 'custody.config.json'), JSON.stringify({ key: k, plugins: ['./bad-plugin.mjs'] }));
    const r = await custody(['run', '-n', 'bad', '-p', '.', '--', 'true'], { cwd: d });
    assertOneLine(r, /^custody: plugin 'breaks' failed in postProduct: disk on fire$/);
    noLink(d);
  });
  await t.test('a plugin of another API version is refused by name', async () => {
    const d = folder('plugin-api');
    writeFileSync(join(d, 'old.mjs'), "export default { name: 'old-timer', apiVersion: 0, apply() {} };\n");
    writeFileSync(join(d, 'custody.config.json'), JSON.stringify({ key: k, plugins: ['./old.mjs'] }));
    const r = await custody(['run', '-n', 'bad', '--', 'true'], { cwd: d });
    assertOneLine(r, /^custody: plugin 'old-timer' \(\.\/old\.mjs\) declares apiVersion 0/);
    noLink(d);
  });
  await t.test('an invalid predicate names the plugin and the schema error', async () => {
    const d = folder('plugin-invalid');
    writeFileSync(
      join(d, 'liar.mjs'),
      "const T = 'https://example.test/p/v1'; export default { name: 'liar', apiVersion: 1, schemas: { [T]: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } }, apply(h) { h.postProduct.tapPromise('liar', async (ctx) => ctx.emit({ predicateType: T, predicate: { n: 'three' } })); } };\n",
    );
    writeFileSync(join(d, 'custody.config.json'), JSON.stringify({ key: k, plugins: ['./liar.mjs'] }));
    const r = await custody(['run', '-n', 'bad', '--', 'true'], { cwd: d });
    assertOneLine(r, /^custody: plugin 'liar': predicate https:\/\/example\.test\/p\/v1 does not match its schema: \/n must be integer$/);
    noLink(d);
  });
  await t.test('invalid config names the config file', async () => {
    const d = folder('config-invalid');
    writeFileSync(join(d, 'custody.config.json'), JSON.stringify({ key: k, plugin: ['git'] }));
    const r = await custody(['run', '-n', 'bad', '--', 'true'], { cwd: d });
    assertOneLine(r, /^custody: .*custody\.config\.json: unknown setting 'plugin'/);
    noLink(d);
  });
});
