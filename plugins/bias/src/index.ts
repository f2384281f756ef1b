/**
 * bias: group fairness of a classifier's predictions per sensitive attribute (selection rate,
 * TPR, FPR; demographic parity difference and ratio, equalized odds difference, equal
 * opportunity difference, disparate impact), as an in-toto test-result with one test per
 * threshold plus a bias-metrics predicate with every number.
 */
import { isAbsolute, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { definePlugin } from '@custody/engine';
import metricsSchema from '../../../schemas/bias-metrics.schema.json' with { type: 'json' };
import testResultSchema from '../../../schemas/test-result.schema.json' with { type: 'json' };
import { BIAS_METRICS_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE, evaluateBiasFile } from './evaluate.ts';

export * from './metrics.ts';
export * from './evaluate.ts';

const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map(String));

export default definePlugin({
  name: 'bias',
  apiVersion: 1,
  description: 'Fairness of predictions per sensitive attribute: test-result with thresholds + bias-metrics',
  predicateTypes: [TEST_RESULT_PREDICATE_TYPE, BIAS_METRICS_PREDICATE_TYPE],
  schemas: { [TEST_RESULT_PREDICATE_TYPE]: testResultSchema, [BIAS_METRICS_PREDICATE_TYPE]: metricsSchema },
  cliOptions: {
    predictions: { type: 'string', describe: 'predictions file (.csv or .jsonl)' },
    label: { type: 'string', describe: 'column with the true label' },
    prediction: { type: 'string', describe: 'column with the model prediction' },
    positive: { type: 'string', describe: 'favorable outcome value (inferred for 0/1, true/false, yes/no)' },
    sensitive: { type: 'array', describe: 'privileged group: [name:]col=value, col^=prefix, col>number (>=, <, <=)' },
    threshold: { type: 'array', describe: 'check, e.g. disparateImpact>=0.8, abs(sex.equalOpportunityDifference)<=0.1 (default: disparateImpact>=0.8)' },
    warnThreshold: { type: 'array', describe: 'check that only warns when it does not hold' },
  },
  apply(hooks) {
    hooks.postProduct.tapPromise('bias', async (ctx) => {
      const o = ctx.options as Record<string, unknown>;
      for (const k of ['predictions', 'label', 'prediction'] as const) {
        if (typeof o[k] !== 'string' || o[k] === '') throw new CustodyError('USAGE', `bias plugin: option "${k}" is required`);
      }
      const file = o.predictions as string;
      const { metrics, testResult } = await evaluateBiasFile(isAbsolute(file) ? file : join(ctx.workdir, file), {
        label: o.label as string,
        prediction: o.prediction as string,
        positive: o.positive === undefined ? undefined : String(o.positive),
        sensitive: list(o.sensitive) ?? [],
        thresholds: list(o.threshold),
        warnThresholds: list(o.warnThreshold),
      });
      ctx.emit({ predicateType: TEST_RESULT_PREDICATE_TYPE, predicate: testResult as unknown as Record<string, unknown> });
      ctx.emit({ predicateType: BIAS_METRICS_PREDICATE_TYPE, predicate: metrics as unknown as Record<string, unknown> });
    });
  },
});
