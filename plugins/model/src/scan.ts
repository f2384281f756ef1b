// Builds the model predicate for a Hugging Face–style model folder.
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { listModelFiles, type ListOptions } from './files.ts';
import { DEFAULT_SHARD_SIZE, hashShards, mapLimit, sha256File, sha256Hex, ShardHasher, type ShardDigest } from './hashing.ts';
import { LFS_POINTER_MAX_BYTES, lfsObjectPath, looksLikeLfsPointer, parseLfsPointer } from './lfs.ts';
import { parseModelCard, type ModelCard } from './modelcard.ts';
import { resolveModelLicense, LICENSE_FILE_NAMES, type ModelLicense } from './license.ts';
import { readSafetensorsHeader } from './safetensors.ts';

export const MODEL_PREDICATE_TYPE = 'https://custody.dev/attestation/model/v0.1';

export interface ModelFileRecord {
  path: string;
  size: number;
  sha256: string;
  /** Present when the file in the folder is a Git LFS pointer. */
  lfs?: { oid: string; size: number; object: 'absent' | 'verified' };
  safetensors?: { tensorCount: number; parameterCount: number; dtypes: Record<string, number>; headerBytes: number; metadata: Record<string, string> };
  /** Per-shard digests, for files larger than the shard size. */
  shards?: { name: string; sha256: string }[];
}

export interface ModelPredicate {
  name: string;
  source?: { uri: string; revision?: string; commit: string };
  files: ModelFileRecord[];
  totals: { files: number; bytes: number; lfsPointers: number; safetensorsFiles: number; tensorCount: number; parameterCount: number; dtypes: Record<string, number> };
  license: ModelLicense;
  modelCard: null | {
    license?: string; licenseName?: string; licenseLink?: string; datasets: string[]; baseModel: string[];
    tags: string[]; pipelineTag?: string; libraryName?: string; language: string[]; modelIndex?: unknown[];
  };
  config: null | { modelType?: string; architectures?: string[] };
  hashing: { algorithm: 'sha256'; shardSize: number };
}

export interface ScanOptions extends ListOptions {
  name?: string;
  shardSize?: number;
  /** Files hashed at once, and shard worker threads. */
  concurrency?: number;
  source?: ModelPredicate['source'];
}

async function readSmall(path: string, size: number): Promise<Buffer | undefined> {
  if (size >= LFS_POINTER_MAX_BYTES) return undefined;
  return readFile(path);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function scanModelDir(dir: string, opts: ScanOptions = {}): Promise<ModelPredicate> {
  const shardSize = opts.shardSize ?? DEFAULT_SHARD_SIZE;
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const files = await listModelFiles(dir, opts);
  const hasher = new ShardHasher(concurrency);
  let records: ModelFileRecord[];
  try {
    records = await mapLimit(files, concurrency, async (f) => {
      const abs = join(dir, f.path);
      const small = await readSmall(abs, f.size);
      const rec: ModelFileRecord = { path: f.path, size: f.size, sha256: '' };
      if (small && looksLikeLfsPointer(small)) {
        const ptr = parseLfsPointer(small, abs);
        rec.sha256 = sha256Hex(small);
        const objectPath = join(dir, lfsObjectPath(ptr.oid));
        let object: 'absent' | 'verified' = 'absent';
        if (await exists(objectPath)) {
          const st = await stat(objectPath);
          const digest = await sha256File(objectPath);
          if (st.size !== ptr.size || digest !== ptr.oid) {
            throw new CustodyError('DIGEST_MISMATCH',
              `Git LFS object does not match its pointer ${f.path}: pointer says sha256 ${ptr.oid} size ${ptr.size}, object has sha256 ${digest} size ${st.size}`,
              { file: objectPath });
          }
          object = 'verified';
        }
        rec.lfs = { oid: ptr.oid, size: ptr.size, object };
        return rec;
      }
      if (f.size > shardSize) {
        const [whole, shards] = await Promise.all([sha256File(abs), hashShards(hasher, abs, f.path, f.size, shardSize)]);
        rec.sha256 = whole;
        rec.shards = shards.map((s: ShardDigest) => ({ name: s.name, sha256: s.sha256 }));
      } else {
        rec.sha256 = small ? sha256Hex(small) : await sha256File(abs);
      }
      if (f.path.endsWith('.safetensors')) {
        const s = await readSafetensorsHeader(abs, abs);
        rec.safetensors = { tensorCount: s.tensorCount, parameterCount: s.parameterCount, dtypes: s.dtypes, headerBytes: s.headerBytes, metadata: s.metadata };
      }
      return rec;
    });
  } finally {
    await hasher.close();
  }

  // Model card and license are read from the folder itself, whether or not globs selected them.
  let card: ModelCard | undefined;
  const readmePath = join(dir, 'README.md');
  if (await exists(readmePath)) card = parseModelCard(await readFile(readmePath, 'utf8'), readmePath);
  const licenseTexts = new Map<string, string>();
  const candidates = new Set([...LICENSE_FILE_NAMES, ...(card?.licenseLink && !/^[a-z][a-z0-9+.-]*:/i.test(card.licenseLink) ? [card.licenseLink.replace(/^\.?\//, '')] : [])]);
  for (const name of candidates) {
    const p = join(dir, name);
    if (!name.includes('..') && (await exists(p))) licenseTexts.set(name, await readFile(p, 'utf8'));
  }
  const license = resolveModelLicense(card, (n) => licenseTexts.get(n));

  let config: ModelPredicate['config'] = null;
  const configPath = join(dir, 'config.json');
  if (await exists(configPath)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(configPath, 'utf8'));
    } catch (e) {
      throw new CustodyError('MALFORMED_JSON', `config.json is not valid JSON: ${(e as Error).message}`, { file: configPath });
    }
    const c = (parsed ?? {}) as Record<string, unknown>;
    config = {
      ...(typeof c.model_type === 'string' ? { modelType: c.model_type } : {}),
      ...(Array.isArray(c.architectures) ? { architectures: c.architectures.filter((x): x is string => typeof x === 'string') } : {}),
    };
  }

  const dtypes: Record<string, number> = {};
  let tensorCount = 0;
  let parameterCount = 0;
  let safetensorsFiles = 0;
  for (const r of records) {
    if (!r.safetensors) continue;
    safetensorsFiles++;
    tensorCount += r.safetensors.tensorCount;
    parameterCount += r.safetensors.parameterCount;
    for (const [k, v] of Object.entries(r.safetensors.dtypes)) dtypes[k] = (dtypes[k] ?? 0) + v;
  }
  const { raw: _raw, ...cardFields } = card ?? { raw: undefined };
  return {
    name: opts.name ?? (dir.replace(/\/+$/, '').split('/').pop() || 'model'),
    ...(opts.source ? { source: opts.source } : {}),
    files: records,
    totals: {
      files: records.length,
      bytes: records.reduce((a, r) => a + r.size, 0),
      lfsPointers: records.filter((r) => r.lfs).length,
      safetensorsFiles, tensorCount, parameterCount, dtypes,
    },
    license,
    modelCard: card ? (JSON.parse(JSON.stringify(cardFields)) as ModelPredicate['modelCard']) : null,
    config,
    hashing: { algorithm: 'sha256', shardSize },
  };
}

/** Reads a file's first bytes (used to sniff formats without loading large files). */
export async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
