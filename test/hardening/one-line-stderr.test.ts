// Bad input is exactly one line on stderr: library warnings (YAML's ambiguous-alias warning,
// anything sent through process.emitWarning) never add lines of their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../packages/sign/src/index.ts';
import { custody } from '../helpers/cli.ts';

test('a YAML layout with ambiguous aliases: one line for bad input, nothing for good input', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-stderr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pair = generateKeyPair('ed25519');
  writeFileSync(join(dir, 'owner.pem'), pair.privatePem, { mode: 0o600 });
  writeFileSync(join(dir, 'owner.pub'), pair.publicPem);
  // (pubkeys: layout sign refuses a step nobody may perform, as layout lint does)
  const body = (expires: string) => `expires: ${expires}\nkeys: [ owner.pub ]\nsteps:\n  - name: &x: a\n    pubkeys: [ owner ]\n    expected_command: [ *x: ]\n`;

  writeFileSync(join(dir, 'bad.yaml'), body('soon'));
  const bad = await custody(['layout', 'sign', 'bad.yaml', '--key', 'owner.pem', '-o', 'bad.layout'], { cwd: dir });
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stderr.split('\n').filter((l) => l !== '').length, 1, bad.stderr);
  assert.match(bad.stderr, /^custody: bad\.yaml: invalid layout: expires must be a date/);
  assert.doesNotMatch(bad.stderr, /Warning|ambiguous/);
  assert.equal(existsSync(join(dir, 'bad.layout')), false);

  writeFileSync(join(dir, 'good.yaml'), body('2030-01-01T00:00:00Z'));
  const good = await custody(['layout', 'sign', 'good.yaml', '--key', 'owner.pem', '-o', 'good.layout'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stderr, '');

  // --debug shows what was held back
  const debug = await custody(['layout', 'sign', 'bad.yaml', '--key', 'owner.pem', '-o', 'bad.layout', '--debug'], { cwd: dir });
  assert.equal(debug.code, 2);
});
