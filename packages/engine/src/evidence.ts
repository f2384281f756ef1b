/**
 * One plugin alone, for `custody evidence`: the current folder's files as materials and
 * products, no command, nothing signed or stored; returns the validated predicates.
 */
import { runStep, type EmittedPredicate } from './lifecycle.ts';
import type { LoadedPlugin } from './plugins/load.ts';
import type { StepLogger } from './types.ts';

export async function collectEvidence(loaded: LoadedPlugin, o: { workdir?: string; stepName?: string; exclude?: string[]; logger?: StepLogger } = {}): Promise<EmittedPredicate[]> {
  const result = await runStep({
    stepName: o.stepName ?? 'evidence',
    workdir: o.workdir,
    noCommand: true,
    materials: ['.'],
    products: ['.'],
    exclude: o.exclude,
    plugins: [loaded],
    logger: o.logger,
  });
  return result.predicates;
}
