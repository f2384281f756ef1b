/**
 * The order a pipeline runs its steps in. A step depends on every step its MATCH rules name
 * (`MATCH … FROM <step>`, in expected_materials or expected_products); steps run after all the
 * steps they depend on, and among the steps that are ready the one listed first in the layout
 * runs first. Pure: the layout body in, the plan out.
 */
import { CustodyError, isPlainObject } from '@custody/core';

export interface PlannedStep {
  name: string;
  /** Position in the layout's `steps`. */
  index: number;
  /** The step as the layout holds it, extension fields (run, plugins, …) included. */
  body: Record<string, unknown>;
  /** Names of the steps this one MATCHes against, in layout order. */
  dependsOn: string[];
}

/** The step a MATCH rule's tokens name (its last token), or undefined for other rules. */
function matchTarget(rule: unknown): string | undefined {
  if (!Array.isArray(rule) || rule.length < 2 || String(rule[0]).toUpperCase() !== 'MATCH') return undefined;
  const last = rule[rule.length - 1];
  return typeof last === 'string' ? last : undefined;
}

/** Steps in dependency order (ties in layout order); USAGE when the MATCH rules form a cycle. */
export function planPipeline(layout: unknown): PlannedStep[] {
  if (!isPlainObject(layout) || !Array.isArray(layout.steps)) throw new CustodyError('SCHEMA_INVALID', 'not a layout: steps must be a list');
  const steps = layout.steps.filter(isPlainObject).map((body, index) => ({ name: String(body.name), index, body, dependsOn: [] as string[] }));
  const byName = new Map(steps.map((s) => [s.name, s]));
  for (const s of steps) {
    const deps = new Set<string>();
    for (const field of ['expected_materials', 'expected_products'] as const) {
      const rules = s.body[field];
      if (!Array.isArray(rules)) continue;
      for (const rule of rules) {
        const target = matchTarget(rule);
        // Inspections are not steps; a step matching itself adds no ordering.
        if (target !== undefined && target !== s.name && byName.has(target)) deps.add(target);
      }
    }
    s.dependsOn = steps.filter((o) => deps.has(o.name)).map((o) => o.name);
  }
  const done = new Set<string>();
  const order: PlannedStep[] = [];
  while (order.length < steps.length) {
    const next = steps.find((s) => !done.has(s.name) && s.dependsOn.every((d) => done.has(d)));
    if (!next) {
      const left = steps.filter((s) => !done.has(s.name)).map((s) => s.name);
      throw new CustodyError('USAGE', `the MATCH rules between steps form a cycle (${left.join(', ')}): no order to run them in`);
    }
    done.add(next.name);
    order.push(next);
  }
  return order;
}
