import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { collectEvidence } from '@custody/engine';
import gitPlugin, { GIT_PREDICATE_TYPE, stripCredentials, parsePorcelain } from '../src/index.ts';

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function evidence(cwd: string, options: Record<string, unknown> = {}) {
  const preds = await collectEvidence({ plugin: gitPlugin, options, source: 'test' }, { workdir: cwd });
  assert.equal(preds.length, 1);
  assert.equal(preds[0].predicate.predicateType, GIT_PREDICATE_TYPE);
  return preds[0].predicate.predicate as Record<string, unknown>;
}

test('a repository: commit, tree, branch, remote without credentials, dirty files', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-git-'));
  try {
    git(d, 'init', '-q', '-b', 'main');
    writeFileSync(join(d, 'a.txt'), 'a');
    git(d, 'add', 'a.txt');
    git(d, 'commit', '-q', '-m', 'first');
    git(d, 'remote', 'add', 'origin', 'https://alice:ghp_secret123@github.com/org/repo.git');
    writeFileSync(join(d, 'a.txt'), 'changed');
    writeFileSync(join(d, 'new.txt'), 'new');
    const p = await evidence(d);
    assert.equal(p.isRepository, true);
    assert.equal(p.commit, git(d, 'rev-parse', 'HEAD'));
    assert.equal(p.tree, git(d, 'rev-parse', 'HEAD^{tree}'));
    assert.equal(p.branch, 'main');
    assert.deepEqual(p.remote, { name: 'origin', url: 'https://github.com/org/repo.git' });
    assert.ok(!JSON.stringify(p).includes('ghp_secret123'));
    assert.equal(p.dirty, true);
    assert.deepEqual(p.dirtyFiles, [{ path: 'a.txt', status: 'M' }, { path: 'new.txt', status: '??' }]);
    git(d, 'checkout', '-q', '--detach');
    const detached = await evidence(d, { dirtyFiles: false });
    assert.equal(detached.branch, null);
    assert.equal(detached.dirtyFiles, undefined);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('an empty repository and a folder that is not one', async () => {
  const d = mkdtempSync(join(tmpdir(), 'custody-git-'));
  try {
    assert.deepEqual(await evidence(d), { isRepository: false });
    git(d, 'init', '-q', '-b', 'trunk');
    const p = await evidence(d);
    assert.deepEqual([p.isRepository, p.commit, p.tree, p.branch, p.remote, p.dirty], [true, null, null, 'trunk', null, false]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('credential stripping and porcelain parsing', () => {
  assert.equal(stripCredentials('https://user:pw@host.example/r.git'), 'https://host.example/r.git');
  assert.equal(stripCredentials('https://token@host.example/r.git'), 'https://host.example/r.git');
  assert.equal(stripCredentials('ssh://git@host.example:22/r.git'), 'ssh://host.example:22/r.git');
  assert.equal(stripCredentials('git@github.com:org/repo.git'), 'git@github.com:org/repo.git');
  assert.equal(stripCredentials('/srv/git/repo'), '/srv/git/repo');
  assert.deepEqual(parsePorcelain('R  new name\0old name\0 M b\0'), [{ path: 'new name', status: 'R' }, { path: 'b', status: 'M' }]);
});
