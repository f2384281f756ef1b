import { isAbsolute, relative, resolve, sep } from 'node:path';
import { DEFAULT_EXCLUDE_PATTERNS } from '../hashing/artifacts.ts';

/**
 * custody's own outputs, excluded like the reference excludes its `*.link*`: plugin
 * attestations and bundles next to the link, and the local store folder. Without them one
 * step's attestations would become the next step's materials (and trip a `DISALLOW *`).
 * Anchored to the base path (gitwildmatch's leading `/`): custody writes there, so a model's
 * own `sub/.custody/x.py` or a product `dist/x.sigstore.json` deeper in the tree is recorded.
 */
export const CUSTODY_OUTPUT_EXCLUDES: readonly string[] = ['/*.sigstore.json', '/*.att.json', '/.custody'];

/** The defaults custody records with: the reference's, then custody's own outputs. */
export const CUSTODY_DEFAULT_EXCLUDES: readonly string[] = [...DEFAULT_EXCLUDE_PATTERNS, ...CUSTODY_OUTPUT_EXCLUDES];

/**
 * Patterns given (`--exclude`, config `exclude`) replace all defaults, as in in-toto-run.
 * With the defaults and an out dir below the working folder, that folder's attestations are
 * left out too (they are this step's own outputs; `*.link*` covers the links everywhere).
 */
export function stepExcludes(given: readonly string[] | undefined, where?: { workdir: string; outDir?: string }): string[] {
  if (given && given.length > 0) return [...given];
  const out = [...CUSTODY_DEFAULT_EXCLUDES];
  if (where?.outDir !== undefined) {
    const rel = relative(resolve(where.workdir), resolve(where.workdir, where.outDir));
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) {
      const anchored = `/${rel.split(sep).map(escapeGlob).join('/')}`;
      out.push(`${anchored}/*.sigstore.json`, `${anchored}/*.att.json`);
    }
  }
  return out;
}

/** A literal path segment as a gitwildmatch segment. */
function escapeGlob(segment: string): string {
  return segment.replace(/[\\*?[\]!#]/g, '\\$&');
}
