/** `pnpm bench`: runs every benchmark, one after the other (they compete for the same 2 cores). */
import { benchHash } from './hash.ts';

const benches: { name: string; run: () => Promise<void> }[] = [
  { name: 'hash', run: benchHash },
];

for (const b of benches) {
  await b.run();
  console.log('');
}
