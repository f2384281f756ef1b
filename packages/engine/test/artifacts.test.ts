// Artifact recording must key and hash exactly like in-toto's runlib.record_artifacts_as_dict
// (follow_symlink_dirs=True as in_toto_run passes it); every case is compared with the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { recordArtifacts, resolveArtifacts, pythonNormpath, hashFiles, type RecordOptions } from '../src/index.ts';
import { isCustodyError } from '@custody/core';

const PY = '/usr/bin/python3';

function reference(cwd: string, paths: string[], o: RecordOptions = {}): { ok: true; map: unknown } | { ok: false; error: string } {
  const script = `
import json, sys
from in_toto.runlib import record_artifacts_as_dict as r
paths, o = json.loads(sys.argv[1])
try:
  d = r(paths, exclude_patterns=o.get('exclude'), base_path=o.get('basePath'), lstrip_paths=o.get('lstripPaths'), follow_symlink_dirs=True)
  print(json.dumps({"ok": True, "map": d}))
except Exception as e:
  print(json.dumps({"ok": False, "error": type(e).__name__}))
`;
  const r = spawnSync(PY, ['-c', script, JSON.stringify([paths, o])], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function ours(cwd: string, paths: string[], o: RecordOptions = {}) {
  try {
    return { ok: true as const, map: await recordArtifacts(paths, { ...o, basePath: join(cwd, o.basePath ?? '.') }) };
  } catch (e) {
    if (isCustodyError(e)) return { ok: false as const, error: e.code };
    throw e;
  }
}

function fixture(): string {
  const d = mkdtempSync(join(tmpdir(), 'custody-artifacts-'));
  const w = (p: string, c: string) => {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), c);
  };
  w('a/f.txt', 'one\n');
  w('a/b/g.pyc', 'compiled');
  w('a/b/c/h', 'deep');
  w('a/backup~', 'tilde');
  w('x.link', 'a link');
  w('y.link-unfinished', 'prelim');
  w('.git/HEAD', 'ref');
  w('sub/.git/config', 'nested git');
  w('x/y.linkz', 'linkz');
  w('dir with space/ü-ñ.bin', 'unicode');
  w('d/f', 'cycle target');
  w('empty/.keep', '');
  symlinkSync('a/b', join(d, 'linkdir'));
  symlinkSync('a/f.txt', join(d, 'linkfile'));
  symlinkSync('missing', join(d, 'dead'));
  mkdirSync(join(d, 'd/sub'), { recursive: true });
  symlinkSync('..', join(d, 'd/sub/up')); // a cycle: walked until ELOOP, as os.walk does
  return d;
}

const cases: [string, string[], RecordOptions][] = [
  ['whole tree with default excludes, symlinks and a cycle', ['.'], {}],
  ['explicit paths, duplicates, trailing slash, missing path', ['a', 'nonexistent', './a/b/', 'a/f.txt', 'dead'], {}],
  ['custom excludes replace the defaults', ['.'], { exclude: ['a/b', '*.txt'] }],
  ['negated and directory-only patterns', ['a', 'x'], { exclude: ['*', '!x', '!a', '!a/*', 'b/'] }],
  ['anchored and double-star patterns', ['.'], { exclude: ['/a/b', '**/h', 'd/**', 'dir*/'] }],
  ['lstrip with the first matching prefix', ['.'], { lstripPaths: ['a/', 'linkdir/'] }],
  ['lstrip producing a duplicate key', ['a/b', 'linkdir'], { lstripPaths: ['a/', 'linkdir/'] }],
  ['lstrip prefixes overlapping', ['.'], { lstripPaths: ['a/', 'a/b/'] }],
  ['base path', ['.', 'f.txt'], { basePath: 'a' }],
  ['symlinked directory given directly', ['linkdir', 'linkfile'], {}],
  ['parent-relative paths are kept as given', ['a/../a/f.txt', 'a/./b/c'], {}],
];

test('recording matches in-toto runlib', async (t) => {
  const d = fixture();
  try {
    for (const [name, paths, o] of cases) {
      await t.test(name, async () => {
        const ref = reference(d, paths, o);
        const got = await ours(d, paths, o);
        if (!ref.ok) {
          assert.equal(got.ok, false, `reference raised ${ref.error}, custody recorded ${JSON.stringify(got)}`);
          assert.equal(ref.error, 'PrefixError');
          assert.equal((got as { error: string }).error, 'LSTRIP_CONFLICT');
        } else {
          assert.ok(got.ok, `custody failed: ${JSON.stringify(got)}`);
          assert.deepEqual(got.map, ref.map);
        }
      });
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('no paths → empty map; base path that is not a folder → FILE_NOT_FOUND', async () => {
  assert.deepEqual(await recordArtifacts([]), {});
  await assert.rejects(recordArtifacts(['.'], { basePath: '/nonexistent/base' }), (e: unknown) => isCustodyError(e) && e.code === 'FILE_NOT_FOUND');
});

test('pythonNormpath behaves like os.path.normpath', () => {
  const r = spawnSync(PY, ['-c', 'import json,os,sys; print(json.dumps([os.path.normpath(p) for p in json.loads(sys.argv[1])]))', JSON.stringify(['', '.', './', 'a//b/', '../x', 'a/../../b', '/../a', '//a', '///a', 'a/./b/..', './.'])], { encoding: 'utf8' });
  const expected = JSON.parse(r.stdout) as string[];
  assert.deepEqual(['', '.', './', 'a//b/', '../x', 'a/../../b', '/../a', '//a', '///a', 'a/./b/..', './.'].map(pythonNormpath), expected);
});

test('worker pool and inline hashing agree, order preserved, unreadable file → FILE_UNREADABLE', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-pool-'));
  try {
    const files = Array.from({ length: 40 }, (_, i) => {
      const p = join(d, `f${i}`);
      writeFileSync(p, Buffer.alloc(1000 + i * 5000, i));
      return { path: p, size: 1000 + i * 5000 };
    });
    const inline = await hashFiles(files, { workers: 1 });
    const pooled = await hashFiles(files, { workers: 2, inlineBelowBytes: 0 });
    assert.deepEqual(pooled, inline);
    const ref = spawnSync('sha256sum', files.map((f) => f.path), { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.split(' ')[0]);
    assert.deepEqual(inline, ref);
    await assert.rejects(hashFiles([...files, { path: join(d, 'gone'), size: 1 }], { workers: 2, inlineBelowBytes: 0 }), (e: unknown) => isCustodyError(e) && e.code === 'FILE_UNREADABLE');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('resolveArtifacts visits files of a folder before its sub-folders, sorted', () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-order-'));
  try {
    for (const p of ['b/z', 'b/a', 'a/y/1', 'a/x', 'c']) {
      mkdirSync(join(d, p, '..'), { recursive: true });
      writeFileSync(join(d, p), p);
    }
    assert.deepEqual(resolveArtifacts(['.'], { basePath: d }).map((a) => a.key), ['c', 'a/x', 'a/y/1', 'b/a', 'b/z']);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
