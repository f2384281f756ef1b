// Walking a model folder: relative POSIX paths, include/exclude globs, symlink policy.
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import { CustodyError } from '@custody/core';

export interface ListedFile { path: string; size: number; symlink: boolean }

/** Compares paths component by component, as Python's PurePosixPath ordering does. */
export function comparePosixPaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = compareCodePoints(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ca = Array.from(a, (ch) => ch.codePointAt(0)!);
  const cb = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  return ca.length - cb.length;
}

/** True when `path` is `prefix` or lies below it (Path.is_relative_to semantics). */
export function isUnder(path: string, prefix: string): boolean {
  const p = prefix.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.') return true;
  return path === p || path.startsWith(p + '/');
}

export interface ListOptions {
  include?: string[];
  exclude?: string[];
  /** Paths (files or folders, relative to the root) left out entirely. */
  ignorePaths?: string[];
  /** Follow symbolic links to files instead of refusing them. */
  allowSymlinks?: boolean;
  /** Skip the .git folder (default true). */
  skipGitDir?: boolean;
}

const globOpts = { dot: true, matchBase: false } as const;

export function selectedByGlobs(path: string, include?: string[], exclude?: string[]): boolean {
  if (include && include.length > 0 && !include.some((g) => minimatch(path, g, globOpts))) return false;
  if (exclude && exclude.some((g) => minimatch(path, g, globOpts) || minimatch(path, `${g.replace(/\/+$/, '')}/**`, globOpts))) return false;
  return true;
}

/** Lists regular files below `root`, sorted with `comparePosixPaths`. */
export async function listModelFiles(root: string, opts: ListOptions = {}): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  const skipGit = opts.skipGitDir ?? true;
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      throw new CustodyError(rel === '' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `cannot read folder: ${(e as Error).message}`, { file: abs, cause: e });
    }
    for (const ent of entries) {
      const path = rel === '' ? ent.name : `${rel}/${ent.name}`;
      if (skipGit && path === '.git') continue;
      if (opts.ignorePaths?.some((p) => isUnder(path, p))) continue;
      if (ent.isDirectory()) {
        await walk(path);
        continue;
      }
      if (!selectedByGlobs(path, opts.include, opts.exclude)) continue;
      const st = await lstat(join(root, path));
      if (st.isSymbolicLink()) {
        if (!opts.allowSymlinks) {
          throw new CustodyError('FILE_UNREADABLE', `symbolic link in model folder (not allowed): ${path}`, { file: join(root, path) });
        }
        const target = await stat(join(root, path));
        if (target.isDirectory()) continue;
        out.push({ path, size: target.size, symlink: true });
        continue;
      }
      if (st.isFile()) out.push({ path, size: st.size, symlink: false });
    }
  };
  await walk('');
  return out.sort((a, b) => comparePosixPaths(a.path, b.path));
}
