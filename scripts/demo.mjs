// `pnpm demo`: the ML pipeline of layouts/ml-pipeline.yaml, end to end, offline.
//
// In a fresh .custody-demo/ it creates the layout owner's and three functionaries' keys, a
// local model hub (a bare git repository), signs the layout (DSSE), writes custody.config.json
// (which key signs which step), and runs `custody pipeline run`: fetch-model, fetch-data,
// train, bias-test, build-image, then the final verify. Exits with the verify's exit code.
//
// `setupDemo` is also what the attack suite (test/atlas) starts from.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CUSTODY_BIN = join(REPO_ROOT, 'packages/cli/bin/custody.mjs');
export const DEMO_BIN = join(REPO_ROOT, 'packages/demo/bin/custody-demo.mjs');
export const LAYOUT_SOURCE = join(REPO_ROOT, 'layouts/ml-pipeline.yaml');

/** Which key signs which step: the functionaries of layouts/ml-pipeline.yaml. */
export const FUNCTIONARIES = {
  'fetch-model': 'keys/ml-engineer',
  'fetch-data': 'keys/data-engineer',
  train: 'keys/ml-engineer',
  'bias-test': 'keys/ml-engineer',
  'build-image': 'keys/release-engineer',
};

/** The environment steps and inspections run in: `custody-demo` on PATH. */
export function demoEnv(base = process.env) {
  return { ...base, PATH: [join(REPO_ROOT, 'node_modules/.bin'), base.PATH ?? ''].join(delimiter) };
}

/** Runs a command; resolves { code, stdout, stderr }. `echo` streams its output through. */
export function exec(cmd, args, { cwd, env = demoEnv(), echo = false } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; if (echo) process.stdout.write(d); });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; if (echo) process.stderr.write(d); });
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

export function custody(args, opts) {
  return exec(process.execPath, [CUSTODY_BIN, ...args], opts);
}

async function must(p, what) {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

/**
 * A demo folder: keys/, hub/ (the local model hub), ml-pipeline.yaml + root.layout (signed by
 * keys/owner), custody.config.json, an empty work/ (the pipeline's folder) and attestations/.
 * Returns the parameters the pipeline and the verify take.
 */
export async function setupDemo(dir, { hubLicense, echo = false } = {}) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'keys'), { recursive: true });
  mkdirSync(join(dir, 'work'));
  await Promise.all(['owner', 'data-engineer', 'ml-engineer', 'release-engineer'].map((k) => must(custody(['keygen', `keys/${k}`], { cwd: dir }), `keygen ${k}`)));
  const hubArgs = ['hub', '--dir', join(dir, 'hub')];
  if (hubLicense) hubArgs.push('--license', hubLicense);
  const hub = JSON.parse((await must(exec(process.execPath, [DEMO_BIN, ...hubArgs], { cwd: dir }), 'custody-demo hub')).stdout);
  // The owner approves the base model's weights by digest, as they are in the hub today.
  const weights = execFileSync('git', ['--git-dir', hub.path, 'show', `${hub.revision}:model.safetensors`], { maxBuffer: 1 << 26 });
  const params = {
    HUB_URL: hub.url,
    MODEL_REVISION: hub.revision,
    BASE_MODEL_SHA256: createHash('sha256').update(weights).digest('hex'),
    // where custody-demo and its dependencies are installed: the traced steps read their program there
    TOOLS_DIR: REPO_ROOT.endsWith('/') ? REPO_ROOT : `${REPO_ROOT}/`,
  };
  copyFileSync(LAYOUT_SOURCE, join(dir, 'ml-pipeline.yaml'));
  await must(custody(['layout', 'sign', 'ml-pipeline.yaml', '--key', 'keys/owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: dir, echo }), 'layout sign');
  writeFileSync(join(dir, 'custody.config.json'), `${JSON.stringify({ functionaries: FUNCTIONARIES, outDir: 'attestations' }, null, 2)}\n`);
  return { dir, hub, params };
}

export function paramArgs(params) {
  return Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
}

/** `custody pipeline run` over a demo folder. */
export function runDemoPipeline(dir, params, extra = [], opts = {}) {
  return custody(['pipeline', 'run', 'root.layout', '--layout-key', 'keys/owner.pub', '--workdir', 'work', ...paramArgs(params), ...extra], { cwd: dir, ...opts });
}

/** `custody verify --json` of a demo folder, as the pipeline's final verify runs it. */
export async function verifyDemo(dir, params, extra = []) {
  const r = await custody(['verify', '--layout', resolve(dir, 'root.layout'), '--layout-key', resolve(dir, 'keys/owner.pub'), '--link-dir', resolve(dir, 'attestations'), ...paramArgs(params), '--json', ...extra], { cwd: join(dir, 'work') });
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = undefined;
  }
  return { ...r, report };
}

async function main() {
  const started = Date.now();
  const dir = join(REPO_ROOT, '.custody-demo');
  process.stdout.write(`custody demo in ${dir}\n`);
  process.stdout.write('  keys: owner (signs the layout), data-engineer, ml-engineer, release-engineer\n');
  const { hub, params } = await setupDemo(dir, { echo: true });
  process.stdout.write(`  hub:  ${hub.modelId} at ${hub.revision.slice(0, 12)} (${hub.url})\n\n`);
  const cmd = ['pipeline', 'run', 'root.layout', '--layout-key', 'keys/owner.pub', '--workdir', 'work', ...paramArgs(params)];
  process.stdout.write(`$ custody ${cmd.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}\n`);
  const child = spawn(process.execPath, [CUSTODY_BIN, ...cmd], { cwd: dir, env: demoEnv(), stdio: 'inherit' });
  const code = await new Promise((res) => child.on('close', (c) => res(c ?? 1)));
  let exit = code;
  if (code === 0) {
    // The subject of the verification: the image build-image produced, whose weights are train's,
    // checked on disk: the image layout and the model folder in hand are what was attested.
    const index = JSON.parse(readFileSync(join(dir, 'work/image/index.json'), 'utf8'));
    const verifyCmd = ['verify', '--layout', '../root.layout', '--layout-key', '../keys/owner.pub', '--link-dir', '../attestations', ...paramArgs(params), '--artifact', 'image', '--quiet'];
    process.stdout.write(`\n$ (cd work && custody ${verifyCmd.join(' ')})\n`);
    const v = spawn(process.execPath, [CUSTODY_BIN, ...verifyCmd], { cwd: join(dir, 'work'), env: demoEnv(), stdio: 'inherit' });
    exit = await new Promise((res) => v.on('close', (c) => res(c ?? 1)));
    if (exit === 0) process.stdout.write(`\nverified image: ${index.manifests?.[0]?.digest ?? '(unknown)'} (OCI layout in .custody-demo/work/image)\n`);
  }
  process.stdout.write(`\ndemo finished in ${((Date.now() - started) / 1000).toFixed(1)} s (exit ${exit}); files in .custody-demo/\n`);
  process.exit(exit);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`demo: ${e.message}\n`);
    process.exit(2);
  });
}
