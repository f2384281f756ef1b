import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustodyError } from '@custody/core';
import { DEFAULT_STORE_DIR, LocalStore, parseStoreEntryName } from '../src/index.ts';

const KEY_A = 'a1b2c3d4'.repeat(8);
const KEY_B = 'ffee0011'.repeat(8);

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'custody-store-'));
}

test('put / list / get: names, order, resolution to the newest', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new LocalStore(join(dir, '.custody'));
  assert.deepEqual(await store.list(), []);
  const old = await store.put('train', KEY_A, 'link', '{"v":1}', { now: 1_700_000_000_000 });
  const newer = await store.put('train', KEY_A, 'link', '{"v":2}', { now: 1_700_000_000_500 });
  await store.put('train', KEY_A, 'bias', '{"bias":true}', { now: 1_700_000_000_100 });
  await store.put('train', KEY_B, 'link', '{"v":"b"}', { now: 1_700_000_000_100 });
  await store.put('fetch.data', KEY_A, 'link', '{"v":"f"}', { now: 1_700_000_000_000, ext: 'link' });
  assert.match(old.name, /^train\.a1b2c3d4\.link\.1700000000000-\d{6}-[0-9a-f]{16}\.sigstore\.json$/);
  const all = await store.list();
  assert.deepEqual(all.map((e) => [e.step, e.keyid8, e.kind]), [
    ['fetch.data', 'a1b2c3d4', 'link'],
    ['train', 'a1b2c3d4', 'bias'],
    ['train', 'a1b2c3d4', 'link'],
    ['train', 'a1b2c3d4', 'link'],
    ['train', 'ffee0011', 'link'],
  ]);
  assert.equal(all[0].ext, 'link');
  assert.deepEqual((await store.list('train')).length, 4);
  const resolved = await store.resolve('train');
  assert.deepEqual(resolved.map((e) => e.name).sort(), (await store.list('train')).filter((e) => e.name !== old.name).map((e) => e.name).sort());
  const got = await store.get('train', KEY_A, 'link');
  assert.equal(got?.entry.name, newer.name);
  assert.equal(got?.bytes.toString(), '{"v":2}');
  assert.equal(await store.get('train', KEY_B, 'bias'), undefined);
  assert.equal(await store.get('nope', KEY_A, 'link'), undefined);
});

test('same stamp: resolution falls back to the digest, the same for every reader', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const names = ['x.a1b2c3d4.link.1700000000000-000001-00000000000000aa.sigstore.json', 'x.a1b2c3d4.link.1700000000000-000001-00000000000000bb.sigstore.json'];
  for (const n of names) await writeFile(join(dir, n), n);
  await writeFile(join(dir, '.tmp-1-abc'), 'partial');
  await writeFile(join(dir, 'README'), 'not an attestation');
  const store = new LocalStore(dir);
  assert.equal((await store.list()).length, 2);
  assert.equal((await store.resolve())[0].name, names[1]);
});

test('bad step names, kinds and keyids are refused', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir);
  for (const [step, keyid, kind] of [['../x', KEY_A, 'link'], ['.hidden', KEY_A, 'link'], ['ok', 'xyz', 'link'], ['ok', KEY_A, 'Bad.Kind']]) {
    await assert.rejects(store.put(step, keyid, kind, 'x'), (e: unknown) => e instanceof CustodyError && e.code === 'USAGE', `${step} ${keyid} ${kind}`);
  }
  assert.deepEqual(await readdir(dir), []);
});

test('forLayout: .custody next to the layout, or the configured folder', () => {
  assert.equal(LocalStore.forLayout('/work/proj/root.layout').root, `/work/proj/${DEFAULT_STORE_DIR}`);
  assert.equal(LocalStore.forLayout('/work/proj/root.layout', 'evidence').root, '/work/proj/evidence');
  assert.equal(LocalStore.forLayout('/work/proj/root.layout', '/srv/att').root, '/srv/att');
  assert.equal(parseStoreEntryName('step.with.dots.a1b2c3d4.bias.1700000000000-000001-0123456789abcdef.sigstore.json')?.step, 'step.with.dots');
});

test('concurrent writers (3 processes + readers) never tear a file', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const writer = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
  const perWriter = 12;
  const procs = ['w1', 'w2', 'w3'].map((id) => new Promise<number>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', writer, dir, id, String(perWriter)], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => resolve(code ?? -1));
  }));
  const store = new LocalStore(dir);
  let done = false;
  let reads = 0;
  const reader = (async () => {
    while (!done) {
      for (const e of await store.list()) {
        const text = await readFile(e.path, 'utf8');
        JSON.parse(text); // a torn file would not parse
        reads++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const codes = await Promise.all(procs);
  done = true;
  await reader;
  assert.deepEqual(codes, [0, 0, 0]);
  const entries = await store.list('train');
  assert.equal(entries.length, 3 * perWriter);
  for (const e of entries) {
    const parsed = JSON.parse(await readFile(e.path, 'utf8'));
    assert.ok(parsed.pad.startsWith(`${parsed.writer}-${parsed.i}-`));
  }
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.')), [], 'no temp files left');
  const first = (await store.resolve('train')).map((e) => e.name);
  assert.equal(first.length, 2);
  assert.deepEqual((await new LocalStore(dir).resolve('train')).map((e) => e.name), first);
  assert.ok(reads >= 0);
});

test('readResolved and readAttestationFolder', async (t) => {
  const { readAttestationFolder } = await import('../src/index.ts');
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir);
  await store.put('train', KEY_A, 'link', '{"old":1}', { now: 1 });
  await store.put('train', KEY_A, 'link', '{"new":1}', { now: 2 });
  await store.put('train', KEY_A, 'link', 'legacy', { now: 3, ext: 'link' });
  const resolved = await store.readResolved('train');
  assert.deepEqual(resolved.map((r) => [r.step, r.text]), [['train', '{"new":1}']]);
  await writeFile(join(dir, 'build.fe1c6281.json'), '{}');
  const files = await readAttestationFolder(dir);
  assert.deepEqual(files.map((f) => f.name).filter((n) => !n.includes('.sigstore.')), ['build.fe1c6281.json']);
  await assert.rejects(readAttestationFolder(join(dir, 'missing')), (e: unknown) => e instanceof CustodyError && e.code === 'FILE_NOT_FOUND');
});
