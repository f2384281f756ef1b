/**
 * One plugin alone, for `custody evidence`: the current folder's files as materials and
 * products, no command, nothing signed or stored; returns the validated predicates.
 */
import { runStep, type EmittedPredicate } from './lifecycle.ts';
import { recordArtifacts } from './hashing/artifacts.ts';
import { stepExcludes } from './builtin/excludes.ts';
import type { LoadedPlugin } from './plugins/load.ts';
import type { StepLogger } from './types.ts';

export async function collectEvidence(loaded: LoadedPlugin, o: { workdir?: string; stepName?: string; exclude?: string[]; logger?: StepLogger } = {}): Promise<EmittedPredicate[]> {
  const workdir = o.workdir ?? process.cwd();
  // Nothing runs between materials and products, so the folder is hashed once.
  const files = await recordArtifacts(['.'], { basePath: workdir, exclude: stepExcludes(o.exclude) });
  const result = await runStep({
    stepName: o.stepName ?? 'evidence',
    workdir,
    noCommand: true,
    observedMaterials: files,
    observedProducts: files,
    plugins: [loaded],
    logger: o.logger,
  });
  return result.predicates;
}
