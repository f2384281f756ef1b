// `pnpm fuzz`: every CLI-reachable parser, from fixed seeds; prints inputs and outcomes per
// parser; exit 1 on any internal error (the inputs that caused the first ones are printed).
//   pnpm fuzz                 # 11,000 inputs per parser, a quarter for the YAML ones (≥ 100,000 in all)
//   pnpm fuzz -- --runs 2000 --seed 7
import { parseArgs } from 'node:util';
import { fuzzTarget, makeSeeds, targets } from './targets.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '11000' }, seed: { type: 'string', default: '20261201' } } });
const runs = Number(values.runs);
const seed = Number(values.seed);
const all = targets(await makeSeeds());
let total = 0;
let internal = 0;
const started = Date.now();
for (const [i, t] of all.entries()) {
  const t0 = Date.now();
  const r = fuzzTarget(t, Math.ceil(runs / (t.cost ?? 1)), seed + i);
  total += r.inputs;
  internal += r.internal.length;
  const rejected = Object.entries(r.rejected).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  process.stdout.write(`${t.name.padEnd(30)} ${String(r.inputs).padStart(7)} inputs  ${String(r.accepted).padStart(6)} accepted  ${String(r.internal.length).padStart(3)} internal  ${((Date.now() - t0) / 1000).toFixed(1)}s  rejected: ${rejected}\n`);
  for (const x of r.internal.filter((x) => x.error).slice(0, 3)) process.stdout.write(`  internal error: ${x.error}\n    input: ${JSON.stringify(x.input)}\n`);
}
process.stdout.write(`${total} inputs, ${internal} internal errors, ${((Date.now() - started) / 1000).toFixed(1)}s (seed ${seed})\n`);
process.exitCode = internal === 0 ? 0 : 1;
