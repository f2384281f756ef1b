// The build-image step: an OCI image holding the trained model and the inference server.
// Two builders produce the same filesystem: buildah (vfs storage, chroot isolation, no daemon,
// `from scratch`, pushed to an oci: layout) when installed, else the built-in layout writer.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustodyError } from '@custody/core';
import { writeFileAtomic } from '@custody/store/atomic';
import { loadImageLayout, writeImageLayout, type BuiltImage, type ImageFileInput, type ImageSettings } from './layout.ts';

/** Where things live inside the image. */
export const IMAGE_APP_DIR = 'app';
export const IMAGE_MODEL_DIR = 'app/model';
export const IMAGE_SERVER_PATH = 'app/server.mjs';
/** The model files the image carries (train's products minus the evaluation outputs). */
export const IMAGE_MODEL_FILES = ['model.safetensors', 'config.json', 'README.md'] as const;
export const SERVER_SCRIPT = fileURLToPath(new URL('../server/serve.mjs', import.meta.url));
/** The demo's OSV database snapshot (hand-written test data, see data/osv/SOURCE.md). */
export const OSV_SNAPSHOT = fileURLToPath(new URL('../../data/osv/osv-demo.json', import.meta.url));

/** Writes the OSV snapshot where the step's scan reads it (a scanner fetching its database). */
export async function writeOsvSnapshot(dest: string): Promise<void> {
  await mkdir(dirname(resolve(dest)), { recursive: true });
  await writeFileAtomic(dest, await readFile(OSV_SNAPSHOT));
}

export const IMAGE_SETTINGS: ImageSettings = {
  entrypoint: ['node', `/${IMAGE_SERVER_PATH}`],
  env: ['PORT=8080', `MODEL_DIR=/${IMAGE_MODEL_DIR}`],
  workingDir: `/${IMAGE_APP_DIR}`,
  exposedPorts: ['8080/tcp'],
  labels: {
    'org.opencontainers.image.title': 'credit-risk-lr',
    'org.opencontainers.image.description': 'German Credit logistic regression with a small inference server (custody demo)',
    'org.opencontainers.image.licenses': 'MIT',
  },
};

export type ImageBuilder = 'auto' | 'buildah' | 'custody';

export interface BuildImageOptions {
  /** train's output folder (model.safetensors, config.json, README.md). */
  modelDir: string;
  /** Output OCI image layout folder (created; must be empty or absent unless overwrite). */
  out: string;
  tag?: string;
  builder?: ImageBuilder;
  overwrite?: boolean;
  /** Server script to embed; default the demo's serve.mjs. */
  serverScript?: string;
  /** Package metadata to place in the image, so an SBOM and a scan have something to find. */
  packages?: PlantedPackage[];
}

/**
 * A package the image declares: its metadata as the package manager leaves it (a dist-info
 * METADATA plus a requirements pin for Python, node_modules/<name>/package.json for npm), not
 * its code — the demo's server needs neither.
 */
export interface PlantedPackage {
  ecosystem: 'pypi' | 'npm';
  name: string;
  version: string;
  license?: string;
}

/** `pypi:NAME==VERSION[:LICENSE]` or `npm:NAME@VERSION[:LICENSE]`. */
export function parsePlantedPackage(spec: string): PlantedPackage {
  const py = /^pypi:([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)(?::(.+))?$/.exec(spec);
  if (py) return { ecosystem: 'pypi', name: py[1], version: py[2], ...(py[3] ? { license: py[3] } : {}) };
  const npm = /^npm:((?:@[a-z0-9._-]+\/)?[a-z0-9._-]+)@([0-9A-Za-z.+-]+)(?::(.+))?$/.exec(spec);
  if (npm) return { ecosystem: 'npm', name: npm[1], version: npm[2], ...(npm[3] ? { license: npm[3] } : {}) };
  throw new CustodyError('USAGE', `--package '${spec}' is not pypi:NAME==VERSION[:LICENSE] or npm:NAME@VERSION[:LICENSE]`);
}

/** The files that declare the planted packages inside the image. */
export function plantedPackageFiles(packages: PlantedPackage[]): ImageFileInput[] {
  const files: ImageFileInput[] = [];
  const pins: string[] = [];
  for (const p of packages) {
    if (p.ecosystem === 'pypi') {
      const dist = `${p.name.replace(/[-.]+/g, '_')}-${p.version}.dist-info`;
      const meta = ['Metadata-Version: 2.4', `Name: ${p.name}`, `Version: ${p.version}`, ...(p.license ? [`License-Expression: ${p.license}`] : []), '', ''].join('\n');
      files.push({ path: `${IMAGE_APP_DIR}/python/site-packages/${dist}/METADATA`, data: Buffer.from(meta), mode: 0o644 });
      pins.push(`${p.name}==${p.version}`);
    } else {
      const pkg = JSON.stringify({ name: p.name, version: p.version, ...(p.license ? { license: p.license } : {}) }, null, 2) + '\n';
      files.push({ path: `${IMAGE_APP_DIR}/node_modules/${p.name}/package.json`, data: Buffer.from(pkg), mode: 0o644 });
    }
  }
  if (pins.length) files.push({ path: `${IMAGE_APP_DIR}/requirements.txt`, data: Buffer.from(pins.sort().join('\n') + '\n'), mode: 0o644 });
  return files;
}

/** The files of the image, read from the model folder. */
export async function imageFiles(modelDir: string, serverScript = SERVER_SCRIPT): Promise<ImageFileInput[]> {
  const files: ImageFileInput[] = [{ path: IMAGE_SERVER_PATH, data: await readFile(serverScript), mode: 0o755 }];
  for (const name of IMAGE_MODEL_FILES) {
    const path = join(modelDir, name);
    const data = await readFile(path).catch(() => {
      throw new CustodyError('FILE_NOT_FOUND', `model file ${name} missing (run train first)`, { file: path });
    });
    files.push({ path: `${IMAGE_MODEL_DIR}/${name}`, data, mode: 0o644 });
  }
  return files;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const notFound = (err as NodeJS.ErrnoException).code === 'ENOENT';
        rej(new CustodyError(notFound ? 'COMMAND_NOT_FOUND' : 'IMAGE_BUILD_FAILED', notFound ? `${cmd} is not installed` : `${cmd} ${args[0]} failed: ${stderr.trim() || err.message}`, { cause: err }));
      } else res(stdout.trim());
    });
  });
}

let buildahAvailable: Promise<boolean> | undefined;
export function hasBuildah(): Promise<boolean> {
  buildahAvailable ??= run('buildah', ['--version']).then(() => true, () => false);
  return buildahAvailable;
}

/** Builds with buildah from scratch into an OCI layout; storage is a private temp vfs root. */
export async function buildWithBuildah(files: ImageFileInput[], out: string, opts: { tag?: string; settings?: ImageSettings } = {}): Promise<BuiltImage> {
  const tag = opts.tag ?? 'latest';
  const settings = opts.settings ?? IMAGE_SETTINGS;
  const work = await mkdtemp(join(tmpdir(), 'custody-buildah-'));
  const global = ['--root', join(work, 'root'), '--runroot', join(work, 'runroot'), '--storage-driver', 'vfs'];
  const env = { STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' };
  const b = (...args: string[]) => run('buildah', [...global, ...args], env);
  let container: string | undefined;
  try {
    const staging = join(work, 'rootfs');
    for (const f of files) {
      const target = join(staging, f.path.replace(/^\/+/, ''));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, f.data, { mode: f.mode ?? 0o644 });
    }
    container = await b('from', '--quiet', '--pull-never', 'scratch');
    for (const top of (await readdir(staging)).sort()) await b('copy', '--quiet', '--chown', '0:0', container, join(staging, top), `/${top}`);
    const cfg: string[] = [];
    if (settings.entrypoint) cfg.push('--entrypoint', JSON.stringify(settings.entrypoint));
    if (settings.cmd) cfg.push('--cmd', JSON.stringify(settings.cmd));
    for (const e of settings.env ?? []) cfg.push('--env', e);
    if (settings.workingDir) cfg.push('--workingdir', settings.workingDir);
    for (const p of settings.exposedPorts ?? []) cfg.push('--port', p);
    for (const [k, v] of Object.entries(settings.labels ?? {})) cfg.push('--label', `${k}=${v}`);
    await b('config', ...cfg, '--os', settings.os ?? 'linux', '--arch', settings.architecture ?? 'amd64', container);
    const imageName = `localhost/custody-demo:${tag}`;
    // --timestamp 0 clamps created times and layer mtimes, so rebuilds give the same digest.
    await b('commit', '--quiet', '--format', 'oci', '--timestamp', '0', '--identity-label=false', container, imageName);
    await mkdir(dirname(resolve(out)), { recursive: true });
    await b('push', '--quiet', '--format', 'oci', imageName, `oci:${resolve(out)}:${tag}`);
    const image = await loadImageLayout(out, { ref: tag });
    return {
      layoutDir: out,
      tag,
      manifestDigest: image.manifestDigest,
      manifestSize: image.manifestDescriptor.size,
      configDigest: image.manifest.config.digest,
      layers: image.layers.map((l) => ({ digest: l.descriptor.digest, size: l.descriptor.size, mediaType: l.descriptor.mediaType, diffId: l.diffId })),
      builder: 'buildah',
    };
  } finally {
    if (container) await b('rm', container).catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The build-image step. 'auto' uses buildah when installed, else the built-in writer. */
export async function buildImage(o: BuildImageOptions): Promise<BuiltImage & { buildMs: number }> {
  const started = performance.now();
  const files = [...(await imageFiles(o.modelDir, o.serverScript)), ...plantedPackageFiles(o.packages ?? [])];
  const builder = o.builder ?? 'auto';
  const useBuildah = builder === 'buildah' || (builder === 'auto' && (await hasBuildah()));
  const exists = await stat(o.out).then(() => true, () => false);
  if (exists) {
    if ((await readdir(o.out)).length > 0 && !o.overwrite) throw new CustodyError('FILE_UNWRITABLE', 'image layout folder is not empty', { file: o.out });
    await rm(o.out, { recursive: true, force: true });
  }
  const built = useBuildah
    ? await buildWithBuildah(files, o.out, { tag: o.tag })
    : await writeImageLayout({ dir: o.out, files, tag: o.tag, ...IMAGE_SETTINGS });
  return { ...built, buildMs: performance.now() - started };
}
