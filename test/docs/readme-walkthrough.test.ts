// The README's "A supply chain by hand" block, run as written (with `custody` as a shell
// function for the built CLI): every command succeeds, the first verify passes, and the verify
// after tampering with the package fails for the right reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CUSTODY_BIN, REPO_ROOT, runCommand } from '../helpers/cli.ts';

test('README walkthrough runs as written', async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const walkthrough = blocks.find((b) => b.includes('custody keygen owner'));
  assert.ok(walkthrough, 'the README has the walkthrough block');
  const dir = mkdtempSync(join(tmpdir(), 'custody-readme-'));
  const script = [
    'set -u',
    `custody() { "${process.execPath}" "${CUSTODY_BIN}" "$@"; echo "[exit $?] custody $1 $2" >&2; }`,
    walkthrough,
  ].join('\n');
  writeFileSync(join(dir, 'walkthrough.sh'), script);
  const r = await runCommand('bash', ['walkthrough.sh'], { cwd: dir });
  const exits = [...r.stderr.matchAll(/^\[exit (\d+)\] custody (\S+) ?(\S*)/gm)].map((m) => ({ code: Number(m[1]), cmd: `${m[2]} ${m[3]}`.trim() }));
  const verifies = exits.filter((e) => e.cmd.startsWith('verify'));
  assert.deepEqual(verifies.map((e) => e.code), [0, 0, 1], r.stderr);
  assert.deepEqual(exits.filter((e) => !e.cmd.startsWith('verify')).filter((e) => e.code !== 0), [], r.stderr);
  assert.match(r.stdout, /FAILED ARTIFACT_RULE at inspection-rules \(check-package\): 'DISALLOW app\.tar\.gz' matched the following artifacts: \['app\.tar\.gz'\]/);
});
