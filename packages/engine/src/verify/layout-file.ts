/**
 * The one layout reader: what a layout file on disk is (a signed in-toto layout — metablock,
 * DSSE, or a Sigstore bundle for a keyless owner —, an attestation-verifier layout, or the
 * authoring YAML/JSON) and its body. `verify`, `run --layout`, `layout` and `pipeline run` read
 * layouts through it. Nothing here checks a signature: callers that need one verify it.
 *
 * Import-light on purpose (subpath modules of core only): `custody verify` of an in-toto layout
 * never loads CEL, YAML or the layout compiler.
 */
import { readFile, stat } from 'node:fs/promises';
import { CustodyError } from '@custody/core/errors';
import { parseSignedFile, type SignedFile } from '@custody/core/envelope';
import { isSigstoreBundleDocument, signedFileFromBundle } from '@custody/core/verify';
import type { LoadedCompatLayout } from '@custody/core';

/** A file named by the user, as UTF-8 text; missing or unreadable files are bad input naming it. */
export async function readInputText(path: string, opts: { maxBytes?: number; tooLarge?: () => CustodyError; display?: string } = {}): Promise<string> {
  const file = opts.display ?? path;
  try {
    if (opts.maxBytes !== undefined && (await stat(path)).size > opts.maxBytes) {
      throw opts.tooLarge?.() ?? new CustodyError('FILE_UNREADABLE', 'file too large', { file });
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'no such file', { file, cause: e });
    throw new CustodyError('FILE_UNREADABLE', code === 'EISDIR' ? 'is a directory, not a file' : `cannot read: ${code ?? (e as Error).message}`, { file, cause: e });
  }
}

export type LayoutFile =
  /** A signed in-toto layout; `bundle` when it is a Sigstore bundle (keyless owner). */
  | { kind: 'in-toto'; text: string; signed: SignedFile<unknown>; bundle?: unknown }
  /** An attestation-verifier (ITE-10) layout, signed or not. */
  | { kind: 'attestation-verifier'; text: string; compat: LoadedCompatLayout };

/**
 * A layout file to verify: a signed in-toto layout or an attestation-verifier layout. An
 * unsigned in-toto authoring file is bad input that says how to sign it.
 * `display` names the file in errors (default: `path`).
 */
export async function readLayoutFile(path: string, display = path): Promise<LayoutFile> {
  const text = await readInputText(path, { display });
  if (/^\s*\{/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      json = undefined; // parseSignedFile names the JSON error
    }
    if (isSigstoreBundleDocument(json)) return { kind: 'in-toto', text, signed: signedFileFromBundle(json, display), bundle: json };
  }
  let signed: SignedFile<unknown>;
  try {
    signed = parseSignedFile(text, display);
  } catch (e) {
    const full = await import('@custody/core');
    // attestation-verifier layouts are YAML and usually unsigned
    let doc: unknown;
    try {
      doc = full.parseLayoutDocument(text, display);
    } catch {
      throw e;
    }
    if (full.isAttestationVerifierLayout(doc)) return { kind: 'attestation-verifier', text, compat: full.loadCompatLayout(text, display) };
    // An authoring file given where a signed layout belongs: say so instead of a JSON error.
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && ('steps' in doc || 'keys' in doc)) {
      throw new CustodyError('USAGE', 'this is an unsigned layout; sign it first: custody layout sign --key OWNER ' + display + ' -o root.layout', { file: display });
    }
    throw e;
  }
  // An in-toto layout has `_type`, so it is no attestation-verifier layout: no need to load that code.
  const body = signed.body as { _type?: unknown } | null;
  if (body !== null && typeof body === 'object' && body._type === undefined) {
    const full = await import('@custody/core');
    if (full.isAttestationVerifierLayout(signed.body)) return { kind: 'attestation-verifier', text, compat: full.loadCompatLayout(text, display) };
  }
  return { kind: 'in-toto', text, signed };
}

/**
 * Any layout document and its body, without checking signatures: a signed layout (metablock,
 * DSSE, Sigstore bundle → `signed`, `keyless`) or the authoring YAML/JSON (`signed` undefined).
 * For commands that read a layout's steps (`run --layout`, `layout lint/graph/sign`).
 */
export async function readLayoutDocument(path: string, display = path): Promise<{ text: string; doc: unknown; signed?: SignedFile<unknown>; keyless: boolean }> {
  const text = await readInputText(path, { display });
  let json: unknown;
  if (/^\s*\{/.test(text)) {
    try {
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      json = undefined;
    }
  }
  if (isSigstoreBundleDocument(json)) {
    const signed = signedFileFromBundle(json, display);
    return { text, doc: signed.body, signed, keyless: true };
  }
  if (json && typeof json === 'object' && !Array.isArray(json) && ('signatures' in json || 'payload' in json)) {
    const signed = parseSignedFile(text, display);
    return { text, doc: signed.body, signed, keyless: false };
  }
  const { parseLayoutDocument, isSignedDocument } = await import('@custody/core');
  const doc = parseLayoutDocument(text, display);
  if (isSignedDocument(doc)) {
    const signed = parseSignedFile(text, display);
    return { text, doc: signed.body, signed, keyless: false };
  }
  return { text, doc, keyless: false };
}
