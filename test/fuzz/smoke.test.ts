// A bounded run of `pnpm fuzz` (a few seconds): every CLI-reachable parser meets hostile input
// with a CustodyError of an input code, never an internal error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzTarget, makeSeeds, targets } from './targets.ts';

test('fuzz smoke: no internal errors in any parser', { timeout: 120_000 }, async () => {
  const all = targets(await makeSeeds());
  assert.ok(all.length >= 11);
  for (const [i, t] of all.entries()) {
    const runs = Math.ceil(200 / (t.cost ?? 1));
    const r = fuzzTarget(t, runs, 4242 + i);
    assert.equal(r.inputs, runs);
    assert.deepEqual(r.internal.slice(0, 3), [], `${t.name}: internal errors`);
    // the mutations reach both outcomes (a fuzzer that only produces garbage tests nothing)
    assert.ok(Object.keys(r.rejected).length > 0, `${t.name}: nothing rejected`);
  }
});
