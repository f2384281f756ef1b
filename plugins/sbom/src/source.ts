// What the SBOM is made from: the files of an OCI image (an image-layout folder or a registry
// reference) or of a folder, as one in-memory tree. Image layers are read as tar streams with
// tar-stream — nothing is extracted to disk — and every entry name is checked: an absolute path
// or a '..' segment is refused (IMAGE_LAYER_UNSAFE), so a hostile layer cannot make the
// catalogue see files where they are not. Every blob is checked against its digest, every layer
// against its config diff_id. Only the files the catalogers read are kept in memory (with a size
// cap); every regular file of an image gets a SHA-256, because the layer bytes pass by anyway.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { CustodyError } from '@custody/core';
import { isLoopbackHost, RegistryClient } from '@custody/store';

export interface TreeFile {
  /** Path inside the tree, '/'-separated, no leading '/'. */
  path: string;
  type: 'file' | 'symlink' | 'directory';
  size: number;
  /** sha256 hex; always for image files, for folder files only when wanted or under a hashed prefix. */
  sha256?: string;
  /** Content, only for files a cataloger reads. */
  data?: Buffer;
  linkname?: string;
}

export interface ImageInfo {
  /** sha256:<hex> of the image manifest: the SBOM's subject. */
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  /** Where it came from: a layout folder (as given) or registry/repository. */
  source: string;
  /** For an image-layout folder: the manifest blob's path relative to the working folder. */
  manifestBlobPath?: string;
  reference?: string;
  os?: string;
  architecture?: string;
  labels?: Record<string, string>;
  layers: { digest: string; diffId: string; size: number }[];
}

export interface Tree {
  kind: 'image' | 'folder';
  files: Map<string, TreeFile>;
  image?: ImageInfo;
}

/** Largest file kept in memory for a cataloger (dpkg status files of big images are a few MB). */
export const MAX_CATALOG_FILE = 32 * 1024 * 1024;

/** The files catalogers read. `hashPrefixes` adds files to hash (a model folder). */
export function isCatalogFile(path: string): boolean {
  return (
    path === 'var/lib/dpkg/status' ||
    /^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(path) ||
    path === 'lib/apk/db/installed' ||
    path === 'etc/os-release' ||
    path === 'usr/lib/os-release' ||
    /^usr\/share\/doc\/[^/]+\/copyright$/.test(path) ||
    /(^|\/)[^/]+\.dist-info\/METADATA$/.test(path) ||
    /(^|\/)[^/]+\.egg-info\/PKG-INFO$/.test(path) ||
    /(^|\/)[^/]+\.egg-info$/.test(path) ||
    /(^|\/)requirements[^/]*\.txt$/.test(path) ||
    /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*\/package\.json$/.test(path)
  );
}

/** A tar entry name as a tree path; absolute names and '..' segments are refused. */
export function safeEntryPath(name: string, where: string): string {
  if (name.startsWith('/')) throw new CustodyError('IMAGE_LAYER_UNSAFE', `layer entry '${name}' is an absolute path`, { file: where });
  const stripped = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const parts = stripped.split('/');
  if (parts.some((p) => p === '..')) throw new CustodyError('IMAGE_LAYER_UNSAFE', `layer entry '${name}' climbs out of the image root with '..'`, { file: where });
  return parts.filter((p) => p !== '' && p !== '.').join('/');
}

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }
interface Manifest { schemaVersion: number; mediaType?: string; config: Descriptor; layers: Descriptor[] }
interface Config { os?: string; architecture?: string; config?: { Labels?: Record<string, string> }; rootfs?: { type?: string; diff_ids?: string[] } }

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

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Blob access for one image: a layout folder or a registry repository. */
interface BlobSource {
  where: string;
  readSmall(d: Descriptor): Promise<Buffer>;
  /** A stream of the blob; the caller checks the digest while reading. */
  stream(d: Descriptor): Promise<Readable>;
  blobPath(d: Descriptor): string;
}

function layoutBlobs(dir: string): BlobSource {
  const path = (d: Descriptor) => {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest)) invalid(`descriptor digest '${String(d?.digest)}' is not sha256:<64 hex>`, join(dir, 'index.json'));
    return join(dir, 'blobs', 'sha256', d.digest.slice(7));
  };
  return {
    where: dir,
    blobPath: path,
    async readSmall(d) {
      const p = path(d);
      const bytes = await readFile(p).catch(() => invalid(`blob ${d.digest} is missing`, p));
      if (bytes.length !== d.size) invalid(`blob ${d.digest} is ${bytes.length} bytes, its descriptor says ${d.size}`, p);
      if (`sha256:${sha256Hex(bytes)}` !== d.digest) invalid(`blob content does not hash to ${d.digest}`, p);
      return bytes;
    },
    async stream(d) {
      const p = path(d);
      await lstat(p).catch(() => invalid(`blob ${d.digest} is missing`, p));
      return createReadStream(p);
    },
  };
}

function registryBlobs(client: RegistryClient, repository: string): BlobSource {
  const where = `${client.baseUrl}/${repository}`;
  return {
    where,
    blobPath: (d) => `${where}@${d.digest}`,
    // getBlob checks the digest itself
    readSmall: (d) => client.getBlob(repository, d.digest),
    stream: async (d) => Readable.from([await client.getBlob(repository, d.digest)]),
  };
}

/** Reads one layer: checks the blob digest and the diff_id, collects entries. */
async function readLayer(
  blobs: BlobSource,
  d: Descriptor,
  diffId: string,
  onEntry: (header: tarStream.Headers, data: Buffer | undefined, sha256: string | undefined) => void,
): Promise<void> {
  const where = blobs.blobPath(d);
  let gzip: boolean;
  if (d.mediaType === OCI.layerGzip || d.mediaType === OCI.dockerLayer) gzip = true;
  else if (d.mediaType === OCI.layerTar) gzip = false;
  else invalid(`layer media type ${d.mediaType} is not supported (tar and tar+gzip are)`, where);
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  let blobSize = 0;
  const tapBlob = new Transform({ transform(chunk: Buffer, _e, cb) { blobHash.update(chunk); blobSize += chunk.length; cb(null, chunk); } });
  const tapTar = new Transform({ transform(chunk: Buffer, _e, cb) { tarHash.update(chunk); cb(null, chunk); } });
  const extract = tarStream.extract();
  const input = await blobs.stream(d);
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      input.destroy();
      extract.destroy();
      reject(e instanceof CustodyError ? e : new CustodyError('OCI_LAYOUT_INVALID', `layer ${d.digest} is not a readable ${gzip ? 'gzip ' : ''}tar: ${(e as Error).message}`, { file: where }));
    };
    extract.on('entry', (header, stream, next) => {
      let path: string;
      try {
        path = safeEntryPath(header.name, where);
        if (header.linkname && header.type === 'link') safeEntryPath(header.linkname, where);
      } catch (e) {
        stream.resume();
        return fail(e);
      }
      const wanted = header.type === 'file' && isCatalogFile(path) && (header.size ?? 0) <= MAX_CATALOG_FILE;
      const chunks: Buffer[] = [];
      const h = header.type === 'file' ? createHash('sha256') : undefined;
      stream.on('data', (c: Buffer) => {
        h?.update(c);
        if (wanted) chunks.push(c);
      });
      stream.on('end', () => {
        onEntry({ ...header, name: path }, wanted ? Buffer.concat(chunks) : undefined, h?.digest('hex'));
        next();
      });
      stream.on('error', fail);
    });
    extract.on('finish', () => {
      if (failed) return;
      // tar-stream may stop before the zero padding; drain what is left so diff_id covers it all
      const done = () => {
        const blobDigest = `sha256:${blobHash.digest('hex')}`;
        const tarDigest = `sha256:${tarHash.digest('hex')}`;
        if (blobDigest !== d.digest) return fail(new CustodyError('OCI_LAYOUT_INVALID', `layer blob hashes to ${blobDigest}, not ${d.digest}`, { file: where }));
        if (blobSize !== d.size) return fail(new CustodyError('OCI_LAYOUT_INVALID', `layer blob is ${blobSize} bytes, its descriptor says ${d.size}`, { file: where }));
        if (tarDigest !== diffId) return fail(new CustodyError('OCI_LAYOUT_INVALID', `layer ${d.digest} uncompressed digest ${tarDigest} is not its diff_id ${diffId}`, { file: where }));
        resolve();
      };
      if (tapTar.writableFinished) done();
      else tapTar.on('finish', done);
    });
    extract.on('error', fail);
    input.on('error', fail);
    tapBlob.on('error', fail);
    tapTar.on('error', fail);
    let chain: NodeJS.ReadableStream = input.pipe(tapBlob);
    if (gzip) {
      const gunzip = createGunzip();
      gunzip.on('error', fail);
      chain = chain.pipe(gunzip);
    }
    chain.pipe(tapTar).pipe(extract as unknown as NodeJS.WritableStream);
  });
}

/** Applies one layer's entries to the tree (whiteouts first, as the image-spec says). */
function applyLayer(files: Map<string, TreeFile>, entries: { path: string; entry: TreeFile | null; opaque?: boolean }[]): void {
  for (const e of entries) {
    if (e.entry) continue;
    if (e.opaque) {
      const prefix = e.path ? `${e.path}/` : '';
      for (const k of [...files.keys()]) if (k.startsWith(prefix)) files.delete(k);
    } else {
      for (const k of [...files.keys()]) if (k === e.path || k.startsWith(`${e.path}/`)) files.delete(k);
    }
  }
  for (const e of entries) if (e.entry) files.set(e.path, e.entry);
}

async function imageTree(blobs: BlobSource, manifestDescriptor: Descriptor, info: Omit<ImageInfo, 'manifestDigest' | 'manifestSize' | 'configDigest' | 'layers'>): Promise<Tree> {
  const mfile = blobs.blobPath(manifestDescriptor);
  const manifestBytes = await blobs.readSmall(manifestDescriptor);
  const manifest = parseJson<Manifest>(manifestBytes, mfile);
  if (manifest.schemaVersion !== 2 || !manifest.config || !Array.isArray(manifest.layers)) invalid('not an image manifest (schemaVersion 2, config, layers)', mfile);
  const config = parseJson<Config>(await blobs.readSmall(manifest.config), blobs.blobPath(manifest.config));
  const diffIds = config.rootfs?.diff_ids;
  if (config.rootfs?.type !== 'layers' || !Array.isArray(diffIds)) invalid('image config has no rootfs.diff_ids', blobs.blobPath(manifest.config));
  if (diffIds.length !== manifest.layers.length) invalid(`${manifest.layers.length} layers but ${diffIds.length} diff_ids`, mfile);
  const files = new Map<string, TreeFile>();
  for (const [i, d] of manifest.layers.entries()) {
    const entries: { path: string; entry: TreeFile | null; opaque?: boolean }[] = [];
    const inLayer = new Map<string, TreeFile>();
    await readLayer(blobs, d, diffIds[i], (header, data, sha256) => {
      const path = header.name;
      if (!path) return;
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      const parent = slash < 0 ? '' : path.slice(0, slash);
      if (base === '.wh..wh..opq') return void entries.push({ path: parent, entry: null, opaque: true });
      if (base.startsWith('.wh.')) return void entries.push({ path: (parent ? `${parent}/` : '') + base.slice(4), entry: null });
      let entry: TreeFile | undefined;
      if (header.type === 'file') entry = { path, type: 'file', size: header.size ?? 0, sha256, ...(data ? { data } : {}) };
      else if (header.type === 'directory') entry = { path, type: 'directory', size: 0 };
      else if (header.type === 'symlink') entry = { path, type: 'symlink', size: 0, linkname: header.linkname ?? '' };
      else if (header.type === 'link') {
        // a hard link: the target's bytes, earlier in this layer or in a lower one
        const target = safeEntryPath(header.linkname ?? '', blobs.blobPath(d));
        const t = inLayer.get(target) ?? files.get(target);
        if (t) entry = { ...t, path };
      }
      if (entry) {
        inLayer.set(path, entry);
        entries.push({ path, entry });
      }
    });
    applyLayer(files, entries);
  }
  return {
    kind: 'image',
    files,
    image: {
      ...info,
      manifestDigest: manifestDescriptor.digest,
      manifestSize: manifestBytes.length,
      configDigest: manifest.config.digest,
      os: config.os,
      architecture: config.architecture,
      ...(config.config?.Labels ? { labels: config.config.Labels } : {}),
      layers: manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], size: l.size })),
    },
  };
}

/** An OCI image-layout folder (image-spec "image-layout"); `ref` picks a tag when it holds several. */
export async function readImageLayout(dir: string, opts: { ref?: string; workdir?: string } = {}): Promise<Tree> {
  const layoutFile = join(dir, 'oci-layout');
  const marker = parseJson<{ imageLayoutVersion?: string }>(await readFile(layoutFile).catch(() => invalid('oci-layout file missing: not an OCI image layout', layoutFile)), layoutFile);
  if (marker.imageLayoutVersion !== '1.0.0') invalid(`imageLayoutVersion ${String(marker.imageLayoutVersion)} is not 1.0.0`, layoutFile);
  const indexFile = join(dir, 'index.json');
  const index = parseJson<{ schemaVersion?: number; manifests?: Descriptor[] }>(await readFile(indexFile).catch(() => invalid('index.json missing', indexFile)), indexFile);
  if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) invalid('index.json is not an image index (schemaVersion 2, manifests[])', indexFile);
  const candidates = index.manifests.filter((m) => (m.mediaType === OCI.manifest || m.mediaType === OCI.dockerManifest) && (!opts.ref || m.annotations?.['org.opencontainers.image.ref.name'] === opts.ref));
  if (candidates.length !== 1) invalid(opts.ref ? `${candidates.length} image manifests tagged '${opts.ref}'` : `${candidates.length} image manifests; name one with ref`, indexFile);
  const blobs = layoutBlobs(dir);
  const rel = relative(opts.workdir ?? process.cwd(), blobs.blobPath(candidates[0])).split(sep).join('/');
  return imageTree(blobs, candidates[0], { source: dir, manifestBlobPath: rel, ...(opts.ref ? { reference: opts.ref } : {}) });
}

/** `oci://host[:port]/repository(:tag|@sha256:…)` → its parts. */
export function parseRegistryReference(ref: string): { registry: string; repository: string; reference: string } {
  const m = /^oci:\/\/([^/]+)\/([^@:]+(?:\/[^@:]+)*)(?::([\w][\w.-]{0,127})|@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m) throw new CustodyError('USAGE', `'${ref}' is not an image reference (oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST])`);
  return { registry: m[1], repository: m[2], reference: m[4] ?? m[3] ?? 'latest' };
}

/** An image in a registry, read through custody's OCI client (digests checked). */
export async function readRegistryImage(ref: string, opts: { plainHttp?: boolean } = {}): Promise<Tree> {
  const { registry, repository, reference } = parseRegistryReference(ref);
  // credentials, TLS and retries as every registry command; loopback registries stay plain http here as before
  const client = new RegistryClient({ registry, plainHttp: opts.plainHttp ?? isLoopbackHost(registry) });
  const got = await client.getManifest(repository, reference);
  if (!got) throw new CustodyError('REGISTRY_ERROR', `${ref}: no such manifest`);
  if (got.json.manifests) throw new CustodyError('USAGE', `${ref} is an image index; name one platform's manifest by digest`);
  const blobs = registryBlobs(client, repository);
  const desc: Descriptor = { mediaType: got.descriptor.mediaType, digest: got.descriptor.digest, size: got.descriptor.size };
  // the manifest bytes are already here and verified; serve them without a second request
  const cached: BlobSource = { ...blobs, readSmall: (d) => (d.digest === desc.digest ? Promise.resolve(got.bytes) : blobs.readSmall(d)) };
  return imageTree(cached, desc, { source: `${registry}/${repository}`, reference });
}

/** A folder: symlinks are recorded, never followed; catalog files are read, `hashUnder` files hashed. */
export async function readFolder(root: string, opts: { hashUnder?: string[] } = {}): Promise<Tree> {
  const files = new Map<string, TreeFile>();
  const hashUnder = (opts.hashUnder ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean);
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (e) {
      throw new CustodyError('FILE_UNREADABLE', `cannot read folder: ${(e as Error).message}`, { file: dir });
    }
    for (const name of names) {
      const abs = join(dir, name);
      const path = relative(root, abs).split(sep).join('/');
      const st = await lstat(abs);
      if (st.isSymbolicLink()) files.set(path, { path, type: 'symlink', size: 0 });
      else if (st.isDirectory()) await walk(abs);
      else if (st.isFile()) {
        const catalog = isCatalogFile(path) && st.size <= MAX_CATALOG_FILE;
        const hashed = catalog || hashUnder.some((p) => path.startsWith(`${p}/`));
        const f: TreeFile = { path, type: 'file', size: st.size };
        if (hashed) {
          if (catalog) {
            f.data = await readFile(abs);
            f.sha256 = sha256Hex(f.data);
          } else {
            const h = createHash('sha256');
            for await (const c of createReadStream(abs)) h.update(c as Buffer);
            f.sha256 = h.digest('hex');
          }
        }
        files.set(path, f);
      }
    }
  };
  const st = await lstat(root).catch(() => {
    throw new CustodyError('FILE_NOT_FOUND', 'folder to catalogue does not exist', { file: root });
  });
  if (!st.isDirectory()) throw new CustodyError('USAGE', 'not a folder (give an OCI image-layout folder, oci://… or a folder)', { file: root });
  await walk(root);
  return { kind: 'folder', files };
}

/** A folder holding `oci-layout` is an image; anything else is catalogued as a folder. */
export async function readTarget(target: string, opts: { workdir: string; ref?: string; hashUnder?: string[] }): Promise<Tree> {
  if (target.startsWith('oci://')) return readRegistryImage(target);
  const abs = isAbsolute(target) ? target : join(opts.workdir, target);
  const isLayout = await lstat(join(abs, 'oci-layout')).then(() => true, () => false);
  const tree = isLayout ? await readImageLayout(abs, { ref: opts.ref, workdir: opts.workdir }) : await readFolder(abs, { hashUnder: opts.hashUnder });
  // name the image as the user did, not by this machine's absolute path
  if (tree.image) tree.image.source = target;
  return tree;
}
