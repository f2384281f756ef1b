// The I/O edge of custody verify: link files from a folder, inspections in a private copy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError, type InspectionBody } from '@custody/core';
import { createInspectionRunner, directoryLinkSource } from '../src/verify-io/index.ts';

let dir = '';
const inspection = (run: string[]): InspectionBody => ({ _type: 'inspection', name: 'i', run, expected_materials: [], expected_products: [] });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-verify-io-'));
  await writeFile(join(dir, 'a.txt'), 'a');
  await writeFile(join(dir, 'step.12345678.link'), '{}');
  await mkdir(join(dir, 'sub.12345678'));
  await writeFile(join(dir, 'sub.12345678', 'x.abcdefab.link'), 'x');
});
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('directoryLinkSource reads files relative to the link dir; missing ones are undefined', async () => {
  const src = await directoryLinkSource(dir);
  assert.equal(await src.read('step.12345678.link'), '{}');
  assert.equal(await src.read('sub.12345678/x.abcdefab.link'), 'x');
  assert.equal(await src.read('nope.12345678.link'), undefined);
  assert.equal(await src.read('sub.12345678'), undefined, 'a folder where a link should be is skipped, as the reference does');
  await assert.rejects(directoryLinkSource(join(dir, 'missing')), (e) => e instanceof CustodyError && e.code === 'FILE_NOT_FOUND');
});

test('inspections run in a copy of the working folder and record it before and after (default excludes)', async () => {
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 10_000 });
  try {
    const r = await runner.run(inspection(['sh', '-c', 'echo hi > made.txt; echo out; echo err >&2']));
    assert.equal(r.exitCode, 0);
    assert.deepEqual(Object.keys(r.materials).sort(), ['a.txt']);
    assert.deepEqual(Object.keys(r.products).sort(), ['a.txt', 'made.txt']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(existsSync(join(dir, 'made.txt')), false, 'the verifier folder is untouched');
    // a second inspection sees the first one's output, as in the reference's shared cwd
    const second = await runner.run(inspection(['cat', 'made.txt']));
    assert.equal(second.stdout, 'hi\n');
    assert.equal((await runner.run(inspection(['sh', '-c', 'exit 3']))).exitCode, 3);
    assert.equal((await runner.run(inspection(['no-such-command-custody']))).exitCode, 127);
    assert.notEqual((await runner.run(inspection([]))).exitCode, 0);
  } finally {
    await runner.dispose();
  }
  assert.equal(runner.copyDir !== undefined && existsSync(runner.copyDir), false);
});

test('an inspection that runs too long is stopped and fails', async () => {
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 300 });
  try {
    const r = await runner.run(inspection(['sleep', '5']));
    assert.equal(r.exitCode, 124);
    assert.match(r.stderr, /timed out/);
  } finally {
    await runner.dispose();
  }
});
