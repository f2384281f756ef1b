// OCI image layout (image-spec v1.1 "image-layout"): oci-layout, index.json, blobs/sha256/<hex>.
// The writer builds a one-layer image deterministically (sorted entries, mtime 0, uid/gid 0,
// fixed `created`), so the same files give the same manifest digest. The reader checks every
// descriptor against its blob (size and sha256) before anything is trusted.
import { gunzipSync, gzipSync } from 'node:zlib';
import { lstat, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { writeFileAtomic } from '@custody/store/atomic';
import { sha256Hex } from '../files.ts';
import { readTar, writeTar, type TarEntryInput, type TarEntryType } from './tar.ts';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: { architecture: string; os: string };
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string>;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string }[];
}

export interface ImageFileInput {
  /** Path inside the image, e.g. 'app/model/model.safetensors' (leading '/' allowed). */
  path: string;
  data: Uint8Array;
  mode?: number;
}

export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  /** e.g. ['8080/tcp'] */
  exposedPorts?: string[];
  labels?: Record<string, string>;
  architecture?: string;
  os?: string;
  /** RFC 3339; default 1970-01-01T00:00:00Z for reproducible digests. */
  created?: string;
}

export interface WriteImageLayoutOptions extends ImageSettings {
  /** Output folder; must not exist or be empty unless overwrite. */
  dir: string;
  files: ImageFileInput[];
  tag?: string;
  compression?: 'gzip' | 'none';
  annotations?: Record<string, string>;
  overwrite?: boolean;
}

export interface BuiltImage {
  layoutDir: string;
  tag: string;
  /** sha256:<hex> of the manifest: the image's identity, the subject of verification. */
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string; diffId: string }[];
  builder: 'custody' | 'buildah';
}

const digestOf = (bytes: Uint8Array) => `sha256:${sha256Hex(bytes)}`;

async function writeBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const path = join(dir, 'blobs', 'sha256', digest.slice(7));
  if (!(await stat(path).then((s) => s.size === bytes.length, () => false))) await writeFileAtomic(path, bytes);
  return digest;
}

/** The tar entries for a set of image files: parent folders added, everything sorted by path. */
export function layerEntries(files: ImageFileInput[]): TarEntryInput[] {
  const dirs = new Set<string>();
  const seen = new Set<string>();
  const fileEntries: TarEntryInput[] = [];
  for (const f of files) {
    const path = f.path.replace(/^\/+/, '');
    if (!path || path.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new CustodyError('USAGE', `image file path '${f.path}' is not a clean relative path`);
    }
    if (seen.has(path)) throw new CustodyError('USAGE', `image file '${path}' given twice`);
    seen.add(path);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/') + '/');
    fileEntries.push({ path, type: 'file', data: f.data, mode: f.mode ?? 0o644 });
  }
  const all: TarEntryInput[] = [...[...dirs].map((d) => ({ path: d, type: 'directory' as const, mode: 0o755 })), ...fileEntries];
  return all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function imageConfig(settings: ImageSettings, diffIds: string[]): ImageConfig {
  const created = settings.created ?? '1970-01-01T00:00:00Z';
  const inner: NonNullable<ImageConfig['config']> = {};
  if (settings.exposedPorts?.length) inner.ExposedPorts = Object.fromEntries(settings.exposedPorts.map((p) => [p, {}]));
  if (settings.env?.length) inner.Env = settings.env;
  if (settings.entrypoint) inner.Entrypoint = settings.entrypoint;
  if (settings.cmd) inner.Cmd = settings.cmd;
  if (settings.workingDir) inner.WorkingDir = settings.workingDir;
  if (settings.labels && Object.keys(settings.labels).length) inner.Labels = settings.labels;
  return {
    created,
    architecture: settings.architecture ?? 'amd64',
    os: settings.os ?? 'linux',
    config: inner,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created, created_by: 'custody build-image', comment: 'model and inference server' })),
  };
}

/** Writes a one-layer OCI image layout; returns its digests. */
export async function writeImageLayout(o: WriteImageLayoutOptions): Promise<BuiltImage> {
  const tag = o.tag ?? 'latest';
  const existing = await stat(o.dir).then((s) => s, () => null);
  if (existing) {
    if ((await readdir(o.dir)).length > 0) {
      if (!o.overwrite) throw new CustodyError('FILE_UNWRITABLE', 'image layout folder is not empty', { file: o.dir });
      await rm(o.dir, { recursive: true, force: true });
    }
  }
  await mkdir(join(o.dir, 'blobs', 'sha256'), { recursive: true });
  const tar = writeTar(layerEntries(o.files));
  const diffId = digestOf(tar);
  const compression = o.compression ?? 'gzip';
  const layerBytes = compression === 'gzip' ? gzipSync(tar, { level: 9 }) : tar;
  const layerMediaType = compression === 'gzip' ? MEDIA_TYPES.layerGzip : MEDIA_TYPES.layerTar;
  const layerDigest = await writeBlob(o.dir, layerBytes);
  const configBytes = Buffer.from(JSON.stringify(imageConfig(o, [diffId])));
  const configDigest = await writeBlob(o.dir, configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: layerMediaType, digest: layerDigest, size: layerBytes.length }],
    ...(o.annotations && Object.keys(o.annotations).length ? { annotations: o.annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await writeBlob(o.dir, manifestBytes);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ mediaType: MEDIA_TYPES.manifest, digest: manifestDigest, size: manifestBytes.length, annotations: { [REF_NAME_ANNOTATION]: tag } }],
  };
  await writeFileAtomic(join(o.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFileAtomic(join(o.dir, 'index.json'), JSON.stringify(index));
  return {
    layoutDir: o.dir,
    tag,
    manifestDigest,
    manifestSize: manifestBytes.length,
    configDigest,
    layers: [{ digest: layerDigest, size: layerBytes.length, mediaType: layerMediaType, diffId }],
    builder: 'custody',
  };
}

// ---------------------------------------------------------------------------------------------
// Reading and validation

export interface LoadedImage {
  layoutDir: string;
  manifestDescriptor: Descriptor;
  manifestDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Uncompressed layer tars, in order. */
  layers: { descriptor: Descriptor; tar: Buffer; diffId: string }[];
}

function invalid(message: string, file: string): never {
  throw new CustodyError('OCI_LAYOUT_INVALID', message, { file });
}

function parseJson<T>(bytes: Buffer, file: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    return invalid(`not JSON: ${(e as Error).message}`, file);
  }
}

/** Reads a blob and checks it against its descriptor (digest algorithm, size, sha256). */
export async function readBlob(layoutDir: string, d: Descriptor): Promise<Buffer> {
  if (typeof d?.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest)) invalid(`descriptor digest '${d?.digest}' is not sha256:<64 hex>`, join(layoutDir, 'index.json'));
  const path = join(layoutDir, 'blobs', 'sha256', d.digest.slice(7));
  const bytes = await readFile(path).catch(() => invalid(`blob ${d.digest} is missing`, path));
  if (bytes.length !== d.size) invalid(`blob ${d.digest} is ${bytes.length} bytes, its descriptor says ${d.size}`, path);
  const actual = digestOf(bytes);
  if (actual !== d.digest) invalid(`blob content hashes to ${actual}, not ${d.digest}`, path);
  return bytes;
}

/** Loads and fully validates the image named by ref (ref.name annotation), or the only one. */
export async function loadImageLayout(layoutDir: string, opts: { ref?: string } = {}): Promise<LoadedImage> {
  const layoutFile = join(layoutDir, 'oci-layout');
  const marker = parseJson<{ imageLayoutVersion?: string }>(await readFile(layoutFile).catch(() => invalid('oci-layout file missing', layoutFile)), layoutFile);
  if (marker.imageLayoutVersion !== '1.0.0') invalid(`imageLayoutVersion ${marker.imageLayoutVersion} is not 1.0.0`, layoutFile);
  const indexFile = join(layoutDir, 'index.json');
  const index = parseJson<{ schemaVersion?: number; manifests?: Descriptor[] }>(await readFile(indexFile).catch(() => invalid('index.json missing', indexFile)), indexFile);
  if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) invalid('index.json is not an image index (schemaVersion 2, manifests[])', indexFile);
  const candidates = index.manifests.filter((m) => m.mediaType === MEDIA_TYPES.manifest && (!opts.ref || m.annotations?.[REF_NAME_ANNOTATION] === opts.ref));
  if (candidates.length !== 1) {
    invalid(opts.ref ? `${candidates.length} image manifests tagged '${opts.ref}'` : `${candidates.length} image manifests; name one with ref`, indexFile);
  }
  const manifestDescriptor = candidates[0];
  const manifestBytes = await readBlob(layoutDir, manifestDescriptor);
  const mfile = join(layoutDir, 'blobs', 'sha256', manifestDescriptor.digest.slice(7));
  const manifest = parseJson<ImageManifest>(manifestBytes, mfile);
  if (manifest.schemaVersion !== 2 || !manifest.config || !Array.isArray(manifest.layers)) invalid('not an image manifest', mfile);
  if (manifest.mediaType !== undefined && manifest.mediaType !== MEDIA_TYPES.manifest) invalid(`manifest mediaType ${manifest.mediaType}`, mfile);
  const configBytes = await readBlob(layoutDir, manifest.config);
  const config = parseJson<ImageConfig>(configBytes, join(layoutDir, 'blobs', 'sha256', manifest.config.digest.slice(7)));
  if (config.rootfs?.type !== 'layers' || !Array.isArray(config.rootfs.diff_ids)) invalid('image config has no rootfs.diff_ids', mfile);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) invalid(`${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`, mfile);
  const layers: LoadedImage['layers'] = [];
  for (const [i, d] of manifest.layers.entries()) {
    const bytes = await readBlob(layoutDir, d);
    let tar: Buffer;
    if (d.mediaType === MEDIA_TYPES.layerGzip || d.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') {
      try {
        tar = gunzipSync(bytes);
      } catch (e) {
        return invalid(`layer ${d.digest} is not gzip: ${(e as Error).message}`, mfile);
      }
    } else if (d.mediaType === MEDIA_TYPES.layerTar) tar = bytes;
    else return invalid(`layer media type ${d.mediaType} is not supported`, mfile);
    const diffId = digestOf(tar);
    if (diffId !== config.rootfs.diff_ids[i]) invalid(`layer ${i} uncompressed digest ${diffId} is not diff_id ${config.rootfs.diff_ids[i]}`, mfile);
    layers.push({ descriptor: d, tar, diffId });
  }
  return { layoutDir, manifestDescriptor, manifestDigest: manifestDescriptor.digest, manifest, config, layers };
}

export interface ImageFileEntry {
  /** Path in the image filesystem, no leading '/'. */
  path: string;
  type: TarEntryType;
  mode: number;
  size: number;
  /** sha256 hex of a regular file's content. */
  sha256?: string;
  linkname?: string;
}

/** The image's filesystem after applying all layers (whiteouts honoured), sorted by path. */
export function imageFilesystem(image: LoadedImage): Map<string, ImageFileEntry & { data?: Buffer }> {
  const fs = new Map<string, ImageFileEntry & { data?: Buffer }>();
  for (const layer of image.layers) {
    for (const e of readTar(layer.tar, layer.descriptor.digest)) {
      const path = e.path.replace(/\/+$/, '');
      if (!path) continue;
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      const parent = slash < 0 ? '' : path.slice(0, slash + 1);
      if (base === '.wh..wh..opq') {
        for (const k of [...fs.keys()]) if (k.startsWith(parent) && k !== parent.replace(/\/$/, '')) fs.delete(k);
        continue;
      }
      if (base.startsWith('.wh.')) {
        const target = parent + base.slice(4);
        for (const k of [...fs.keys()]) if (k === target || k.startsWith(target + '/')) fs.delete(k);
        continue;
      }
      fs.set(path, {
        path,
        type: e.type,
        mode: e.mode,
        size: e.size,
        ...(e.type === 'file' ? { sha256: sha256Hex(e.data), data: e.data } : {}),
        ...(e.linkname ? { linkname: e.linkname } : {}),
      });
    }
  }
  return new Map([...fs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Lists the image's files with sha256 digests, so rules can match them to earlier products. */
export async function listImageFiles(layoutDir: string, opts: { ref?: string } = {}): Promise<{ manifestDigest: string; files: ImageFileEntry[] }> {
  const image = await loadImageLayout(layoutDir, opts);
  const files = [...imageFilesystem(image).values()].map(({ data: _data, ...rest }) => rest);
  return { manifestDigest: image.manifestDigest, files };
}

/**
 * Writes the image's regular files under outDir (for an inspection that records them as
 * products). Nothing lands outside outDir: an entry path with `..` is refused, and every folder
 * on the way is checked with lstat and created one level at a time, so a symlink planted in
 * outDir (or a file where a folder should be) is refused, never followed. The file itself is
 * renamed into place, which replaces a link rather than writing through it.
 */
export async function extractImageFiles(layoutDir: string, outDir: string, opts: { ref?: string } = {}): Promise<string[]> {
  const image = await loadImageLayout(layoutDir, opts);
  const written: string[] = [];
  await mkdir(outDir, { recursive: true });
  for (const e of imageFilesystem(image).values()) {
    if (e.type !== 'file' || !e.data) continue;
    const parts = e.path.split('/').filter((x) => x !== '' && x !== '.');
    if (parts.length === 0 || parts.includes('..') || e.path.includes('\0')) {
      throw new CustodyError('OCI_LAYOUT_INVALID', `image entry ${JSON.stringify(e.path)} would be written outside ${outDir}`, { file: layoutDir });
    }
    let dir = outDir;
    for (const part of parts.slice(0, -1)) {
      dir = join(dir, part);
      const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (st === undefined) await mkdir(dir);
      else if (!st.isDirectory()) {
        throw new CustodyError('OCI_LAYOUT_INVALID', `cannot extract ${e.path}: ${dir} is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'}; refusing to write through it`, { file: layoutDir });
      }
    }
    await writeFileAtomic(join(dir, parts[parts.length - 1]), e.data, e.mode & 0o777);
    written.push(parts.join('/'));
  }
  return written;
}

/**
 * The image's regular files as an in-toto artifact map ({path: {sha256}}), paths optionally
 * under a prefix — what an inspection or plugin records so `MATCH * IN <prefix>/app/model WITH
 * PRODUCTS IN model FROM train` can tie the weights inside the image to train's products.
 */
export async function imageArtifactMap(layoutDir: string, opts: { ref?: string; prefix?: string } = {}): Promise<Record<string, { sha256: string }>> {
  const { files } = await listImageFiles(layoutDir, opts);
  const prefix = opts.prefix ? opts.prefix.replace(/\/+$/, '') + '/' : '';
  return Object.fromEntries(files.filter((f) => f.type === 'file' && f.sha256).map((f) => [prefix + f.path, { sha256: f.sha256! }]));
}
