/**
 * The one naming scheme of attestation files. Every writer (run, record, pipeline run, pull,
 * the local store) asks here what a file is called, and every reader (verify, push, the local
 * store listing) asks here what a name means — so what `pipeline run` writes to `.custody/`
 * is exactly what `custody verify` reads. The names are the ones users already see:
 *
 *   `<step>.<keyid8>.link`                     link: the reference's metablock, or DSSE (in-toto 1.4)
 *   `<step>.<keyid8>.link.sigstore.json`       link as a Statement in a Sigstore bundle
 *   `<step>.<keyid8>.<plugin>[-N].sigstore.json`  a plugin's Statement in a Sigstore bundle
 *   `<step>.<keyid8>.<plugin>[-N].att.json`    a plugin's Statement in a DSSE envelope
 *   `<step>.<keyid8>.json`                     attestation-verifier's DSSE envelopes (read only)
 *   `.<step>.<keyid8>.link-unfinished`         `record start`'s preliminary link
 *
 * `<keyid8>` is the first 8 characters of the signer's keyid (for keyless signers: of SHA-256
 * of its functionary id), as in the reference's FILENAME_FORMAT. Temp files of the atomic
 * writer (./atomic.ts) are dotfiles ending in `.custody-tmp`, which no reader takes for an
 * attestation.
 */
import { CustodyError, linkFileName as referenceLinkFileName } from '@custody/core';

/** What kind of file an attestation name says it is. */
export type AttestationExt = 'link' | 'sigstore.json' | 'att.json' | 'json';

export interface ParsedAttestationName {
  step: string;
  /** The 8 keyid characters in the name. */
  keyid8: string;
  /** The part between keyid and extension (`link`, a plugin name with `-N`, a store stamp); undefined when none. */
  kind?: string;
  ext: AttestationExt;
}

/**
 * A step name becomes part of a file name: it must not make a path or a hidden/temp file.
 * (The reference joins `<step>.<keyid8>.link` onto the link folder as is.)
 */
export function checkStepFileName(step: string): void {
  if (typeof step !== 'string' || step === '' || step.includes('/') || step.includes('\\') || step.includes('\0') || step === '.' || step === '..' || step.startsWith('.')) {
    throw new CustodyError('USAGE', `step name ${JSON.stringify(step)} cannot be part of a file name (no '/', '\\', NUL, leading '.')`);
  }
}

/** The 8 keyid characters of a file name. */
export function keyid8(keyid: string): string {
  if (typeof keyid !== 'string' || !/^[0-9a-fA-F]{8,}$/.test(keyid)) throw new CustodyError('USAGE', `keyid ${JSON.stringify(keyid)} is not hex`);
  return keyid.slice(0, 8);
}

/** `<step>.<keyid8>.link`: a step's link, metablock or DSSE. */
export function linkFileName(step: string, keyid: string): string {
  checkStepFileName(step);
  return referenceLinkFileName(step, keyid8(keyid));
}

/** `<step>.<keyid8>.link.sigstore.json`: a step's link as a Statement in a Sigstore bundle. */
export function linkBundleFileName(step: string, keyid: string): string {
  return `${linkFileName(step, keyid)}.sigstore.json`;
}

/** How a plugin's Statement is packaged: a Sigstore bundle, or a bare DSSE envelope. */
export type StatementPackaging = 'bundle' | 'dsse';

const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;

/** `<step>.<keyid8>.<plugin>[-N].sigstore.json|.att.json` for the n-th (0-based) predicate a plugin emitted. */
export function statementFileName(step: string, keyid: string, plugin: string, index: number, packaging: StatementPackaging): string {
  checkStepFileName(step);
  if (!PLUGIN_NAME.test(plugin)) throw new CustodyError('USAGE', `plugin name ${JSON.stringify(plugin)} cannot be part of a file name`);
  if (!Number.isInteger(index) || index < 0) throw new CustodyError('USAGE', `predicate index ${index} is not a count`);
  const ext = packaging === 'dsse' ? 'att.json' : 'sigstore.json';
  return `${step}.${keyid8(keyid)}.${plugin}${index === 0 ? '' : `-${index + 1}`}.${ext}`;
}

/** `.<step>.<keyid8>.link-unfinished`: `record start`'s preliminary link (the reference's name). */
export function unfinishedLinkFileName(step: string, keyid: string): string {
  checkStepFileName(step);
  return `.${step}.${keyid8(keyid)}.link-unfinished`;
}

/** The folder of a sublayout's links: `<step>.<keyid8>` (the reference's SUBLAYOUT_LINK_DIR_FORMAT). */
export function sublayoutLinkDirName(step: string, keyid: string): string {
  checkStepFileName(step);
  return `${step}.${keyid8(keyid)}`;
}

// longest extension first, so `x.link.sigstore.json` is a bundle, not a link
const NAME = /^(.+?)\.([0-9a-f]{8})(?:\.([A-Za-z0-9._-]+?))?\.(sigstore\.json|att\.json|link|json)$/;

/**
 * What an attestation file name means; undefined for anything else — dotfiles (temp files,
 * preliminary links), paths, foreign files. The step is the shortest prefix before an
 * 8-hex-digit keyid part, as every writer above produces it.
 */
export function parseAttestationFileName(name: string): ParsedAttestationName | undefined {
  if (typeof name !== 'string' || name.startsWith('.') || name.includes('/') || name.includes('\\') || name.includes('\0')) return undefined;
  const m = NAME.exec(name);
  if (!m) return undefined;
  const ext = m[4] as AttestationExt;
  // `.json` alone is attestation-verifier's `<step>.<keyid8>.json`; a kind before it is a store entry
  return { step: m[1], keyid8: m[2], ...(m[3] !== undefined ? { kind: m[3] } : {}), ext };
}

/** Is this one of the Statement files verify collects (bundles, DSSE `.att.json`)? */
export function isStatementFileName(name: string): boolean {
  const p = parseAttestationFileName(name);
  return p !== undefined && (p.ext === 'sigstore.json' || p.ext === 'att.json');
}

/** The step an attestation file (name or path) belongs to, if the name is one of ours. */
export function stepOfAttestationFileName(nameOrPath: string): string | undefined {
  return parseAttestationFileName(nameOrPath.replace(/^.*\//, ''))?.step;
}

/**
 * The local store's own entries (./local.ts): `<step>.<keyid8>.<kind>.<stamp>-<sha256[:16]>.<ext>`,
 * where stamp is the write time (ms, 13 digits) and a per-process sequence (6 digits), so that
 * names sort by write order and different content never collides.
 */
export interface StoreEntryName {
  step: string;
  keyid8: string;
  kind: string;
  stamp: string;
  digest: string;
  ext: 'sigstore.json' | 'link' | 'json';
  name: string;
}

const STORE_KIND = /^[a-z0-9][a-z0-9-]*$/;
const STORE_STEM = /^(.+)\.([0-9a-f]{8})\.([a-z0-9][a-z0-9-]*)\.(\d{13}-\d{6})-([0-9a-f]{16})$/;
// longest first, so `x.sigstore.json` is not read as ext `json`
const STORE_EXTENSIONS = ['sigstore.json', 'link', 'json'] as const;

export function storeEntryFileName(e: { step: string; keyid: string; kind: string; stamp: string; digest: string; ext: string }): StoreEntryName {
  checkStepFileName(e.step);
  const id8 = keyid8(e.keyid).toLowerCase();
  if (!STORE_KIND.test(e.kind)) throw new CustodyError('USAGE', `attestation kind ${JSON.stringify(e.kind)} must be lower-case letters, digits and '-'`);
  const ext = STORE_EXTENSIONS.find((x) => x === e.ext);
  if (!ext) throw new CustodyError('USAGE', `unsupported store file extension ${e.ext}`);
  if (!/^\d{13}-\d{6}$/.test(e.stamp) || !/^[0-9a-f]{16}$/.test(e.digest)) throw new CustodyError('USAGE', 'store stamp or digest malformed');
  const name = `${e.step}.${id8}.${e.kind}.${e.stamp}-${e.digest}.${ext}`;
  return { step: e.step, keyid8: id8, kind: e.kind, stamp: e.stamp, digest: e.digest, ext, name };
}

/** Parses a store entry name; undefined for anything else (temp files, foreign files). */
export function parseStoreEntryName(name: string): StoreEntryName | undefined {
  if (name.startsWith('.') || name.includes('/')) return undefined;
  const ext = STORE_EXTENSIONS.find((x) => name.endsWith(`.${x}`));
  if (!ext) return undefined;
  const m = STORE_STEM.exec(name.slice(0, -(ext.length + 1)));
  return m ? { step: m[1], keyid8: m[2], kind: m[3], stamp: m[4], digest: m[5], ext, name } : undefined;
}
