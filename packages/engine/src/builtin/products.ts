import type { StepHooks } from '../types.ts';
import type { StepState } from '../lifecycle.ts';
import { recordArtifacts } from '../hashing/artifacts.ts';
import { resolve } from 'node:path';

/** Built-in: hashes the step's outputs in `product`. */
export function productsPlugin(hooks: StepHooks, state: StepState): void {
  hooks.product.tapPromise({ name: 'custody:products' }, async (ctx) => {
    const o = state.options;
    if (o.observedProducts) {
      ctx.products = o.observedProducts;
      return;
    }
    ctx.products = await recordArtifacts(o.products ?? [], {
      basePath: resolve(state.workdir, o.basePath ?? '.'),
      exclude: o.exclude,
      lstripPaths: o.lstripPaths,
      progress: o.progress?.('hashing products'),
    });
  });
}
