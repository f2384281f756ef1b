/**
 * The artifact in hand (`verify --artifact PATH`, `--subject sha256:HEX`): after the chain
 * verified, is the file, folder or OCI image layout on disk exactly what the step produced?
 * Pure: the caller hashes the files (custody's default excludes) and passes them in.
 */
import { createHash } from 'node:crypto';
import type { ErrorCode } from '../errors.ts';
import type { ArtifactMap, LinkBody } from '../model/link.ts';
import type { VerifiedClaim } from '../attestations/artifact-rules.ts';

export interface ArtifactInHand {
  /** As the user named it (for messages). */
  path: string;
  kind: 'file' | 'folder' | 'oci-layout';
  /**
   * The path's components from the file system root (absolute path split on '/'): the step
   * recorded its products relative to where it ran, so the name it used is a suffix of these.
   */
  segments: string[];
  /** Files under a folder (relative to it), or the one file (key ''), with their digests. */
  files: ArtifactMap;
  /** oci-layout: the image manifest digest index.json names (`sha256:HEX`). */
  manifestDigest?: string;
}

export interface ArtifactProof {
  path: string;
  kind: ArtifactInHand['kind'];
  step: string;
  /** Name the step recorded it under (a file name, or a folder prefix; '' for the whole run). */
  recordedAs: string;
  files: number;
  /** One file: its digest; a folder: SHA-256 over the sorted `name digest` lines of its files. */
  digest?: Record<string, string>;
  manifestDigest?: string;
}

export interface InHandFailure {
  code: ErrorCode;
  message: string;
}

function sha256Of(d: Record<string, string> | undefined): string | undefined {
  return d && typeof d.sha256 === 'string' ? d.sha256.toLowerCase() : undefined;
}

function same(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const common = Object.keys(a).filter((k) => Object.prototype.hasOwnProperty.call(b, k));
  return common.length > 0 && common.every((k) => String(a[k]).toLowerCase() === String(b[k]).toLowerCase());
}

function show(d: Record<string, string> | undefined): string {
  const h = sha256Of(d);
  if (h) return `sha256:${h}`;
  const alg = d ? Object.keys(d).sort()[0] : undefined;
  return alg ? `${alg}:${d![alg]}` : '(none)';
}

/** Which name the step gave the artifact: the longest suffix of its path the products use. */
function recordedName(a: ArtifactInHand, products: ArtifactMap): string | undefined {
  const names = Object.keys(products);
  const segs = a.segments.filter((s) => s !== '');
  for (let k = segs.length; k >= 1; k--) {
    const suffix = segs.slice(segs.length - k).join('/');
    if (a.kind === 'file' ? names.includes(suffix) : names.some((n) => n.startsWith(`${suffix}/`))) return suffix;
  }
  // a folder that is the step's whole working folder: products are named relative to it
  if (a.kind !== 'file' && names.some((n) => Object.prototype.hasOwnProperty.call(a.files, n))) return '';
  return undefined;
}

/**
 * Compares an artifact on disk with the products `step`'s link recorded: every file recorded,
 * same digest, none missing, none extra. A mismatch names the first differing files with both
 * digests.
 */
/** A folder's digest: SHA-256 over its sorted `name sha256` lines. */
export function folderDigest(files: ArtifactMap): string {
  const lines = Object.keys(files).sort().map((n) => `${n} ${sha256Of(files[n]) ?? ''}\n`).join('');
  return createHash('sha256').update(lines, 'utf8').digest('hex');
}

export function checkArtifactInHand(a: ArtifactInHand, step: string, link: LinkBody):
  { proof: ArtifactProof } | { failure: InHandFailure } {
  const products = link.products;
  const as = recordedName(a, products);
  if (as === undefined) {
    return { failure: { code: 'ARTIFACT_MISMATCH', message: `${a.path}: step '${step}' recorded no product under this name (its products: ${Object.keys(products).slice(0, 5).join(', ') || 'none'})` } };
  }
  if (a.kind === 'file') {
    const onDisk = a.files[''];
    const recorded = products[as];
    if (!same(onDisk, recorded)) {
      return { failure: { code: 'ARTIFACT_MISMATCH', message: `${a.path}: differs from what step '${step}' produced: ${as} recorded ${show(recorded)}, on disk ${show(onDisk)}` } };
    }
    return { proof: { path: a.path, kind: a.kind, step, recordedAs: as, files: 1, digest: { ...onDisk } } };
  }
  const prefix = as === '' ? '' : `${as}/`;
  const expected: ArtifactMap = {};
  for (const [n, d] of Object.entries(products)) if (n.startsWith(prefix)) expected[n.slice(prefix.length)] = d;
  const problems: string[] = [];
  for (const n of Object.keys(a.files).sort()) {
    if (!Object.prototype.hasOwnProperty.call(expected, n)) problems.push(`${prefix}${n}: not produced by '${step}' (extra file, on disk ${show(a.files[n])})`);
    else if (!same(expected[n], a.files[n])) problems.push(`${prefix}${n}: recorded ${show(expected[n])}, on disk ${show(a.files[n])}`);
  }
  for (const n of Object.keys(expected).sort()) {
    if (!Object.prototype.hasOwnProperty.call(a.files, n)) problems.push(`${prefix}${n}: recorded ${show(expected[n])}, missing on disk`);
  }
  if (problems.length) {
    const more = problems.length > 3 ? ` (+${problems.length - 3} more)` : '';
    return { failure: { code: 'ARTIFACT_MISMATCH', message: `${a.path}: differs from what step '${step}' produced: ${problems.slice(0, 3).join('; ')}${more}` } };
  }
  return {
    proof: {
      path: a.path, kind: a.kind, step, recordedAs: as, files: Object.keys(a.files).length, digest: { sha256: folderDigest(a.files) },
      ...(a.manifestDigest ? { manifestDigest: a.manifestDigest } : {}),
    },
  };
}

/**
 * `--subject sha256:HEX` (an image in a registry): the digest is a product of the step, or a
 * subject of the step's bound evidence (an image plugin's manifest digest).
 */
export function checkSubjectInHand(hex: string, step: string, link: LinkBody, claims: readonly VerifiedClaim[]): InHandFailure | { name: string } {
  const want = hex.toLowerCase();
  for (const [n, d] of Object.entries(link.products)) if (sha256Of(d) === want) return { name: n };
  for (const c of claims) {
    for (const s of c.statement.subject ?? []) if (sha256Of(s.digest) === want) return { name: s.name ?? s.uri ?? `sha256:${want}` };
  }
  return { code: 'SUBJECT_MISMATCH', message: `sha256:${want} is no artifact step '${step}' produced (not among its ${Object.keys(link.products).length} product(s) or its evidence's subjects)` };
}
