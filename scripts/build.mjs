// Bundles the CLI (workspace sources + dependencies) into packages/cli/dist with code
// splitting, so `custody --version` loads only the entry chunk and heavy modules
// (sigstore, CEL, CycloneDX) are loaded lazily through dynamic import().
// Builds into a temporary folder and swaps it in, so a test that is running the CLI
// never sees a half-written bundle.
import { build } from 'esbuild';
import { rmSync, renameSync, existsSync, readFileSync } from 'node:fs';
import { dirname, resolve as pathResolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Barrel-file optimisation. esbuild splits chunks by whole files: a workspace module that
 * imports one function from `@custody/core` (or sign, engine) reaches every file that index
 * re-exports, so loading it also loads CEL, protobuf and sigstore. Static named imports from
 * those package indexes in workspace sources are rewritten to import each name from the
 * file that defines it. An import naming something the map does not know is left as it is.
 */
const BARRELS = ['core', 'sign', 'engine'];
const exportMaps = new Map();

/** name → defining file, following `export *` / `export { … } from` (types omitted). */
function exportsOf(file, seen = new Set()) {
  if (exportMaps.has(file)) return exportMaps.get(file);
  const names = new Map();
  if (seen.has(file)) return names;
  seen.add(file);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return names;
  }
  const rel = (spec) => (spec.startsWith('.') ? pathResolve(dirname(file), spec) : undefined);
  for (const m of text.matchAll(/^export \* from '([^']+)';/gm)) {
    const target = rel(m[1]);
    if (!target) continue;
    for (const [name, origin] of exportsOf(target, seen)) if (name !== 'default' && !names.has(name)) names.set(name, origin);
  }
  for (const m of text.matchAll(/^export \{([^}]*)\} from '([^']+)';/gm)) {
    const target = rel(m[2]);
    if (!target) continue;
    const inner = exportsOf(target, seen);
    for (const spec of m[1].split(',').map((x) => x.trim()).filter(Boolean)) {
      if (spec.startsWith('type ')) continue;
      const [orig, alias] = spec.split(/\s+as\s+/);
      // A renamed re-export cannot be imported from the defining file under the new name.
      if (alias && alias !== orig) continue;
      names.set(orig, inner.get(orig) ?? target);
    }
  }
  for (const m of text.matchAll(/^export (?:declare )?(?:async )?(?:function\*?|const|let|var|class|abstract class|enum) ([A-Za-z_$][\w$]*)/gm)) names.set(m[1], file);
  for (const m of text.matchAll(/^export \{([^}]*)\};/gm)) {
    for (const spec of m[1].split(',').map((x) => x.trim()).filter(Boolean)) {
      if (spec.startsWith('type ')) continue;
      const [orig, alias] = spec.split(/\s+as\s+/);
      if (!alias || alias === orig) names.set(orig, file);
    }
  }
  exportMaps.set(file, names);
  return names;
}

const directImports = {
  name: 'direct-workspace-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/](packages|plugins)[\\/][^\\/]+[\\/]src[\\/].*\.ts$/ }, async (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const source = readFileSync(args.path, 'utf8');
      let changed = false;
      const out = source.replace(/^import \{([^}]*)\} from '@custody\/(core|sign|engine)';$/gm, (whole, list, pkg) => {
        if (!BARRELS.includes(pkg)) return whole;
        const map = exportsOf(`${root}packages/${pkg}/src/index.ts`);
        const byFile = new Map();
        for (const raw of list.split(',').map((x) => x.trim()).filter(Boolean)) {
          if (raw.startsWith('type ')) continue; // erased anyway
          const [orig, alias] = raw.split(/\s+as\s+/);
          const origin = map.get(orig);
          if (!origin) return whole;
          if (!byFile.has(origin)) byFile.set(origin, []);
          byFile.get(origin).push(alias ? `${orig} as ${alias}` : orig);
        }
        changed = true;
        // Same number of lines, so positions in the source map stay right.
        const lines = whole.split('\n').length - 1;
        return [...byFile].map(([f, ns]) => `import { ${ns.join(', ')} } from ${JSON.stringify(f)};`).join(' ') + '\n'.repeat(lines);
      });
      return changed ? { contents: out, loader: 'ts', resolveDir: dirname(args.path) } : undefined;
    });
  },
};

/**
 * string-width (yargs' help layout, which yargs renders on every command run to cache it)
 * builds an Intl.Segmenter on import (~10 ms of ICU set-up per copy) and segments every
 * string. Build the segmenter on first use, and answer printable ASCII — all of custody's
 * help text — as its length, which is what string-width computes for it (each such
 * character is one narrow grapheme; string-width 8 has the same fast path).
 */
const stringWidthFastPath = {
  name: 'string-width-fast-path',
  setup(b) {
    b.onLoad({ filter: /[\\/]string-width[\\/]index\.js$/ }, (args) => {
      let source = readFileSync(args.path, 'utf8');
      const eager = /^(var|const|let) (\w+) = new Intl\.Segmenter\(\);$/m;
      const m = source.match(eager);
      if (!m) return undefined;
      source = source.replace(eager, `let ${m[2]}Instance;\nconst ${m[2]} = { segment: (s) => (${m[2]}Instance ??= new Intl.Segmenter()).segment(s) };`);
      const v7Head = 'export default function stringWidth(string, options = {}) {\n';
      if (source.includes(v7Head)) {
        source = source.replace(v7Head, `${v7Head}\tif (typeof string === 'string' && /^[\\x20-\\x7e]*$/.test(string)) {\n\t\treturn string.length;\n\t}\n`);
      }
      return { contents: source, loader: 'js' };
    });
  },
};

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
    // The CycloneDX library finds its JSON schemas (for its validator) next to its own files
    // through __dirname; bundled, that path would be wrong, so it stays a runtime dependency.
    external: ['typescript', '@cyclonedx/cyclonedx-library'],
    plugins: [directImports, stringWidthFastPath],
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
