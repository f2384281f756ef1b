/**
 * The configuration `custody pipeline run` reads: the engine's `custody.config.*` (same file,
 * same search) plus `functionaries`, which maps each step to the private key that signs it:
 *
 *   { "functionaries": { "fetch-data": "keys/data-engineer", "train": "keys/ml-engineer" },
 *     "outDir": "attestations" }
 *
 * Validated against the engine's CONFIG_SCHEMA extended by `functionaries`, so every other
 * setting means exactly what it means to `custody run`.
 */
import { dirname, resolve } from 'node:path';
import { CustodyError } from '@custody/core';
import { CONFIG_SCHEMA } from '../config-schema.ts';
import { CONFIG_SEARCH_PLACES, type CustodyConfig } from '../config.ts';

export interface PipelineConfig extends CustodyConfig {
  /** Step name → private key file (relative to the configuration file). */
  functionaries?: Record<string, string>;
}

export interface LoadedPipelineConfig {
  config: PipelineConfig;
  filepath?: string;
  baseDir: string;
}

export const PIPELINE_CONFIG_SCHEMA = {
  ...CONFIG_SCHEMA,
  $id: 'https://custody.dev/schemas/pipeline-config.schema.json',
  properties: {
    ...CONFIG_SCHEMA.properties,
    functionaries: {
      type: 'object',
      description: 'Step name → private key file that signs the step in `custody pipeline run`.',
      additionalProperties: { type: 'string', minLength: 1 },
    },
  },
} as const;

type ValidateFn = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params?: Record<string, unknown> }[] | null };

async function validator(): Promise<ValidateFn> {
  const { default: Ajv } = await import('ajv');
  const ajv = new (Ajv as unknown as new (o: object) => { compile(s: object): ValidateFn })({ strict: false, allErrors: true });
  return ajv.compile(PIPELINE_CONFIG_SCHEMA);
}

/** Loads the nearest configuration from `cwd` (or `explicitFile`); `{}` when there is none. */
export async function loadPipelineConfig(cwd: string, explicitFile?: string): Promise<LoadedPipelineConfig> {
  const mod = (await import('cosmiconfig')) as typeof import('cosmiconfig') & { default?: typeof import('cosmiconfig') };
  const cosmiconfig = mod.cosmiconfig ?? mod.default!.cosmiconfig;
  const explorer = cosmiconfig('custody', { searchPlaces: CONFIG_SEARCH_PLACES, searchStrategy: 'project', cache: false });
  let result: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  try {
    result = explicitFile ? await explorer.load(resolve(cwd, explicitFile)) : await explorer.search(cwd);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { filepath?: string };
    if (err.code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'configuration file not found', { file: explicitFile });
    throw new CustodyError('CONFIG_INVALID', `cannot parse configuration: ${err.message.split('\n')[0]}`, { file: err.filepath ?? explicitFile, cause: e });
  }
  if (!result || result.isEmpty) return { config: {}, baseDir: cwd, filepath: result?.filepath };
  const validate = await validator();
  if (!validate(result.config)) {
    const e = validate.errors![0];
    const extra = e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : '';
    throw new CustodyError('CONFIG_INVALID', `${e.instancePath || 'configuration'} ${e.message ?? 'is invalid'}${extra}`, { file: result.filepath });
  }
  return { config: result.config as PipelineConfig, filepath: result.filepath, baseDir: dirname(result.filepath) };
}
