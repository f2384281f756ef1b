#!/usr/bin/env node
// Thin launcher: the CLI is bundled by scripts/build.mjs into ../dist so that start-up
// does not pay for TypeScript compilation.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/main.mjs', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('custody: the CLI is not built; run `pnpm install` (or `pnpm build`) in the repository first\n');
  process.exit(2);
}
await import(entry.href);
