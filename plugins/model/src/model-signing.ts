// OpenSSF model_signing v1.0 interop (https://github.com/sigstore/model-transparency):
// a manifest of every file (or file shard "path:start:end") with its sha256, an in-toto
// Statement whose subject digest is sha256 over the raw resource digests in sorted order, signed
// as DSSE inside a Sigstore bundle ("model.sig"). Signing and envelope verification are injected
// so the same code serves key-based and keyless (Fulcio/Rekor) signatures.
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { basename, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { listModelFiles } from './files.ts';
import { DEFAULT_SHARD_SIZE, mapLimit, sha256File, shardRanges, ShardHasher } from './hashing.ts';
import { comparePosixPaths } from './files.ts';

export const MODEL_SIGNING_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** What model_signing leaves out by default, besides the signature file itself. */
export const MODEL_SIGNING_DEFAULT_IGNORES = ['.git', '.gitattributes', '.github', '.gitignore'];

export interface ModelSigningResource { name: string; algorithm: string; digest: string }
export interface ModelSigningSerialization {
  method: 'files' | 'shards';
  hash_type: 'sha256';
  shard_size?: number;
  allow_symlinks: boolean;
  ignore_paths?: string[];
}
export interface ModelManifest {
  modelName: string;
  serialization: ModelSigningSerialization;
  /** Sorted as model_signing sorts them (by path components, then shard start/end). */
  resources: ModelSigningResource[];
}
export interface ModelSigningStatement {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: [{ name: string; digest: { sha256: string } }];
  predicateType: typeof MODEL_SIGNING_PREDICATE_TYPE;
  predicate: { serialization: ModelSigningSerialization; resources: ModelSigningResource[] };
}

export interface ManifestOptions {
  method?: 'files' | 'shards';
  shardSize?: number;
  /** Extra paths (relative to the model folder) to leave out. */
  ignorePaths?: string[];
  /** Name of the signature file inside the folder, always left out (default model.sig). */
  signatureFile?: string;
  allowSymlinks?: boolean;
  concurrency?: number;
  /** Leave out .git, .gitattributes, .github, .gitignore (default true). */
  ignoreGitPaths?: boolean;
}

function splitShardName(name: string): { path: string; start: number; end: number } {
  const parts = name.split(':');
  if (parts.length !== 3) throw new CustodyError('MODEL_SIGNATURE_MALFORMED', `shard resource name is not "path:start:end": ${name}`);
  return { path: parts[0]!, start: Number(parts[1]), end: Number(parts[2]) };
}

function compareResources(method: 'files' | 'shards') {
  return (a: ModelSigningResource, b: ModelSigningResource): number => {
    if (method === 'files') return comparePosixPaths(a.name, b.name);
    const x = splitShardName(a.name);
    const y = splitShardName(b.name);
    return comparePosixPaths(x.path, y.path) || x.start - y.start || x.end - y.end;
  };
}

export function resourceAlgorithm(method: 'files' | 'shards', shardSize: number): string {
  return method === 'files' ? 'sha256' : `sha256-sharded-${shardSize}`;
}

/** sha256 over the concatenated raw digests, in order: the Statement's subject digest. */
export function modelRootDigest(resources: readonly ModelSigningResource[]): string {
  const h = createHash('sha256');
  for (const r of resources) h.update(Buffer.from(r.digest, 'hex'));
  return h.digest('hex');
}

/** Hashes a model folder the way model_signing serializes it. */
export async function buildModelManifest(dir: string, opts: ManifestOptions = {}): Promise<ModelManifest> {
  const method = opts.method ?? 'files';
  const shardSize = opts.shardSize ?? DEFAULT_SHARD_SIZE;
  const allowSymlinks = opts.allowSymlinks ?? false;
  const ignorePaths = normalizeIgnores([
    ...((opts.ignoreGitPaths ?? true) ? MODEL_SIGNING_DEFAULT_IGNORES : []),
    opts.signatureFile ?? 'model.sig',
    ...(opts.ignorePaths ?? []),
  ]);
  const files = await listModelFiles(dir, { ignorePaths, allowSymlinks, skipGitDir: false });
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const algorithm = resourceAlgorithm(method, shardSize);
  let resources: ModelSigningResource[];
  if (method === 'files') {
    resources = await mapLimit(files, concurrency, async (f) => ({ name: f.path, algorithm, digest: await sha256File(join(dir, f.path)) }));
  } else {
    const hasher = new ShardHasher(concurrency);
    try {
      const tasks = files.flatMap((f) => shardRanges(f.size, shardSize).map((r) => ({ ...r, path: f.path })));
      resources = await Promise.all(tasks.map(async (t) => ({ name: `${t.path}:${t.start}:${t.end}`, algorithm, digest: await hasher.hash(join(dir, t.path), t.start, t.end) })));
    } finally {
      await hasher.close();
    }
  }
  resources.sort(compareResources(method));
  const serialization: ModelSigningSerialization = {
    method,
    hash_type: 'sha256',
    ...(method === 'shards' ? { shard_size: shardSize } : {}),
    allow_symlinks: allowSymlinks,
    ...(ignorePaths.length > 0 ? { ignore_paths: ignorePaths } : {}),
  };
  return { modelName: basename(dir.replace(/\/+$/, '')) || 'model', serialization, resources };
}

function normalizeIgnores(paths: string[]): string[] {
  return [...new Set(paths.map((p) => p.replace(/^\.\/+/, '').replace(/\/+$/, '')).filter((p) => p !== '' && p !== '.'))].sort();
}

export function modelSigningStatement(m: ModelManifest): ModelSigningStatement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: m.modelName, digest: { sha256: modelRootDigest(m.resources) } }],
    predicateType: MODEL_SIGNING_PREDICATE_TYPE,
    predicate: { serialization: m.serialization, resources: m.resources },
  };
}

/** The DSSE payload bytes (model_signing writes protobuf JSON with two-space indent). */
export function encodeModelSigningPayload(s: ModelSigningStatement): Buffer {
  return Buffer.from(JSON.stringify(s, null, 2), 'utf8');
}

/** DSSE pre-authentication encoding. */
export function dssePae(payloadType: string, payload: Uint8Array): Buffer {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), Buffer.from(payload)]);
}

/** Reads a verified Statement back into a manifest, checking the root digest. */
export function manifestFromStatement(statement: unknown, file?: string): ModelManifest {
  const bad = (m: string) => new CustodyError('MODEL_SIGNATURE_MALFORMED', m, { file });
  const s = statement as Record<string, unknown>;
  if (s === null || typeof s !== 'object') throw bad('payload is not a JSON object');
  if (s._type !== IN_TOTO_STATEMENT_V1) throw bad(`payload _type is ${JSON.stringify(s._type)}, expected ${IN_TOTO_STATEMENT_V1}`);
  if (s.predicateType !== MODEL_SIGNING_PREDICATE_TYPE) throw bad(`predicateType is ${JSON.stringify(s.predicateType)}, expected ${MODEL_SIGNING_PREDICATE_TYPE}`);
  const subjects = s.subject as { name?: string; digest?: { sha256?: string } }[] | undefined;
  if (!Array.isArray(subjects) || subjects.length !== 1) throw bad('expected exactly one subject');
  const expectedRoot = subjects[0]!.digest?.sha256;
  if (typeof expectedRoot !== 'string') throw bad('subject has no sha256 digest');
  const pred = s.predicate as { serialization?: Record<string, unknown>; resources?: unknown } | undefined;
  const ser = pred?.serialization;
  if (!ser || (ser.method !== 'files' && ser.method !== 'shards')) throw bad(`unknown serialization method ${JSON.stringify(ser?.method)}`);
  if (ser.hash_type !== 'sha256') throw bad(`hash type ${JSON.stringify(ser.hash_type)} is not supported (only sha256)`);
  if (ser.method === 'shards' && !(Number.isSafeInteger(ser.shard_size) && (ser.shard_size as number) > 0)) throw bad('shards serialization without a valid shard_size');
  if (!Array.isArray(pred!.resources)) throw bad('predicate has no resources list');
  const resources: ModelSigningResource[] = [];
  for (const r of pred!.resources as Record<string, unknown>[]) {
    if (typeof r?.name !== 'string' || typeof r.algorithm !== 'string' || typeof r.digest !== 'string' || !/^[0-9a-f]+$/.test(r.digest)) {
      throw bad(`malformed resource ${JSON.stringify(r)}`);
    }
    resources.push({ name: r.name, algorithm: r.algorithm, digest: r.digest });
  }
  const actualRoot = modelRootDigest(resources);
  if (actualRoot !== expectedRoot) {
    throw new CustodyError('MODEL_SIGNATURE_INVALID', `manifest is inconsistent: root digest is ${expectedRoot} but the resources hash to ${actualRoot}`, { file });
  }
  const serialization: ModelSigningSerialization = {
    method: ser.method,
    hash_type: 'sha256',
    ...(ser.method === 'shards' ? { shard_size: ser.shard_size as number } : {}),
    allow_symlinks: ser.allow_symlinks === true || ser.allow_symlinks === 'true',
    ...(Array.isArray(ser.ignore_paths) ? { ignore_paths: (ser.ignore_paths as unknown[]).map(String) } : {}),
  };
  return { modelName: subjects[0]!.name ?? '', serialization, resources };
}

export interface ManifestDifference { changed: string[]; missing: string[]; extra: string[] }

/** Differences by file path (shards are grouped under their file). */
export function compareManifests(signed: ModelManifest, actual: ModelManifest): ManifestDifference {
  const fileOf = (name: string) => (signed.serialization.method === 'shards' ? splitShardName(name).path : name);
  const byFile = (m: ModelManifest) => {
    const map = new Map<string, string[]>();
    for (const r of m.resources) {
      const f = fileOf(r.name);
      map.set(f, [...(map.get(f) ?? []), `${r.name}=${r.algorithm}:${r.digest}`]);
    }
    return map;
  };
  const a = byFile(signed);
  const b = byFile(actual);
  const changed: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [f, entries] of a) {
    const other = b.get(f);
    if (!other) missing.push(f);
    else if (entries.join('\n') !== other.join('\n')) changed.push(f);
  }
  for (const f of b.keys()) if (!a.has(f)) extra.push(f);
  const sort = (x: string[]) => x.sort(comparePosixPaths);
  return { changed: sort(changed), missing: sort(missing), extra: sort(extra) };
}

// ---- bundles -----------------------------------------------------------------------------

export interface SigstoreBundleJson {
  mediaType: string;
  verificationMaterial: Record<string, unknown>;
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid?: string | null }[] };
}

/** Produces the signature over the DSSE PAE and says how a verifier finds the key. */
export interface ModelBundleSigner {
  sign(pae: Buffer): Promise<Buffer>;
  /** Sigstore bundle `verificationMaterial` (public key hint, or certificate + tlog entries). */
  verificationMaterial(): Promise<Record<string, unknown>> | Record<string, unknown>;
}

/** Checks the bundle's signature and returns normally, or throws a verification CustodyError. */
export type ModelBundleVerifier = (bundle: SigstoreBundleJson, pae: Buffer) => Promise<void> | void;

function ecHash(key: KeyObject): 'sha256' | 'sha384' | 'sha512' {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec') throw new CustodyError('KEY_UNSUPPORTED', 'model signing keys must be elliptic-curve keys (P-256, P-384, P-521)');
  if (curve === 'prime256v1') return 'sha256';
  if (curve === 'secp384r1') return 'sha384';
  if (curve === 'secp521r1') return 'sha512';
  throw new CustodyError('KEY_UNSUPPORTED', `unsupported curve ${curve ?? '?'} for model signing`);
}

/** model_signing's key hint: sha256 (hex) of the SubjectPublicKeyInfo PEM. */
export function publicKeyHint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'pem' }) as string).digest('hex');
}

/** Key-based signer (`model_signing sign key`): ECDSA DER over PAE, hint in the bundle. */
export function ecKeyBundleSigner(privateKey: KeyObject): ModelBundleSigner {
  const hash = ecHash(privateKey);
  const pub = createPublicKey(privateKey);
  return {
    sign: async (pae) => cryptoSign(hash, pae, { key: privateKey, dsaEncoding: 'der' }),
    verificationMaterial: () => ({ publicKey: { hint: publicKeyHint(pub) }, tlogEntries: [] }),
  };
}

/** Verifier for key-based bundles: checks the key hint (or embedded key) and the ECDSA signature. */
export function ecKeyBundleVerifier(publicKey: KeyObject): ModelBundleVerifier {
  const hash = ecHash(publicKey);
  return (bundle, pae) => {
    const material = bundle.verificationMaterial as { publicKey?: { hint?: string; rawBytes?: string } };
    const hint = material.publicKey?.hint;
    if (hint && hint !== publicKeyHint(publicKey)) {
      throw new CustodyError('KEYID_MISMATCH', 'the signature names a different public key (key hint does not match the given key)');
    }
    const raw = material.publicKey?.rawBytes;
    if (raw) {
      // v1.0.x bundles embed the PEM public key itself.
      let embedded: KeyObject;
      try {
        embedded = createPublicKey(Buffer.from(raw, 'base64').toString('utf8'));
      } catch {
        throw new CustodyError('MODEL_SIGNATURE_MALFORMED', 'bundle publicKey.rawBytes is not a PEM public key');
      }
      if (!embedded.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))) {
        throw new CustodyError('KEYID_MISMATCH', 'the signature embeds a different public key than the one given');
      }
    }
    if (!material.publicKey) {
      throw new CustodyError('MODEL_SIGNATURE_MALFORMED', 'bundle has no public key material (is it a certificate or Sigstore signature?)');
    }
    const sigs = bundle.dsseEnvelope.signatures;
    const ok = sigs.some((s) => cryptoVerify(hash, pae, { key: publicKey, dsaEncoding: 'der' }, Buffer.from(s.sig, 'base64')));
    if (!ok) throw new CustodyError('MODEL_SIGNATURE_INVALID', 'model signature does not verify with the given public key');
  };
}

export interface SignModelResult { bundle: SigstoreBundleJson; statement: ModelSigningStatement; manifest: ModelManifest }

export async function signModel(dir: string, signer: ModelBundleSigner, opts: ManifestOptions = {}): Promise<SignModelResult> {
  const manifest = await buildModelManifest(dir, opts);
  const statement = modelSigningStatement(manifest);
  const payload = encodeModelSigningPayload(statement);
  const sig = await signer.sign(dssePae(IN_TOTO_PAYLOAD_TYPE, payload));
  const bundle: SigstoreBundleJson = {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: await signer.verificationMaterial(),
    dsseEnvelope: { payload: payload.toString('base64'), payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
  };
  return { bundle, statement, manifest };
}

export function serializeModelSignature(bundle: SigstoreBundleJson): string {
  return JSON.stringify(bundle);
}

export function parseModelSignature(text: string, file = 'model.sig'): SigstoreBundleJson {
  const bad = (m: string) => new CustodyError('MODEL_SIGNATURE_MALFORMED', m, { file });
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON: ${(e as Error).message}`);
  }
  const o = b as Partial<SigstoreBundleJson>;
  if (!o || typeof o !== 'object' || typeof o.mediaType !== 'string' || !o.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) {
    throw bad('not a Sigstore bundle (mediaType missing or unknown)');
  }
  const env = o.dsseEnvelope;
  if (!env || typeof env.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures) || env.signatures.length === 0) {
    throw bad('bundle has no DSSE envelope with a signature');
  }
  if (!o.verificationMaterial || typeof o.verificationMaterial !== 'object') throw bad('bundle has no verificationMaterial');
  return o as SigstoreBundleJson;
}

export interface VerifyModelOptions extends Omit<ManifestOptions, 'method' | 'shardSize' | 'allowSymlinks'> {
  verifier: ModelBundleVerifier;
}

/** Verifies `model.sig` against a folder; on success returns the signed manifest. */
export async function verifyModel(dir: string, signatureText: string, opts: VerifyModelOptions): Promise<ModelManifest> {
  const file = opts.signatureFile ?? 'model.sig';
  const bundle = parseModelSignature(signatureText, file);
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  await opts.verifier(bundle, dssePae(bundle.dsseEnvelope.payloadType, payload));
  if (bundle.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new CustodyError('PAYLOAD_TYPE', `DSSE payloadType is ${bundle.dsseEnvelope.payloadType}, expected ${IN_TOTO_PAYLOAD_TYPE}`, { file });
  }
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new CustodyError('MODEL_SIGNATURE_MALFORMED', 'DSSE payload is not JSON', { file });
  }
  const signed = manifestFromStatement(statement, file);
  const actual = await buildModelManifest(dir, {
    method: signed.serialization.method,
    shardSize: signed.serialization.shard_size,
    allowSymlinks: signed.serialization.allow_symlinks,
    ignorePaths: [...(signed.serialization.ignore_paths ?? []), ...(opts.ignorePaths ?? [])],
    signatureFile: basename(file),
    ignoreGitPaths: opts.ignoreGitPaths,
    concurrency: opts.concurrency,
  });
  const diff = compareManifests(signed, actual);
  const parts = [
    diff.changed.length ? `changed: ${diff.changed.join(', ')}` : '',
    diff.missing.length ? `missing: ${diff.missing.join(', ')}` : '',
    diff.extra.length ? `extra (not signed): ${diff.extra.join(', ')}` : '',
  ].filter(Boolean);
  if (parts.length > 0) throw new CustodyError('MODEL_INTEGRITY', `model does not match its signature — ${parts.join('; ')}`, { file: dir });
  return signed;
}
