import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { runStep } from '@custody/engine';
import { generateKeyPair, loadSigner } from '@custody/sign';
import commandRun, { COMMAND_RUN_PREDICATE_TYPE } from '../src/index.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('argv, exit code, timing and stream digests (streams not in the link unless recorded)', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-cmdrun-'));
  try {
    writeFileSync(join(d, 'k.pem'), generateKeyPair('ed25519').privatePem);
    const signer = await loadSigner(join(d, 'k.pem'));
    const r = await runStep({ stepName: 'c', workdir: d, command: ['sh', '-c', 'echo out; echo err >&2; exit 3'], signer, plugins: [{ plugin: commandRun, options: {}, source: 'test' }] });
    assert.equal(r.exitCode, 3);
    assert.deepEqual(r.link.byproducts, { stdout: '', stderr: '', 'return-value': 3 });
    assert.equal(r.predicates.length, 1);
    const { predicateType, predicate } = r.predicates[0].predicate;
    assert.equal(predicateType, COMMAND_RUN_PREDICATE_TYPE);
    assert.deepEqual(predicate.argv, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(predicate.exitCode, 3);
    assert.deepEqual(predicate.stdout, { sha256: sha('out\n'), bytes: 4 });
    assert.deepEqual(predicate.stderr, { sha256: sha('err\n'), bytes: 4 });
    assert.ok(Date.parse(predicate.finishedAt as string) >= Date.parse(predicate.startedAt as string));
    assert.equal(predicate.durationMs, Date.parse(predicate.finishedAt as string) - Date.parse(predicate.startedAt as string));
    // no command → no predicate
    const none = await runStep({ stepName: 'n', workdir: d, noCommand: true, signer, plugins: [{ plugin: commandRun, options: {}, source: 'test' }] });
    assert.deepEqual(none.predicates, []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
