import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCustodyError } from '@custody/core';
import { hashFiles } from '../src/index.ts';

// The calling thread takes the biggest job and hashes it in slices, yielding in between;
// a slice of 1 byte makes every 1 MiB read a separate turn of the event loop.
test('pool: biggest file hashed on the calling thread across slices, digests in the given order', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-pool-slices-'));
  try {
    const sizes = [2000, (3 << 20) + 123, 0, 70_000, (1 << 20), 5];
    const files = sizes.map((size, i) => {
      const p = join(d, `f${i}`);
      const data = Buffer.alloc(size);
      for (let k = 0; k < size; k += 4096) data[k] = (k / 4096 + i) & 0xff;
      writeFileSync(p, data);
      return { path: p, size };
    });
    const ref = spawnSync('sha256sum', files.map((f) => f.path), { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.split(' ')[0]);
    for (const sliceBytes of [1, 1 << 20, 64 << 20]) {
      let last = 0;
      const pooled = await hashFiles(files, { workers: 2, inlineBelowBytes: 0, sliceBytes, onProgress: (n) => { last = n; } });
      assert.deepEqual(pooled, ref, `sliceBytes ${sliceBytes}`);
      assert.equal(last, sizes.reduce((a, b) => a + b, 0));
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('pool: an unreadable biggest file (the calling thread\'s job) → FILE_UNREADABLE naming it', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-pool-gone-'));
  try {
    const files = Array.from({ length: 4 }, (_, i) => {
      const p = join(d, `f${i}`);
      writeFileSync(p, Buffer.alloc(1000 * (i + 1), i));
      return { path: p, size: 1000 * (i + 1) };
    });
    const gone = { path: join(d, 'gone'), size: 1 << 30 };
    await assert.rejects(hashFiles([...files, gone], { workers: 2, inlineBelowBytes: 0, sliceBytes: 1 }),
      (e: unknown) => isCustodyError(e) && e.code === 'FILE_UNREADABLE' && e.file === gone.path);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
