import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody } from '../../../test/helpers/cli.ts';

test('custody run --plugin trace writes a verifiable runtime-trace bundle; the exit code passes through; a killed command fails the step', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-trace-cli-'));
  try {
    assert.equal((await custody(['keygen', 'alice'], { cwd: d })).code, 0);
    writeFileSync(join(d, 'in.txt'), 'x');
    const r = await custody(['run', '--step', 'copy', '--key', 'alice', '--plugin', 'trace', '--materials', 'in.txt', '--products', 'out.txt', '--', 'sh', '-c', 'cat in.txt > out.txt; exit 4'], { cwd: d });
    assert.equal(r.code, 4, r.stderr);
    const bundle = readdirSync(d).find((f) => /^copy\.[0-9a-f]{8}\.trace\.sigstore\.json$/.test(f));
    assert.ok(bundle, readdirSync(d).join(' '));
    const v = await custody(['verify-bundle', bundle!, '--key', 'alice.pub'], { cwd: d });
    assert.equal(v.code, 0, v.stderr);
    const k = await custody(['run', '--step', 'killed', '--key', 'alice', '--plugin', 'trace', '--', 'sh', '-c', 'kill -9 $$'], { cwd: d });
    assert.equal(k.code, 2);
    assert.equal(k.stderr.trim(), "custody: plugin 'trace' failed in execute: the traced command was killed by SIGKILL");
    assert.ok(!readdirSync(d).some((f) => f.startsWith('killed.')), 'nothing written for a failed step');
    const dsse = await custody(['run', '--step', 'd', '--key', 'alice', '--plugin', 'trace', '--format', 'dsse', '--', 'true'], { cwd: d });
    assert.equal(dsse.code, 0, dsse.stderr);
    const att = readdirSync(d).find((f) => /^d\.[0-9a-f]{8}\.trace\.att\.json$/.test(f))!;
    assert.equal((await custody(['verify-bundle', att, '--key', 'alice.pub'], { cwd: d })).code, 0);
    assert.equal((await custody(['keygen', 'mallory'], { cwd: d })).code, 0);
    const wrong = await custody(['verify-bundle', att, '--key', 'mallory.pub'], { cwd: d });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^custody: d\.[0-9a-f]{8}\.trace\.att\.json: DSSE envelope is not signed by [0-9a-f]{8}\n$/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
