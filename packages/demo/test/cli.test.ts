import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoMain } from '../src/index.ts';

test('custody-demo: usage errors and bad input exit 2 with one line naming the problem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-demo-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await demoMain(['nope'], () => undefined), 2);
    assert.match(lines.pop()!, /^custody-demo: unknown command 'nope'/);
    assert.equal(await demoMain(['fetch-model', '--url', 'file:///x', '--revision', 'main', '--out', join(dir, 'm')], () => undefined), 2);
    assert.match(lines.pop()!, /not a full commit id/);
    assert.equal(await demoMain(['train', join(dir, 'missing'), join(dir, 'out')], () => undefined), 2);
    assert.match(lines.pop()!, /missing: no such file or folder/);
    assert.equal(await demoMain(['build-image', '--model', join(dir, 'none'), '--out', join(dir, 'img'), '--builder', 'custody'], () => undefined), 2);
    assert.match(lines.pop()!, /model\.safetensors: model file model\.safetensors missing/);
    assert.equal(await demoMain(['build-image', '--model', dir, '--out', join(dir, 'img'), '--builder', 'docker'], () => undefined), 2);
    assert.equal(await demoMain(['train', '--bogus'], () => undefined), 2);
  } finally {
    process.stderr.write = write;
  }
});
