// fetch-model: clone a model repository and check out a pinned revision, materializing only the
// files selected by include/exclude globs (do not download what the pipeline does not use).
import { mkdir, readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { CustodyError } from '@custody/core';
import { selectedByGlobs } from './files.ts';

export interface FetchModelOptions {
  url: string;
  /** Commit, tag or branch; a full commit id pins the content. */
  revision: string;
  dest: string;
  include?: string[];
  exclude?: string[];
  signal?: AbortSignal;
}

export interface FetchModelResult { uri: string; revision: string; commit: string; files: string[] }

/** Removes user:password@ from URLs so they never reach a predicate. */
export function stripCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

async function git(args: string[], cwd: string | undefined, signal?: AbortSignal, input?: string) {
  try {
    return await execa('git', args, { cwd, cancelSignal: signal, input, env: { GIT_TERMINAL_PROMPT: '0' } });
  } catch (e) {
    const err = e as { stderr?: string; shortMessage?: string; message: string };
    const detail = (err.stderr || err.shortMessage || err.message).trim().split('\n').pop();
    throw new CustodyError('MODEL_FETCH_FAILED', `git ${args[0]} failed: ${detail}`, { cause: e });
  }
}

export async function fetchModelRepo(opts: FetchModelOptions): Promise<FetchModelResult> {
  const uri = stripCredentials(opts.url);
  await mkdir(opts.dest, { recursive: true });
  if ((await readdir(opts.dest)).length > 0) {
    throw new CustodyError('MODEL_FETCH_FAILED', 'destination folder is not empty', { file: opts.dest });
  }
  await git(['clone', '--quiet', '--no-checkout', opts.url, opts.dest], undefined, opts.signal);
  const resolved = await git(['rev-parse', '--verify', '--quiet', `${opts.revision}^{commit}`], opts.dest, opts.signal).catch(() => undefined);
  const commit = resolved?.stdout.trim();
  if (!commit) {
    throw new CustodyError('MODEL_FETCH_FAILED', `revision ${opts.revision} not found in ${uri}`, { file: opts.dest });
  }
  if (/^[0-9a-f]{7,64}$/i.test(opts.revision) && !commit.startsWith(opts.revision.toLowerCase())) {
    throw new CustodyError('MODEL_FETCH_FAILED', `revision ${opts.revision} resolved to ${commit}, not the pinned commit`, { file: opts.dest });
  }
  const tree = await git(['ls-tree', '-r', '-z', '--name-only', commit], opts.dest, opts.signal);
  const files = tree.stdout.split('\0').filter((p) => p !== '' && selectedByGlobs(p, opts.include, opts.exclude));
  // Detach HEAD at the pinned commit, then materialize only the selected paths.
  await git(['update-ref', '--no-deref', 'HEAD', commit], opts.dest, opts.signal);
  await git(['read-tree', '--empty'], opts.dest, opts.signal);
  if (files.length > 0) {
    await git(['checkout', commit, '--pathspec-from-file=-', '--pathspec-file-nul'], opts.dest, opts.signal,
      files.map((f) => `:(literal)${f}`).join('\0'));
  }
  return { uri, revision: opts.revision, commit, files };
}
