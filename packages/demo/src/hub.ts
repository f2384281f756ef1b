// A local "hub": a bare git repository laid out like a Hugging Face model repository
// (README.md model card with front matter, config.json, model.safetensors). Written with git
// plumbing and fixed identities/dates, so the same inputs always give the same commit id.
import { execFile } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CustodyError } from '@custody/core';
import { stringify as yamlStringify } from 'yaml';
import { encodeSafetensors } from './safetensors.ts';
import { seededRandom } from './random.ts';

/** Number of features of the German Credit encoding (7 numeric + 56 one-hot); the base model's width. */
export const BASE_MODEL_FEATURES = 63;
export const BASE_MODEL_ID = 'custody-hub/credit-base';
const FIXED_DATE = '1735689600 +0000'; // 2025-01-01T00:00:00Z

export interface HubOptions {
  /** Folder that holds the hub's repositories (created if missing). */
  dir: string;
  /** Repository id, "owner/name"; the bare repository is `<dir>/<owner>/<name>.git`. */
  modelId?: string;
  /** Model card license (HF id). Default 'mit'. */
  license?: string;
  /** Seed for the base weights. */
  seed?: number;
  /** Extra or replacement files (path → content), e.g. for attack simulations. */
  files?: Record<string, string | Buffer>;
  /** Tag to point at the commit; default 'v1.0'. */
  tag?: string;
  /** Replace an existing repository at the same path. */
  overwrite?: boolean;
}

export interface HubRepository {
  modelId: string;
  /** Path of the bare repository. */
  path: string;
  /** file:// URL for `git clone`. */
  url: string;
  /** The pinned revision: the commit id. */
  revision: string;
  branch: 'main';
  tag: string;
  /** Files at the revision, sorted. */
  files: string[];
}

function git(args: string[], opts: { cwd?: string; input?: string | Buffer; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile(
      'git',
      args,
      {
        cwd: opts.cwd,
        encoding: 'buffer',
        maxBuffer: 64 * 1024 * 1024,
        // Isolate from the user's git configuration (signing, hooks, default branch).
        env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', ...opts.env },
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'COMMAND_NOT_FOUND' : 'MODEL_FETCH_FAILED';
          rej(new CustodyError(code, `git ${args[0]} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
        } else res(String(stdout).trim());
      },
    );
    // git may exit before reading stdin (on an error); that must not become an EPIPE crash.
    child.stdin!.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export function baseModelFiles(o: { modelId?: string; license?: string; seed?: number } = {}): Record<string, string | Buffer> {
  const modelId = o.modelId ?? BASE_MODEL_ID;
  const random = seededRandom(o.seed ?? 7);
  const weight = new Float32Array(BASE_MODEL_FEATURES);
  for (let i = 0; i < weight.length; i++) weight[i] = (random() - 0.5) * 0.02;
  const safetensors = encodeSafetensors(
    { 'linear.weight': { shape: [1, BASE_MODEL_FEATURES], data: weight }, 'linear.bias': { shape: [1], data: Float32Array.of(0) } },
    { format: 'pt' },
  );
  const front = {
    license: o.license ?? 'mit',
    library_name: 'custody-demo',
    pipeline_tag: 'tabular-classification',
    datasets: ['german-credit'],
    tags: ['tabular-classification', 'logistic-regression', 'base-model'],
  };
  const readme =
    `---\n${yamlStringify(front)}---\n\n# ${modelId}\n\nA base logistic-regression head for tabular credit-risk models ` +
    `(${BASE_MODEL_FEATURES} inputs, small seeded initial weights). Fine-tune it on German Credit.\n`;
  const config = {
    _name_or_path: modelId,
    architectures: ['LogisticRegression'],
    model_type: 'logistic-regression',
    num_features: BASE_MODEL_FEATURES,
    torch_dtype: 'float32',
  };
  return { 'README.md': readme, 'config.json': JSON.stringify(config, null, 2) + '\n', 'model.safetensors': safetensors };
}

/** Creates (or, with overwrite, recreates) the hub repository and returns its pinned revision. */
export async function createHub(o: HubOptions): Promise<HubRepository> {
  const modelId = o.modelId ?? BASE_MODEL_ID;
  if (!/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(modelId)) throw new CustodyError('USAGE', `model id '${modelId}' is not owner/name`);
  const path = resolve(o.dir, `${modelId}.git`);
  const exists = await stat(path).then(() => true, () => false);
  if (exists) {
    if (!o.overwrite) throw new CustodyError('USAGE', 'hub repository already exists (use overwrite)', { file: path });
    await rm(path, { recursive: true, force: true });
  }
  await mkdir(dirname(path), { recursive: true });
  await git(['init', '--bare', '--quiet', '--initial-branch=main', path]);
  const files = { ...baseModelFiles({ modelId, license: o.license, seed: o.seed }), ...(o.files ?? {}) };
  // Build nested trees bottom-up so paths with folders work too.
  type Dir = { blobs: Map<string, string>; dirs: Map<string, Dir> };
  const root: Dir = { blobs: new Map(), dirs: new Map() };
  for (const [name, content] of Object.entries(files)) {
    const parts = name.split('/');
    let d = root;
    for (const p of parts.slice(0, -1)) {
      if (!d.dirs.has(p)) d.dirs.set(p, { blobs: new Map(), dirs: new Map() });
      d = d.dirs.get(p)!;
    }
    d.blobs.set(parts[parts.length - 1], await git(['hash-object', '-w', '--stdin'], { cwd: path, input: content }));
  }
  const writeTree = async (d: Dir): Promise<string> => {
    const lines: string[] = [];
    for (const [name, oid] of d.blobs) lines.push(`100644 blob ${oid}\t${name}`);
    for (const [name, sub] of d.dirs) lines.push(`040000 tree ${await writeTree(sub)}\t${name}`);
    return git(['mktree'], { cwd: path, input: lines.join('\n') + '\n' });
  };
  const tree = await writeTree(root);
  const identity = {
    GIT_AUTHOR_NAME: 'Custody Hub', GIT_AUTHOR_EMAIL: 'hub@custody.invalid', GIT_AUTHOR_DATE: FIXED_DATE,
    GIT_COMMITTER_NAME: 'Custody Hub', GIT_COMMITTER_EMAIL: 'hub@custody.invalid', GIT_COMMITTER_DATE: FIXED_DATE,
  };
  const revision = await git(['commit-tree', '--no-gpg-sign', tree, '-m', `Add ${modelId}`], { cwd: path, env: identity });
  await git(['update-ref', 'refs/heads/main', revision], { cwd: path });
  const tag = o.tag ?? 'v1.0';
  await git(['update-ref', `refs/tags/${tag}`, revision], { cwd: path });
  return { modelId, path, url: pathToFileURL(path).href, revision, branch: 'main', tag, files: Object.keys(files).sort() };
}

export interface FetchModelOptions {
  url: string;
  revision: string;
  out: string;
  /** Keep the clone's .git folder (default: removed, so the products are the model files only). */
  keepGit?: boolean;
}

/** The fetch-model step: `git clone` + checkout of the pinned revision; fails if the revision is absent. */
export async function fetchModel(o: FetchModelOptions): Promise<{ revision: string; files: string[] }> {
  if (!/^[0-9a-f]{40}$/.test(o.revision)) throw new CustodyError('USAGE', `revision '${o.revision}' is not a full commit id (pin a commit, not a branch)`);
  const out = resolve(o.out);
  await git(['clone', '--quiet', '--no-checkout', o.url, out]);
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', o.revision], { cwd: out }).catch((e: CustodyError) => {
    throw new CustodyError('MODEL_FETCH_FAILED', `revision ${o.revision} not found in ${o.url}: ${e.message}`, { cause: e });
  });
  const head = await git(['rev-parse', 'HEAD'], { cwd: out });
  if (head !== o.revision) throw new CustodyError('MODEL_FETCH_FAILED', `checked out ${head}, expected ${o.revision}`);
  const files = (await git(['ls-files', '-z'], { cwd: out })).split('\0').filter(Boolean).sort();
  if (!o.keepGit) await rm(join(out, '.git'), { recursive: true, force: true });
  return { revision: head, files };
}
