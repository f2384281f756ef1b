import { DEFAULT_EXCLUDE_PATTERNS } from '../hashing/artifacts.ts';

/**
 * custody's own outputs, excluded like the reference excludes its `*.link*`: plugin
 * attestations and bundles next to the link, and the local store folder. Without them one
 * step's attestations would become the next step's materials (and trip a `DISALLOW *`).
 */
export const CUSTODY_OUTPUT_EXCLUDES: readonly string[] = ['*.sigstore.json', '*.att.json', '.custody'];

/** The defaults custody records with: the reference's, then custody's own outputs. */
export const CUSTODY_DEFAULT_EXCLUDES: readonly string[] = [...DEFAULT_EXCLUDE_PATTERNS, ...CUSTODY_OUTPUT_EXCLUDES];

/** Patterns given (`--exclude`, config `exclude`) replace all defaults, as in in-toto-run. */
export function stepExcludes(given: readonly string[] | undefined): string[] {
  return [...(given && given.length > 0 ? given : CUSTODY_DEFAULT_EXCLUDES)];
}
