import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminalProgress, recordArtifacts } from '../src/index.ts';
import { formatEta } from '../src/hashing/progress.ts';

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
    assert.match(out[0], /^\rcustody: hashing \[#*\.*\] \d+\/5 MiB, 5 files(, \d+\.\d MiB\/s, ETA (\d+s|\d+m\d\ds))?\x1b\[K$/);
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

test('the bar shows the rate so far and the time left at that rate', () => {
  const { out, stream } = fakeStream(true);
  let now = 1_000_000;
  const bar = terminalProgress('custody: hashing', stream, 0, () => now)!;
  bar.start(100 * 1048576, 40);
  now += 2000; // 2 s for 25 MiB: 12.5 MiB/s, 75 MiB left: 6 s
  bar.update(25 * 1048576);
  assert.equal(out.at(-1), `\rcustody: hashing [${'#'.repeat(3)}${'.'.repeat(7)}] 25/100 MiB, 40 files, 12.5 MiB/s, ETA 6s\x1b[K`);
  now += 200; // later, slower: the rate is over the whole run
  bar.update(26 * 1048576);
  assert.match(out.at(-1)!, /26\/100 MiB, 40 files, 11\.8 MiB\/s, ETA 7s/);
  bar.finish();
  assert.equal(out.at(-1), '\r\x1b[K');
});

test('ETA reads as a person says it', () => {
  assert.equal(formatEta(0.2), '1s');
  assert.equal(formatEta(59), '59s');
  assert.equal(formatEta(65), '1m05s');
  assert.equal(formatEta(3 * 3600 + 7 * 60), '3h07m');
  assert.equal(formatEta(Infinity), '?');
});
