/**
 * model: evidence about a Hugging Face–style model repository — per-file sha256 (sharded for
 * large files), Git LFS pointers, safetensors headers, model card front matter and the license
 * decision a policy can gate on. Optionally fetches the repository at a pinned revision first.
 * Also home of the OpenSSF model_signing v1.0 manifest/signature functions.
 */
import { isAbsolute, join } from 'node:path';
import { definePlugin } from '@custody/engine';
import schema from '../../../schemas/model.schema.json' with { type: 'json' };
import { fetchModelRepo } from './fetch.ts';
import { MODEL_PREDICATE_TYPE, scanModelDir, type ModelPredicate } from './scan.ts';

export * from './safetensors.ts';
export * from './lfs.ts';
export * from './modelcard.ts';
export * from './license.ts';
export * from './hashing.ts';
export * from './files.ts';
export * from './scan.ts';
export * from './fetch.ts';
export * from './model-signing.ts';
export * from './model-signing-keyless.ts';

export interface ModelPluginOptions {
  /** Model folder, relative to the step's working directory (default "."). */
  dir?: string;
  /** Repository to fetch into `dir` during the execute phase. */
  url?: string;
  revision?: string;
  include?: string[];
  exclude?: string[];
  shardSize?: number;
  concurrency?: number;
  name?: string;
}

function asStringList(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

export default definePlugin({
  name: 'model',
  apiVersion: 1,
  description: 'Model repository: file digests, Git LFS pointers, safetensors headers, model card, license',
  predicateTypes: [MODEL_PREDICATE_TYPE],
  schemas: { [MODEL_PREDICATE_TYPE]: schema },
  cliOptions: {
    dir: { type: 'string', describe: 'model folder (default: the working directory)' },
    url: { type: 'string', describe: 'git URL to fetch the model from (with --revision)' },
    revision: { type: 'string', describe: 'commit (preferably), tag or branch to check out' },
    include: { type: 'array', describe: 'glob(s) of files to fetch and record' },
    exclude: { type: 'array', describe: 'glob(s) of files to skip' },
    shardSize: { type: 'number', describe: 'files larger than this are also hashed in shards (bytes, default 1e9)' },
    concurrency: { type: 'number', describe: 'files/shards hashed at once (default 2)' },
  },
  apply(hooks) {
    let source: ModelPredicate['source'];
    const dirOf = (workdir: string, o: ModelPluginOptions) => (o.dir ? (isAbsolute(o.dir) ? o.dir : join(workdir, o.dir)) : workdir);
    hooks.execute.tapPromise('model', async (ctx) => {
      const o = ctx.options as ModelPluginOptions;
      if (!o.url) return;
      const fetched = await fetchModelRepo({
        url: o.url, revision: o.revision ?? 'HEAD', dest: dirOf(ctx.workdir, o),
        include: asStringList(o.include), exclude: asStringList(o.exclude), signal: ctx.signal,
      });
      source = { uri: fetched.uri, revision: fetched.revision, commit: fetched.commit };
      ctx.logger.info(`model: fetched ${fetched.files.length} file(s) of ${fetched.uri} at ${fetched.commit}`);
    });
    hooks.postProduct.tapPromise('model', async (ctx) => {
      const o = ctx.options as ModelPluginOptions;
      const predicate = await scanModelDir(dirOf(ctx.workdir, o), {
        name: o.name, include: asStringList(o.include), exclude: asStringList(o.exclude),
        shardSize: o.shardSize, concurrency: o.concurrency, source,
      });
      ctx.emit({ predicateType: MODEL_PREDICATE_TYPE, predicate: predicate as unknown as Record<string, unknown> });
    });
  },
});
