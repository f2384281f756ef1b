/** `pnpm bench`: runs every benchmark, one after the other (they compete for the same 2 cores). */
import { benchHash } from './hash.ts';
import { benchVerify } from './verify.ts';
import { benchAdmission } from './admission.ts';
import { benchTrace } from './trace.ts';
import { benchRegistry } from './registry.ts';

// Add a benchmark: export an async function from bench/<name>.ts and list it here.
const benches: { name: string; run: () => Promise<unknown> }[] = [
  { name: 'hash', run: benchHash },
  { name: 'verify', run: () => benchVerify() },
  // only when named (`pnpm bench registry`): at N ≥ 100 it does not finish yet (under investigation)
  { name: 'registry', run: async () => { if (process.argv.slice(2).includes('registry')) await benchRegistry(); } },
  { name: 'admission', run: async () => { if (!(await benchAdmission())) process.exitCode = 1; } },
  { name: 'trace', run: () => benchTrace() },
];

const only = process.argv.slice(2);
for (const b of benches) {
  if (only.length > 0 && !only.includes(b.name)) continue;
  await b.run();
  console.log('');
}
