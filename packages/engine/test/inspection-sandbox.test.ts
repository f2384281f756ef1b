// Nothing an inspection does escapes its working copy (issue 12): links out of the folder,
// FIFOs and sockets in it, $TMPDIR inside it, background children, timeouts, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionBody } from '@custody/core';
import { createInspectionRunner } from '../src/verify-io/index.ts';

/** Dead, or dead within 2 s (SIGKILL is sent, not awaited). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
  return !alive(pid);
}

const inspection = (run: string[]): InspectionBody => ({ _type: 'inspection', name: 'i', run, expected_materials: [], expected_products: [] });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat[stat.lastIndexOf(')') + 2] !== 'Z';
}

function scratch(t: { after: (fn: () => void) => void }): { dir: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'custody-sandbox-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'work');
  const outside = join(base, 'outside');
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(dir, 'a.txt'), 'a');
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  return { dir, outside };
}

test('links out of the folder: writing through them changes only the copy; links inside stay links inside', async (t) => {
  const { dir, outside } = scratch(t);
  symlinkSync(outside, join(dir, 'out-dir'));
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'out-file'));
  symlinkSync(join(outside, 'created-by-inspection.txt'), join(dir, 'dangling'));
  symlinkSync(join(dir, 'a.txt'), join(dir, 'abs-inside'));
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 10_000 });
  try {
    const r = await runner.run(inspection(['sh', '-c', 'echo pwn > out-dir/new.txt; echo pwn >> out-file; echo pwn > dangling; echo pwn >> abs-inside; readlink abs-inside']));
    assert.equal(r.exitCode, 0, r.stderr);
    // recorded as the reference records them (links followed)
    assert.deepEqual(Object.keys(r.materials).sort(), ['a.txt', 'abs-inside', 'out-dir/secret.txt', 'out-file']);
    assert.equal(r.stdout, 'a.txt\n', 'an absolute link into the folder points inside the copy');
  } finally {
    await runner.dispose();
  }
  assert.equal(existsSync(join(outside, 'new.txt')), false);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'secret');
  assert.equal(existsSync(join(outside, 'created-by-inspection.txt')), false);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'a');
});

test('FIFOs and sockets in the folder and $TMPDIR inside it: the copy neither hangs nor copies itself', async (t) => {
  const { dir } = scratch(t);
  assert.equal(spawnSync('mkfifo', [join(dir, 'pipe')]).status, 0);
  const server = createServer();
  await new Promise<void>((res) => server.listen(join(dir, 'sock'), res));
  t.after(() => server.close());
  mkdirSync(join(dir, 'tmp'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = join(dir, 'tmp');
  t.after(() => { if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved; });
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 10_000 });
  try {
    const r = await runner.run(inspection(['sh', '-c', 'echo "$TMPDIR"; echo x > "$TMPDIR/scratch"; ls -A tmp']));
    assert.equal(r.exitCode, 0, r.stderr);
    const [inspectionTmp] = r.stdout.split('\n');
    // the inspection's TMPDIR is in the private folder beside the copy, not in the copy itself
    assert.ok(inspectionTmp.startsWith(join(dir, 'tmp', 'custody-inspect-')) && !inspectionTmp.startsWith(runner.copyDir!), inspectionTmp);
    // the private folder (inside dir/tmp) was not copied into the copy
    assert.equal(r.stdout.split('\n')[1], '');
    assert.deepEqual(Object.keys(r.materials).sort(), ['a.txt']);
  } finally {
    await runner.dispose();
  }
  assert.equal(spawnSync('ls', ['-A', join(dir, 'tmp')]).stdout.toString(), '', 'the private folder is gone');
});

test('a background child holding the pipes: the inspection ends when its command does, the child is killed', async (t) => {
  const { dir } = scratch(t);
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 20_000 });
  try {
    const started = Date.now();
    const r = await runner.run(inspection(['sh', '-c', 'sleep 30 & echo $! > bg.pid; echo done']));
    assert.ok(Date.now() - started < 5_000, `returned after ${Date.now() - started} ms`);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'done\n');
    const pid = Number(readFileSync(join(runner.copyDir!, 'bg.pid'), 'utf8'));
    assert.equal(await gone(pid), true, 'the background child is gone');
  } finally {
    await runner.dispose();
  }
});

test('--inspection-timeout kills the whole process group (exit 124)', async (t) => {
  const { dir } = scratch(t);
  const runner = createInspectionRunner({ workdir: dir, timeoutMs: 500 });
  try {
    const started = Date.now();
    const r = await runner.run(inspection(['sh', '-c', 'sleep 30 & echo $! > bg.pid; sleep 30']));
    assert.ok(Date.now() - started < 5_000);
    assert.equal(r.exitCode, 124);
    assert.match(r.stderr, /timed out after 0\.5 s/);
    assert.equal(await gone(Number(readFileSync(join(runner.copyDir!, 'bg.pid'), 'utf8'))), true);
  } finally {
    await runner.dispose();
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} during an inspection removes the copy (it may hold private keys) and kills the inspection`, async (t) => {
    const { dir, outside } = scratch(t);
    writeFileSync(join(dir, 'owner.pem'), 'PRIVATE KEY');
    const marker = join(outside, 'where');
    const runner = JSON.stringify(new URL('../src/verify-io/index.ts', import.meta.url).href);
    const script = `
      const { createInspectionRunner } = await import(${runner});
      const r = createInspectionRunner({ workdir: ${JSON.stringify(dir)}, timeoutMs: 60000 });
      await r.run({ _type: 'inspection', name: 'i', run: ['sh', '-c', 'echo "$PWD $$" > ${marker}.tmp && mv ${marker}.tmp ${marker}; sleep 30'], expected_materials: [], expected_products: [] });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    while (!existsSync(marker) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    const [copy, pid] = readFileSync(marker, 'utf8').trim().split(' ');
    assert.equal(readFileSync(join(copy, 'owner.pem'), 'utf8'), 'PRIVATE KEY');
    child.kill(signal);
    const exit = await new Promise<[number | null, string | null]>((res) => child.on('exit', (c, s) => res([c, s])));
    assert.ok(exit[1] === signal || exit[0] === (signal === 'SIGTERM' ? 143 : 130), JSON.stringify(exit));
    assert.equal(existsSync(copy), false, 'the copy is removed');
    assert.equal(await gone(Number(pid)), true, 'the inspection is killed');
  });
}
