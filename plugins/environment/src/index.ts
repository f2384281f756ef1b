/**
 * environment: where a step ran — OS, architecture, runtime versions, the CI provider and
 * the run's identity, and environment variables from an allow-list only. Names that look
 * like secrets are never recorded, even when allow-listed.
 */
import { arch, platform, release, type } from 'node:os';
import { definePlugin } from '@custody/engine';
import schema from '../schemas/environment.schema.json' with { type: 'json' };

export const ENVIRONMENT_PREDICATE_TYPE = 'https://custody.dev/attestation/environment/v0.1';

/** Recorded when set; extend with the plugin option `env`. */
export const DEFAULT_ENV_ALLOW_LIST = ['CI', 'NODE_ENV', 'LANG', 'LC_ALL', 'TZ', 'SOURCE_DATE_EPOCH', 'CUDA_VISIBLE_DEVICES', 'OMP_NUM_THREADS', 'PYTHONHASHSEED'];

/** Never recorded, whatever the allow-list says. */
export const SECRET_NAME = /(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY|AUTH|COOKIE|SESSION|SIGNATURE|_KEY$|^KEY$)/i;

export interface CiInfo {
  provider: 'github-actions' | 'gitlab-ci' | 'jenkins' | 'generic';
  runId?: string;
  runAttempt?: string;
  job?: string;
  workflow?: string;
  repository?: string;
  commit?: string;
  ref?: string;
  url?: string;
}

function pick(o: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

export function detectCi(env: NodeJS.ProcessEnv): CiInfo | null {
  if (env.GITHUB_ACTIONS === 'true') {
    const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
    return {
      provider: 'github-actions',
      ...pick({
        runId: env.GITHUB_RUN_ID,
        runAttempt: env.GITHUB_RUN_ATTEMPT,
        job: env.GITHUB_JOB,
        workflow: env.GITHUB_WORKFLOW_REF ?? env.GITHUB_WORKFLOW,
        repository: env.GITHUB_REPOSITORY,
        commit: env.GITHUB_SHA,
        ref: env.GITHUB_REF,
        url: env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
      }),
    };
  }
  if (env.GITLAB_CI === 'true') {
    return {
      provider: 'gitlab-ci',
      ...pick({ runId: env.CI_PIPELINE_ID, job: env.CI_JOB_ID, repository: env.CI_PROJECT_PATH, commit: env.CI_COMMIT_SHA, ref: env.CI_COMMIT_REF_NAME, url: env.CI_JOB_URL }),
    };
  }
  if (env.JENKINS_URL || env.JENKINS_HOME) {
    return {
      provider: 'jenkins',
      ...pick({ runId: env.BUILD_NUMBER, job: env.JOB_NAME, commit: env.GIT_COMMIT, ref: env.GIT_BRANCH, url: env.BUILD_URL }),
    };
  }
  if (env.CI && env.CI !== 'false' && env.CI !== '0') return { provider: 'generic' };
  return null;
}

export function allowedEnv(env: NodeJS.ProcessEnv, extra: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...DEFAULT_ENV_ALLOW_LIST, ...extra].sort()) {
    if (SECRET_NAME.test(name)) continue;
    const v = env[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function environmentEvidence(env: NodeJS.ProcessEnv = process.env, extraEnv: readonly string[] = []): Record<string, unknown> {
  return {
    os: { platform: platform(), type: type(), release: release() },
    arch: arch(),
    runtime: { node: process.versions.node, v8: process.versions.v8 },
    ci: detectCi(env),
    env: allowedEnv(env, extraEnv),
  };
}

export default definePlugin({
  name: 'environment',
  apiVersion: 1,
  description: 'OS, architecture, runtime versions, CI provider and run identity, allow-listed env vars',
  predicateTypes: [ENVIRONMENT_PREDICATE_TYPE],
  schemas: { [ENVIRONMENT_PREDICATE_TYPE]: schema },
  cliOptions: {
    env: { type: 'array', describe: 'extra environment variable names to record (secret-looking names are always refused)' },
  },
  apply(hooks) {
    hooks.preMaterial.tapPromise('environment', async (ctx) => {
      const extra = ctx.options.env;
      if (extra !== undefined && (!Array.isArray(extra) || extra.some((e) => typeof e !== 'string'))) {
        throw new Error('option env must be a list of variable names');
      }
      ctx.emit({ predicateType: ENVIRONMENT_PREDICATE_TYPE, predicate: environmentEvidence(process.env, (extra as string[] | undefined) ?? []) });
    });
  },
});
