import type { StepHooks } from '../types.ts';
import type { StepState } from '../lifecycle.ts';
import { recordArtifacts } from '../hashing/artifacts.ts';
import { resolve } from 'node:path';

/** Built-in: hashes the step's inputs in `material` (or takes those observed at record start). */
export function materialsPlugin(hooks: StepHooks, state: StepState): void {
  hooks.material.tapPromise({ name: 'custody:materials' }, async (ctx) => {
    const o = state.options;
    if (o.observedMaterials) {
      ctx.materials = o.observedMaterials;
      return;
    }
    ctx.materials = await recordArtifacts(o.materials ?? [], {
      basePath: resolve(state.workdir, o.basePath ?? '.'),
      exclude: o.exclude,
      lstripPaths: o.lstripPaths,
      progress: o.progress?.('hashing materials'),
    });
  });
}
