// The demo's image extraction writes nothing outside its folder (issue 12): a symlink planted
// where extraction writes is refused, never followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCustodyError } from '@custody/core';
import { extractImageFiles, writeImageLayout } from '../src/oci/layout.ts';

const code = (c: string, re: RegExp) => (e: unknown) => isCustodyError(e) && e.code === c && re.test(e.message);

test('extraction: a planted symlink never leads outside the folder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-extract-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const outside = join(dir, 'outside');
  mkdirSync(outside);

  await writeImageLayout({ dir: join(dir, 'image'), files: [{ path: 'app/model/w.bin', data: Buffer.from('weights') }] });
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  symlinkSync(outside, join(rootfs, 'app'));
  await assert.rejects(extractImageFiles(join(dir, 'image'), rootfs), code('OCI_LAYOUT_INVALID', /app is a symlink; refusing/));
  assert.deepEqual(readdirSync(outside), []);
});
