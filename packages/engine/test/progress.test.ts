import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminalProgress, recordArtifacts } from '../src/index.ts';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 80, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
}

test('no progress bar when stderr is not a terminal', () => {
  assert.equal(terminalProgress('x', fakeStream(false).stream), undefined);
});

test('a terminal gets a bar once the run is long, cleared at the end', async () => {
  const { out, stream } = fakeStream(true);
  const bar = terminalProgress('custody: hashing', stream, 0)!;
  const d = mkdtempSync(join(tmpdir(), 'custody-progress-'));
  try {
    for (let i = 0; i < 5; i++) writeFileSync(join(d, `f${i}`), Buffer.alloc(1 << 20, i));
    await recordArtifacts(['.'], { basePath: d, progress: bar });
    assert.match(out[0], /^\rcustody: hashing \[#*\.*\] \d+\/5 MiB, 5 files$/);
    assert.equal(out[out.length - 1], '\r\x1b[K');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
  // short runs draw nothing
  const quiet = fakeStream(true);
  const q = terminalProgress('x', quiet.stream, 60_000)!;
  q.start(100, 1);
  q.update(50);
  q.finish();
  assert.deepEqual(quiet.out, []);
});
