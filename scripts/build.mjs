// Bundles the CLI (workspace sources + dependencies) into packages/cli/dist with code
// splitting, so `custody --version` loads only the entry chunk and heavy modules
// (sigstore, CEL, CycloneDX) are loaded lazily through dynamic import().
// Builds into a temporary folder and swaps it in, so a test that is running the CLI
// never sees a half-written bundle.
import { build } from 'esbuild';
import { rmSync, renameSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}packages/cli/dist`;
const tmp = `${outdir}.tmp-${process.pid}`;
const old = `${outdir}.old-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
try {
  await build({
    entryPoints: { main: `${root}packages/cli/src/main.ts` },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    logLevel: 'warning',
    // cosmiconfig can load TypeScript configs; bundling the compiler would cost every start-up.
    external: ['typescript'],
    // Some CommonJS dependencies call require() on Node built-ins; give the ESM bundle one.
    banner: { js: "import { createRequire as __custodyCreateRequire } from 'node:module'; const require = __custodyCreateRequire(import.meta.url);" },
  });
} catch {
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
}
if (existsSync(outdir)) renameSync(outdir, old);
renameSync(tmp, outdir);
rmSync(old, { recursive: true, force: true });
