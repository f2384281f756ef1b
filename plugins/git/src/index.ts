/**
 * git: which source revision a step ran on — commit, tree, branch, remote URL (credentials
 * removed) and the files that differed from the commit when the step started.
 */
import { definePlugin } from '@custody/engine';
import schema from '../schemas/git.schema.json' with { type: 'json' };

export const GIT_PREDICATE_TYPE = 'https://custody.dev/attestation/git/v0.1';

export interface GitPredicate {
  isRepository: boolean;
  commit?: string | null;
  tree?: string | null;
  branch?: string | null;
  remote?: { name: string; url: string } | null;
  dirty?: boolean;
  dirtyFiles?: { path: string; status: string }[];
}

/** Removes user:password@ (tokens included) from a remote URL; scp-style `user@host:path` is kept. */
export function stripCredentials(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    // Not parseable by WHATWG URL: drop everything between the scheme and the last '@' of the authority.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  }
}

/** Parses `git status --porcelain=v1 -z` output. */
export function parsePorcelain(out: string): { path: string; status: string }[] {
  const entries = out.split('\0');
  const files: { path: string; status: string }[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.length < 4) continue;
    const status = e.slice(0, 2);
    files.push({ path: e.slice(3), status: status.trim() || status });
    if (status[0] === 'R' || status[0] === 'C') i++; // the rename source follows
  }
  return files;
}

export async function gitEvidence(cwd: string, opts: { remote?: string; dirtyFiles?: boolean } = {}): Promise<GitPredicate> {
  const { execa } = await import('execa');
  const git = async (...args: string[]): Promise<string | null> => {
    const r = await execa('git', args, { cwd, reject: false, stripFinalNewline: true, env: { GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' } });
    return r.exitCode === 0 ? String(r.stdout) : null;
  };
  if ((await git('rev-parse', '--is-inside-work-tree')) !== 'true') return { isRepository: false };
  const [commit, tree, branch, remotes, status] = await Promise.all([
    git('rev-parse', '--verify', '-q', 'HEAD'),
    git('rev-parse', '--verify', '-q', 'HEAD^{tree}'),
    git('symbolic-ref', '--short', '-q', 'HEAD'),
    git('remote'),
    git('status', '--porcelain=v1', '-z', '--untracked-files=all'),
  ]);
  const remoteNames = (remotes ?? '').split('\n').filter(Boolean);
  const remoteName = opts.remote ?? (remoteNames.includes('origin') ? 'origin' : remoteNames[0]);
  const url = remoteName && remoteNames.includes(remoteName) ? await git('remote', 'get-url', remoteName) : null;
  const dirtyFiles = parsePorcelain(status ?? '');
  const predicate: GitPredicate = {
    isRepository: true,
    commit,
    tree,
    branch,
    remote: url ? { name: remoteName!, url: stripCredentials(url) } : null,
    dirty: dirtyFiles.length > 0,
  };
  if (opts.dirtyFiles !== false) predicate.dirtyFiles = dirtyFiles;
  return predicate;
}

export default definePlugin({
  name: 'git',
  apiVersion: 1,
  description: 'Source revision: commit, tree, branch, remote (credentials stripped), dirty files',
  predicateTypes: [GIT_PREDICATE_TYPE],
  schemas: { [GIT_PREDICATE_TYPE]: schema },
  cliOptions: {
    remote: { type: 'string', describe: 'remote to report (default: origin, else the first remote)' },
    dirtyFiles: { type: 'boolean', describe: 'list the changed files (default true)' },
  },
  apply(hooks) {
    // Before materials: the revision the step starts from, not what the command changed.
    hooks.preMaterial.tapPromise('git', async (ctx) => {
      const o = ctx.options as { remote?: string; dirtyFiles?: boolean };
      ctx.emit({ predicateType: GIT_PREDICATE_TYPE, predicate: { ...(await gitEvidence(ctx.workdir, o)) } });
    });
  },
});
