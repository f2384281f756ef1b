/**
 * Which files a step's materials/products are, keyed exactly as in-toto's
 * `runlib.record_artifacts_as_dict` (follow_symlink_dirs=True, as in_toto_run and
 * in_toto_record pass it) would key them:
 * - every given path is normalized like Python's os.path.normpath, relative to the base path;
 * - exclude patterns (gitwildmatch; the defaults unless the caller gives its own) are applied
 *   to the given paths, then to each directory and file found while walking;
 * - directories are walked top-down, files of a folder in sorted order before its sorted
 *   sub-folders; symlinked files and folders are followed (a symlink cycle is walked until the
 *   OS refuses the path, as os.walk does; unreadable folders are skipped like os.walk's
 *   default onerror); broken links, sockets and fifos are skipped;
 * - paths that do not exist are skipped silently;
 * - `lstripPaths`: the first matching prefix is removed; two prefixes where one starts with
 *   the other, or two artifacts that end up with the same key, are an error.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { posix, resolve } from 'node:path';
import { CustodyError, setOwn } from '@custody/core';
import type { ArtifactMap } from '@custody/core';
import { ExcludeFilter } from './gitwildmatch.ts';
import { hashFiles, type HashOptions } from './hash-pool.ts';
import type { ProgressSink } from './progress.ts';

export const DEFAULT_EXCLUDE_PATTERNS: readonly string[] = ['*.link*', '.git', '*.pyc', '*~'];

export interface RecordOptions extends HashOptions {
  /** Folder the artifact paths are relative to (default: process.cwd()). */
  basePath?: string;
  /** Replace (not extend) the default exclude patterns, as the reference does. */
  exclude?: readonly string[];
  lstripPaths?: readonly string[];
  progress?: ProgressSink;
}

export interface ResolvedArtifact { key: string; path: string; size: number }

/** Python's os.path.normpath for POSIX paths. */
export function pythonNormpath(p: string): string {
  if (p === '') return '.';
  const initialSlashes = p.startsWith('//') && !p.startsWith('///') ? 2 : p.startsWith('/') ? 1 : 0;
  const parts: string[] = [];
  for (const comp of p.split('/')) {
    if (comp === '' || comp === '.') continue;
    if (comp !== '..' || (!initialSlashes && parts.length === 0) || (parts.length > 0 && parts[parts.length - 1] === '..')) parts.push(comp);
    else if (parts.length > 0) parts.pop();
  }
  const joined = '/'.repeat(initialSlashes) + parts.join('/');
  return joined || '.';
}

/** Python's default str ordering (by code point); UTF-16 order differs above U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function applyExcludes(names: string[], filter: ExcludeFilter): string[] {
  return [...new Set(names.filter((n) => !filter.matches(n)))].sort(compareCodePoints);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Resolves paths to the files to hash, in the reference's visiting order, with their keys. */
export function resolveArtifacts(paths: readonly string[], opts: RecordOptions = {}): ResolvedArtifact[] {
  if (paths.length === 0) return [];
  const base = resolve(opts.basePath ?? '.');
  if (opts.basePath !== undefined) {
    const st = statOrNull(base);
    if (!st || !st.isDirectory()) {
      throw new CustodyError('FILE_NOT_FOUND', 'cannot use as base path: not a directory', { file: opts.basePath });
    }
  }
  const patterns = opts.exclude && opts.exclude.length > 0 ? opts.exclude : DEFAULT_EXCLUDE_PATTERNS;
  let filter: ExcludeFilter;
  try {
    filter = new ExcludeFilter(patterns);
  } catch (e) {
    throw new CustodyError('USAGE', (e as Error).message);
  }
  const lstrip = opts.lstripPaths ?? [];
  for (let i = 0; i < lstrip.length; i++) {
    for (let j = i + 1; j < lstrip.length; j++) {
      if (lstrip[i].startsWith(lstrip[j]) || lstrip[j].startsWith(lstrip[i])) {
        throw new CustodyError('LSTRIP_CONFLICT', `'${lstrip[i]}' and '${lstrip[j]}' triggered a left substring error`);
      }
    }
  }

  const out: ResolvedArtifact[] = [];
  const seen = new Set<string>();
  const abs = (rel: string): string => (rel.startsWith('/') ? rel : `${base}/${rel}`);
  const add = (rel: string, st: Stats): void => {
    // The reference records a file named `a\b` as `a/b` (runlib replaces every backslash),
    // before lstrip, so a file named `dist\evil.bin` is seen by `DISALLOW dist/*`.
    let key = rel.replace(/\\/g, '/');
    if (lstrip.length > 0) {
      for (const prefix of lstrip) {
        if (key.startsWith(prefix)) {
          key = key.slice(prefix.length);
          break;
        }
      }
      if (seen.has(key)) {
        throw new CustodyError('LSTRIP_CONFLICT', `prefix selection has resulted in non unique dictionary key '${key}'`);
      }
    }
    if (seen.has(key)) {
      // Without lstrip the reference overwrites the entry; keep the last one too.
      const idx = out.findIndex((a) => a.key === key);
      out.splice(idx, 1);
    }
    seen.add(key);
    out.push({ key, path: abs(rel), size: st.size });
  };

  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(abs(dir), { withFileTypes: true });
    } catch {
      return; // os.walk ignores folders it cannot list (including ELOOP at the end of a cycle)
    }
    const dirNames: string[] = [];
    const fileNames: string[] = [];
    for (const e of entries) {
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) isDir = statOrNull(abs(posix.join(dir, e.name)))?.isDirectory() ?? false;
      (isDir ? dirNames : fileNames).push(e.name);
    }
    const dirPaths = applyExcludes(dirNames.map((n) => pythonNormpath(posix.join(dir, n))), filter);
    const filePaths: string[] = [];
    const fileStats = new Map<string, Stats>();
    for (const n of fileNames) {
      const rel = pythonNormpath(posix.join(dir, n));
      const st = statOrNull(abs(rel));
      if (st?.isFile()) {
        filePaths.push(rel);
        fileStats.set(rel, st);
      }
    }
    for (const rel of applyExcludes(filePaths, filter)) add(rel, fileStats.get(rel)!);
    for (const sub of dirPaths) walk(sub);
  };

  for (const artifact of applyExcludes(paths.map(pythonNormpath), filter)) {
    const st = statOrNull(abs(artifact));
    if (st?.isFile()) add(artifact, st);
    else if (st?.isDirectory()) walk(artifact);
    // anything else does not exist (or is not a file): skipped, as the reference does
  }
  return out;
}

/** Hashes the artifacts into in-toto's `{path: {sha256: hex}}` map. */
export async function recordArtifacts(paths: readonly string[], opts: RecordOptions = {}): Promise<ArtifactMap> {
  const resolved = resolveArtifacts(paths, opts);
  const progress = opts.progress;
  progress?.start(resolved.reduce((s, a) => s + a.size, 0), resolved.length);
  let digests: string[];
  try {
    digests = await hashFiles(resolved, { workers: opts.workers, onProgress: progress ? (n) => progress.update(n) : opts.onProgress });
  } finally {
    progress?.finish();
  }
  const map: ArtifactMap = {};
  resolved.forEach((a, i) => {
    setOwn<Record<string, string>>(map, a.key, { sha256: digests[i] }); // a file named __proto__ is recorded like any other
  });
  return map;
}
