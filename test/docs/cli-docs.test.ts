import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
// @ts-expect-error plain ESM script without types
import { renderCliDocs } from '../../scripts/cli-docs.mjs';

test('docs/cli.md is the current --help of every command (regenerate with pnpm docs:cli)', () => {
  const committed = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(committed, renderCliDocs());
});
