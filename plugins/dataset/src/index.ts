/**
 * dataset: what data a step saw — digest, rows, columns with inferred types, missing counts,
 * source and license — for CSV, ARFF and JSON Lines files.
 */
import { isAbsolute, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { definePlugin } from '@custody/engine';
import schema from '../../../schemas/dataset.schema.json' with { type: 'json' };
import { DATASET_PREDICATE_TYPE, describeDatasetFile, type DatasetOptions } from './profile.ts';

export * from './parse.ts';
export * from './profile.ts';

export interface DatasetPluginOptions extends DatasetOptions {
  /** Dataset file(s), relative to the working directory. */
  file?: string | string[];
}

export default definePlugin({
  name: 'dataset',
  apiVersion: 1,
  description: 'Dataset: digest, row count, columns and inferred types, missing values, source and license',
  predicateTypes: [DATASET_PREDICATE_TYPE],
  schemas: { [DATASET_PREDICATE_TYPE]: schema },
  cliOptions: {
    file: { type: 'array', describe: 'dataset file(s): .csv, .arff, .jsonl' },
    format: { type: 'string', describe: 'csv | arff | jsonl (default: from the file extension)' },
    sourceUrl: { type: 'string', describe: 'where the data came from' },
    license: { type: 'string', describe: 'license of the data (SPDX id)' },
  },
  apply(hooks) {
    hooks.postProduct.tapPromise('dataset', async (ctx) => {
      const o = ctx.options as DatasetPluginOptions;
      const files = o.file === undefined ? [] : Array.isArray(o.file) ? o.file.map(String) : [String(o.file)];
      if (files.length === 0) throw new CustodyError('USAGE', 'dataset plugin: set the "file" option to the dataset file(s)');
      for (const f of files) {
        const path = isAbsolute(f) ? f : join(ctx.workdir, f);
        const predicate = await describeDatasetFile(path, { ...o, name: f });
        ctx.emit({
          predicateType: DATASET_PREDICATE_TYPE,
          predicate: predicate as unknown as Record<string, unknown>,
          subject: [{ name: f, digest: { sha256: predicate.digest.sha256 } }],
        });
      }
    });
  },
});
