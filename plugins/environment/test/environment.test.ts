import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectEvidence } from '@custody/engine';
import environmentPlugin, { detectCi, allowedEnv, environmentEvidence, ENVIRONMENT_PREDICATE_TYPE } from '../src/index.ts';

test('CI providers and their run identity', () => {
  assert.deepEqual(detectCi({ GITHUB_ACTIONS: 'true', GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '2', GITHUB_REPOSITORY: 'o/r', GITHUB_SHA: 'abc', GITHUB_REF: 'refs/heads/main', GITHUB_WORKFLOW: 'ci', GITHUB_TOKEN: 'x' }), {
    provider: 'github-actions', runId: '42', runAttempt: '2', workflow: 'ci', repository: 'o/r', commit: 'abc', ref: 'refs/heads/main', url: 'https://github.com/o/r/actions/runs/42',
  });
  assert.deepEqual(detectCi({ GITLAB_CI: 'true', CI: 'true', CI_PIPELINE_ID: '7', CI_JOB_ID: '8', CI_PROJECT_PATH: 'g/p', CI_COMMIT_SHA: 'def', CI_COMMIT_REF_NAME: 'dev', CI_JOB_URL: 'https://gitlab.example/g/p/-/jobs/8', CI_JOB_TOKEN: 'x' }), {
    provider: 'gitlab-ci', runId: '7', job: '8', repository: 'g/p', commit: 'def', ref: 'dev', url: 'https://gitlab.example/g/p/-/jobs/8',
  });
  assert.deepEqual(detectCi({ JENKINS_URL: 'https://j/', BUILD_NUMBER: '3', JOB_NAME: 'train', BUILD_URL: 'https://j/job/train/3/' }), { provider: 'jenkins', runId: '3', job: 'train', url: 'https://j/job/train/3/' });
  assert.deepEqual(detectCi({ CI: 'true' }), { provider: 'generic' });
  assert.equal(detectCi({ CI: 'false' }), null);
  assert.equal(detectCi({}), null);
});

test('environment variables only from the allow-list, never secrets', () => {
  const env = { LANG: 'C.UTF-8', HOME: '/root', AWS_SECRET_ACCESS_KEY: 's', MY_TOKEN: 't', FOO: 'bar', DB_PASSWORD: 'p', SIGNING_KEY: 'k', NODE_ENV: 'production' };
  assert.deepEqual(allowedEnv(env), { LANG: 'C.UTF-8', NODE_ENV: 'production' });
  assert.deepEqual(allowedEnv(env, ['FOO', 'MY_TOKEN', 'DB_PASSWORD', 'SIGNING_KEY', 'AWS_SECRET_ACCESS_KEY']), { FOO: 'bar', LANG: 'C.UTF-8', NODE_ENV: 'production' });
  const full = environmentEvidence(env, ['FOO']);
  assert.ok(!JSON.stringify(full).includes('"s"') && !JSON.stringify(full).includes('/root'));
});

test('the plugin emits a schema-valid predicate; a bad option fails it', async () => {
  const preds = await collectEvidence({ plugin: environmentPlugin, options: { env: ['PATH'] }, source: 'test' }, { workdir: process.cwd(), exclude: ['*'] });
  assert.equal(preds.length, 1);
  const p = preds[0].predicate;
  assert.equal(p.predicateType, ENVIRONMENT_PREDICATE_TYPE);
  assert.equal((p.predicate.runtime as { node: string }).node, process.versions.node);
  assert.equal((p.predicate.env as Record<string, string>).PATH, process.env.PATH);
  await assert.rejects(collectEvidence({ plugin: environmentPlugin, options: { env: 'PATH' }, source: 'test' }, { exclude: ['*'] }), (e: unknown) => (e as { code?: string }).code === 'PLUGIN_FAILED');
});
