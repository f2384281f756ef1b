/**
 * The local attestation store: a folder (default `.custody/` next to the layout) that `run`
 * writes and `verify` reads. One file per attestation, named
 *   `<step>.<keyid[:8]>.<kind>.<stamp>-<sha256[:16]>.<ext>`
 * where `stamp` is the write time (ms, zero padded) plus a per-process sequence, so names sort by
 * write order and never collide for different content. Files are written to a temp file and
 * renamed, so concurrent writers and readers never see a torn file; identical content written
 * twice in the same millisecond lands on the same name. The store verifies nothing.
 *
 * Resolution: several attestations of one step, functionary and kind resolve to the newest by
 * stamp, ties broken by the content digest — the same answer for every reader of the folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CustodyError } from '@custody/core';
import { writeFileAtomic } from './atomic.ts';
import { keyid8 as keyid8Of, parseStoreEntryName, storeEntryFileName } from './names.ts';

export const DEFAULT_STORE_DIR = '.custody';

export interface StoreEntry {
  step: string;
  /** First 8 hex characters of the signer's keyid (the in-toto file-name convention). */
  keyid8: string;
  /** What the attestation is: 'link', or a plugin's short name ('bias', 'model', ...). */
  kind: string;
  /** Write time in ms since the epoch and sequence, as in the name. */
  stamp: string;
  /** sha256 prefix (16 hex) of the file content. */
  digest: string;
  ext: string;
  /** File name inside the store folder. */
  name: string;
  /** Absolute path. */
  path: string;
}

let sequence = 0;

function compareEntries(a: StoreEntry, b: StoreEntry): number {
  const k = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  return k(a.step, b.step) || k(a.keyid8, b.keyid8) || k(a.kind, b.kind) || k(a.stamp, b.stamp) || k(a.digest, b.digest);
}

export class LocalStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The store for a layout: `configured` (relative to the layout's folder) or `.custody/` there. */
  static forLayout(layoutPath: string, configured?: string): LocalStore {
    return new LocalStore(resolve(dirname(resolve(layoutPath)), configured ?? DEFAULT_STORE_DIR));
  }

  /** Stores one attestation atomically; returns its entry. */
  async put(step: string, keyid: string, kind: string, bytes: Uint8Array | string, opts: { ext?: string; now?: number } = {}): Promise<StoreEntry> {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
    const digest = createHash('sha256').update(data).digest('hex').slice(0, 16);
    const stamp = `${String(opts.now ?? Date.now()).padStart(13, '0')}-${String((sequence + 1) % 1_000_000).padStart(6, '0')}`;
    const entry = storeEntryFileName({ step, keyid, kind, stamp, digest, ext: opts.ext ?? 'sigstore.json' });
    sequence = (sequence + 1) % 1_000_000;
    const path = join(this.root, entry.name);
    await this.writeAtomic(path, data);
    return { ...entry, path };
  }

  private async writeAtomic(path: string, data: Buffer): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
    } catch (e) {
      throw new CustodyError('FILE_UNWRITABLE', `cannot create the store folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: this.root, cause: e });
    }
    // Temp file beside the target (a dotfile, which listings skip), flushed, then renamed.
    await writeFileAtomic(path, data);
  }

  /** Every stored attestation (of one step), in a fixed order: step, keyid, kind, write order. */
  async list(step?: string): Promise<StoreEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CustodyError('FILE_UNREADABLE', `cannot read the store folder: ${(e as NodeJS.ErrnoException).code}`, { file: this.root, cause: e });
    }
    const out: StoreEntry[] = [];
    for (const n of names) {
      const p = parseStoreEntryName(n);
      if (p && (step === undefined || p.step === step)) out.push({ ...p, path: join(this.root, n) });
    }
    return out.sort(compareEntries);
  }

  /**
   * One entry per step, functionary, kind and format (extension): the newest (ties: larger
   * digest). A legacy `.link` and a bundle of the same step are different formats, both kept.
   */
  async resolve(step?: string): Promise<StoreEntry[]> {
    const latest = new Map<string, StoreEntry>();
    for (const e of await this.list(step)) latest.set(`${e.step}\0${e.keyid8}\0${e.kind}\0${e.ext}`, e); // sorted ascending: last wins
    return [...latest.values()];
  }

  /** The resolved attestation of a step, functionary, kind (and format), with its bytes; undefined if none. */
  async get(step: string, keyid: string, kind: string, ext = 'sigstore.json'): Promise<{ entry: StoreEntry; bytes: Buffer } | undefined> {
    const keyid8 = keyid8Of(keyid).toLowerCase();
    const entry = (await this.resolve(step)).find((e) => e.keyid8 === keyid8 && e.kind === kind && e.ext === ext);
    return entry ? { entry, bytes: await this.read(entry) } : undefined;
  }

  /**
   * The resolved attestations with their text, shaped for @custody/sign's `claimsFromBundles`
   * (`{ step, name, text }`); only Sigstore bundles unless `ext` says otherwise.
   */
  async readResolved(step?: string, ext = 'sigstore.json'): Promise<{ step: string; name: string; text: string; entry: StoreEntry }[]> {
    const entries = (await this.resolve(step)).filter((e) => e.ext === ext);
    return Promise.all(entries.map(async (entry) => ({ step: entry.step, name: entry.name, text: (await this.read(entry)).toString('utf8'), entry })));
  }

  async read(entry: StoreEntry): Promise<Buffer> {
    try {
      return await readFile(entry.path);
    } catch (e) {
      throw new CustodyError('FILE_UNREADABLE', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: entry.path, cause: e });
    }
  }
}

/**
 * The files of an attestation folder in attestation-verifier's layout (`<step>.<keyid[:8]>.json`
 * DSSE envelopes; `*.sigstore.json` bundles are listed too), sorted by name, for core's
 * `verifyCompatLayout` / `collectClaims`. A missing folder is bad input (FILE_NOT_FOUND).
 */
export async function readAttestationFolder(dir: string): Promise<{ name: string; text: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'attestation folder does not exist', { file: dir, cause: e });
    if (code === 'ENOTDIR') throw new CustodyError('FILE_UNREADABLE', 'is not a folder', { file: dir, cause: e });
    throw new CustodyError('FILE_UNREADABLE', `cannot read the folder: ${code ?? (e as Error).message}`, { file: dir, cause: e });
  }
  const out: { name: string; text: string }[] = [];
  // attestation-verifier's `<step>.<keyid8>.json` and custody's bundles / DSSE Statements
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    try {
      out.push({ name, text: await readFile(join(dir, name), 'utf8') });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') continue;
      throw new CustodyError('FILE_UNREADABLE', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: join(dir, name), cause: e });
    }
  }
  return out;
}
