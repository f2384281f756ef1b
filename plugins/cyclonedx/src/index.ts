/**
 * cyclonedx: a CycloneDX 1.6 ML-BOM of a step's model — machine-learning-model component with a
 * modelCard (dataset refs, performance and fairness metrics, considerations), data components,
 * hashes, licenses and dependencies — validated against the official 1.6 schema before it is
 * emitted (predicateType https://cyclonedx.org/bom).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { definePlugin } from '@custody/engine';
import { scanModelDir } from '@custody/plugin-model';
import { describeDatasetFile } from '@custody/plugin-dataset';
import { buildMlBom, CYCLONEDX_PREDICATE_TYPE, type BomFairnessInput, type MlBomInput } from './bom.ts';
import { assertValidBom } from './validate.ts';

export * from './bom.ts';
export * from './validate.ts';

/**
 * What the engine checks on emit. The full official schema needs its SPDX/JSF sub-schemas, so
 * the plugin validates against it itself (assertValidBom) before emitting; this is the envelope.
 */
export const CYCLONEDX_PREDICATE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['bomFormat', 'specVersion', 'components'],
  properties: { bomFormat: { const: 'CycloneDX' }, specVersion: { const: '1.6' }, components: { type: 'array' } },
} as const;

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `cannot read ${what}: ${(e as Error).message}`, { file: path });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CustodyError('MALFORMED_JSON', `${what} is not JSON: ${(e as Error).message}`, { file: path });
  }
}

/** Accepts a bias-metrics predicate, a Statement carrying one, or `custody evidence bias --json` output. */
export function fairnessFrom(doc: unknown, file?: string): BomFairnessInput[] {
  const candidates: unknown[] = Array.isArray(doc) ? doc : [doc];
  for (const c of candidates) {
    const o = c as Record<string, unknown>;
    const pred = (o?.predicateType === 'https://custody.dev/attestation/bias-metrics/v0.1' ? o.predicate : o?.attributes ? o : undefined) as { attributes?: BomFairnessInput[] } | undefined;
    if (pred?.attributes) return pred.attributes;
  }
  throw new CustodyError('PREDICATE_INVALID', 'no bias-metrics predicate (https://custody.dev/attestation/bias-metrics/v0.1) found', { file });
}

const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));

export default definePlugin({
  name: 'cyclonedx',
  apiVersion: 1,
  description: 'CycloneDX 1.6 ML-BOM: model component with modelCard, datasets, hashes, licenses, dependencies',
  predicateTypes: [CYCLONEDX_PREDICATE_TYPE],
  schemas: { [CYCLONEDX_PREDICATE_TYPE]: CYCLONEDX_PREDICATE_SCHEMA },
  cliOptions: {
    model: { type: 'string', describe: 'model folder (default: the working directory)' },
    dataset: { type: 'array', describe: 'dataset file(s) the model was trained or evaluated on' },
    biasMetrics: { type: 'string', describe: 'JSON file with a bias-metrics predicate (fairness metrics)' },
    performance: { type: 'string', describe: 'JSON file: [{type, value, slice?}] or {metric: value}' },
    approach: { type: 'string', describe: 'learning approach, e.g. supervised' },
  },
  apply(hooks) {
    hooks.postProduct.tapPromise('cyclonedx', async (ctx) => {
      const o = ctx.options as Record<string, unknown>;
      const at = (p: string) => (isAbsolute(p) ? p : join(ctx.workdir, p));
      const model = await scanModelDir(at(typeof o.model === 'string' ? o.model : '.'), {});
      const datasets = await Promise.all(list(o.dataset).map((f) => describeDatasetFile(at(f), { name: f })));
      let performance: MlBomInput['performance'];
      if (typeof o.performance === 'string') {
        const doc = await readJson(at(o.performance), 'performance metrics');
        performance = Array.isArray(doc)
          ? (doc as { type: string; value: number | string; slice?: string }[])
          : Object.entries(doc as Record<string, number | string>).map(([type, value]) => ({ type, value }));
      }
      const fairness = typeof o.biasMetrics === 'string' ? fairnessFrom(await readJson(at(o.biasMetrics), 'bias metrics'), at(o.biasMetrics)) : undefined;
      const bom = buildMlBom({
        model, datasets, performance, fairness,
        approach: typeof o.approach === 'string' ? (o.approach as MlBomInput['approach']) : undefined,
        timestamp: ctx.execution?.finishedAt ?? new Date(),
      });
      assertValidBom(bom);
      ctx.emit({ predicateType: CYCLONEDX_PREDICATE_TYPE, predicate: bom });
    });
  },
});
