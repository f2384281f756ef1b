/**
 * `custody pipeline run`: every step of a signed layout, in dependency order, in one working
 * folder. Each step runs its layout `run` command through `runStep` with its layout plugins and
 * the key its functionary is configured with, recording the whole folder as materials and
 * products; the links and attestations go to one folder; then the final verification runs.
 *
 * Re-running continues where the last run left off: the first step whose link is missing, does
 * not verify, ran another command, failed, or whose materials no longer hash the same is
 * re-run, and so is every step after it. A step about to re-run first has the files its last
 * run created (products it did not have as materials, per its own signed link) and its old
 * attestations removed, so the folder looks as it did when it first ran.
 */
import { readFile, readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  CustodyError, isCustodyError, isPlainObject, LINK_PREDICATE_TYPE, normalizeLayout, normalizeLink, parseExpires, requireInTotoPayloadType,
  parseSignedFile, statementToLink, stepExtensionFields, substituteParameter, verifySignedFile,
} from '@custody/core';
import type { ArtifactMap, LinkBody, PublicKey, SignedFile } from '@custody/core';
import { loadSigner, type Signer } from '@custody/sign';
import { keyid8, linkBundleFileName, linkFileName, parseAttestationFileName } from '@custody/store/names';
import { runStep, type CommandOutput } from '../lifecycle.ts';
import { recordArtifacts } from '../hashing/artifacts.ts';
import { stepExcludes } from '../builtin/excludes.ts';
import type { OutputFormat } from '../formats.ts';
import { loadPlugin, type LoadedPlugin } from '../plugins/load.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import { stepPluginSpecs, type PluginConfigEntry } from '../config.ts';
import type { ProgressSink } from '../hashing/progress.ts';
import { PLUGIN_API_VERSION, type CustodyPlugin, type StepLogger } from '../types.ts';
import { planPipeline, type PlannedStep } from './order.ts';

export interface PipelineVerifyRequest {
  layoutFile: string;
  layoutKeyFiles: string[];
  linkDir: string;
  params: Record<string, string>;
  /** The folder the verification (and its inspections) runs in. */
  workdir: string;
  strictCommand: boolean;
}

export interface PipelineVerifyOutcome {
  /** 0 pass, 1 fail, 2 bad input — as `custody verify` exits. */
  exitCode: number;
  /** The JSON verify report (schemas/verify-report.schema.json), when verify produced one. */
  report?: { verdict: 'pass' | 'fail'; failure: null | { code: string; check: string; step?: string; message: string }; warnings: string[]; checks: unknown[] };
  /** What verify said on stderr when it produced no report. */
  error?: string;
}

export type PipelineEvent =
  | { type: 'plan'; steps: { name: string; action: 'run' | 'keep'; reason: string }[] }
  | { type: 'step-start'; step: string; position: number; total: number; command: string[] }
  | { type: 'step-keep'; step: string; position: number; total: number; reason: string }
  | { type: 'step-done'; step: string; position: number; total: number; durationMs: number; written: string[] }
  | { type: 'step-failed'; step: string; position: number; total: number; durationMs: number; message: string }
  | { type: 'verify-start' }
  | { type: 'verify-done'; durationMs: number; outcome: PipelineVerifyOutcome };

export interface PipelineOptions {
  /** The signed layout (DSSE: its `run` and `plugins` are covered by the signature). */
  layout: SignedFile<unknown>;
  layoutFile: string;
  /** Every key must have signed the layout before any of its commands runs. */
  layoutKeys: PublicKey[];
  /** The same keys as files, for the final verification. */
  layoutKeyFiles: string[];
  /** Folder the steps run in; materials and products are recorded over all of it. */
  workdir: string;
  /** Where links and attestations are written (and read by the final verification). */
  linkDir: string;
  /** Step name → private key file. */
  functionaries: Record<string, string>;
  passphrase?: string;
  /** `{NAME}` values for run commands (and plugin option strings) and the final verification. */
  params?: Record<string, string>;
  /** Run exactly these steps (in pipeline order), whatever their state. */
  only?: string[];
  /** Re-run this step and every step after it. */
  from?: string;
  registry?: PluginRegistry;
  /** Plugins for steps that name none in the layout or the configuration. */
  defaultPlugins?: readonly string[];
  /** Configured plugin list (`plugins` of custody.config), for steps without their own. */
  configPlugins?: (string | PluginConfigEntry)[];
  /** Folder relative plugin paths are resolved against. */
  pluginBaseDir?: string;
  /** Exclude patterns (replace the defaults); the link folder is always excluded. */
  exclude?: string[];
  /** What each step writes (default legacy: metablock link + Sigstore bundles). */
  format?: OutputFormat;
  /** Where step commands' output is shown (`stderr` when stdout carries JSON). */
  commandOutput?: CommandOutput;
  /** Fail the final verification on a step run with another command than expected_command. */
  strictCommand?: boolean;
  /** The final verification; without it the pipeline stops after the steps. */
  verify?: (req: PipelineVerifyRequest) => Promise<PipelineVerifyOutcome>;
  onEvent?: (e: PipelineEvent) => void;
  logger?: StepLogger;
  progress?: (label: string) => ProgressSink | undefined;
  now: Date;
}

export interface PipelineStepResult {
  name: string;
  /** ran: ran and succeeded; kept: its attestations are current; failed; pending: not reached. */
  status: 'ran' | 'kept' | 'failed' | 'pending';
  reason?: string;
  durationMs?: number;
  keyid: string;
  written?: string[];
}

export interface PipelineResult {
  /** In the order the steps run in. */
  steps: PipelineStepResult[];
  /** The step that stopped the pipeline. */
  failedStep?: string;
  failure?: string;
  verify?: PipelineVerifyOutcome;
  durationMs: number;
}

interface Prepared {
  plan: PlannedStep;
  command: string[];
  signer: Signer;
  plugins: LoadedPlugin[];
  /** Where its last link may be, the current format's file first. */
  linkFiles: string[];
}

/**
 * A failed command ends the step right after `execute`: nothing is signed or stored for it
 * (a pipeline step either succeeded or must run again), and no plugin reads half-made outputs.
 */
function stopOnCommandFailure(command: string[]): LoadedPlugin {
  const plugin: CustodyPlugin = {
    name: 'pipeline',
    apiVersion: PLUGIN_API_VERSION,
    apply(hooks) {
      hooks.execute.tapPromise('pipeline', async (ctx) => {
        const code = ctx.execution?.exitCode ?? 0;
        if (code !== 0) throw new CustodyError('PLUGIN_FAILED', `command exited with ${code}: ${command.join(' ')}`);
      });
    },
  };
  return { plugin, options: {}, source: 'built-in' };
}

function commandOf(step: PlannedStep): string[] {
  const run = step.body.run ?? [];
  if (!Array.isArray(run) || run.some((a) => typeof a !== 'string')) {
    throw new CustodyError('SCHEMA_INVALID', `steps[${step.index}].run must be a list of strings`);
  }
  return run as string[];
}

/** `{NAME}` → value for the names given, in every string of a plugin's options. */
function substituteOptions(value: unknown, params: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{([A-Za-z_][A-Za-z0-9_-]*)\}/g, (m, name: string) => (Object.prototype.hasOwnProperty.call(params, name) ? params[name] : m));
  }
  if (Array.isArray(value)) return value.map((v) => substituteOptions(v, params));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteOptions(v, params)]));
  return value;
}

function sameDigests(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const common = Object.keys(a).filter((k) => k in b);
  return common.length > 0 && common.every((k) => a[k] === b[k]);
}

function sameCommand(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Where a step's last link may be: first the file this format writes (`.link`, metablock or
 * DSSE; or the link bundle with `sigstore`), then the other, so that a run in another format
 * still finds what the last run recorded.
 */
function linkFilesOf(linkDir: string, step: string, keyid: string, format: OutputFormat): string[] {
  const both = [join(linkDir, linkFileName(step, keyid)), join(linkDir, linkBundleFileName(step, keyid))];
  return format === 'sigstore' ? both.reverse() : both;
}

/** The step's last link, if it is there and signed by this step's key. */
async function readOwnLink(files: string[], key: PublicKey): Promise<{ link?: LinkBody; problem?: string }> {
  let text: string | undefined;
  let file = '';
  for (const candidate of files) {
    try {
      text = await readFile(candidate, 'utf8');
      file = candidate;
      break;
    } catch {
      // not in this format
    }
  }
  if (text === undefined) return { problem: 'no attestations yet' };
  try {
    if (file.endsWith('.sigstore.json')) {
      // loaded only for bundle links: sigstore-js is heavy
      const { verifyAttestationBundle } = await import('@custody/sign');
      const { statement } = verifyAttestationBundle(text, [key], { file });
      if (!statement || statement.predicateType !== LINK_PREDICATE_TYPE) return { problem: 'its link bundle holds no link' };
      return { link: normalizeLink(statementToLink(statement, file), file) };
    }
    const signed = parseSignedFile(text, file);
    requireInTotoPayloadType(signed, file);
    if (!verifySignedFile(signed, key, (b) => normalizeLink(b, file))) return { problem: 'its link is not signed by the configured key' };
    return { link: normalizeLink(signed.body, file) };
  } catch (e) {
    return { problem: `its link is unreadable (${isCustodyError(e) ? e.message : String(e)})` };
  }
}

/** Why a step with an existing link must run again; undefined when its link is current. */
function staleReason(link: LinkBody, command: string[], current: ArtifactMap): string | undefined {
  if (!sameCommand(link.command, command)) return 'its command changed';
  const rv = link.byproducts['return-value'];
  if (command.length > 0 && rv !== 0) return `its last run failed (exit ${String(rv)})`;
  for (const [path, digests] of Object.entries(link.materials)) {
    if (!current[path]) return `input ${path} is gone`;
    if (!sameDigests(current[path], digests)) return `input ${path} changed`;
  }
  return undefined;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Removes what a step's last run created (per its own signed link) and its attestation files. */
async function cleanStep(p: Prepared, workdir: string, linkDir: string): Promise<void> {
  const { link } = await readOwnLink(p.linkFiles, p.signer.publicKey);
  if (link) {
    const dirs = new Set<string>();
    for (const path of Object.keys(link.products)) {
      if (path in link.materials) continue;
      const abs = resolve(workdir, path);
      if (!inside(workdir, abs)) continue;
      await unlink(abs).catch(() => undefined);
      for (let d = dirname(abs); inside(workdir, d); d = dirname(d)) dirs.add(d);
    }
    // deepest first; a folder that still holds something stays
    for (const d of [...dirs].sort((a, b) => b.split(sep).length - a.split(sep).length)) await rmdir(d).catch(() => undefined);
  }
  const id8 = keyid8(p.signer.keyid);
  let names: string[] = [];
  try {
    names = await readdir(linkDir);
  } catch {
    return;
  }
  // the link in any format, and every attestation of this step and key
  for (const n of names) {
    const parsed = parseAttestationFileName(n);
    if (parsed && parsed.step === p.plan.name && parsed.keyid8 === id8 && parsed.ext !== 'json') {
      await unlink(join(linkDir, n)).catch(() => undefined);
    }
  }
}

/**
 * Exclude patterns for recording the working folder: the configured ones (else custody's
 * defaults, which leave out its own outputs) plus the link folder when it is inside.
 */
export function pipelineExcludes(workdir: string, linkDir: string, configured?: readonly string[]): string[] {
  const out = stepExcludes(configured);
  const rel = relative(workdir, linkDir);
  if (rel === '') {
    // configured patterns replace the defaults; the step's own files must stay out anyway
    for (const own of ['*.link*', '/*.att.json', '/*.sigstore.json']) if (!out.includes(own)) out.push(own);
  } else if (!rel.startsWith('..') && !isAbsolute(rel)) out.push(`/${rel.split(sep).join('/')}`);
  return out;
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const started = Date.now();
  const emit = o.onEvent ?? (() => undefined);
  const file = o.layoutFile;
  const body = o.layout.body;
  if (!isPlainObject(body) || body._type !== 'layout') throw new CustodyError('SCHEMA_INVALID', 'not an in-toto layout', { file });
  requireInTotoPayloadType(o.layout, file);
  const normalized = normalizeLayout(body, file);
  // Nothing from the layout runs before its owner's signature is checked.
  if (o.layoutKeys.length === 0) throw new CustodyError('USAGE', 'no layout key: pass --layout-key');
  for (const key of o.layoutKeys) {
    if (!verifySignedFile(o.layout, key, (b) => normalizeLayout(b, file))) {
      throw new CustodyError('LAYOUT_SIGNATURE', `layout is not signed by key ${key.keyid.slice(0, 8)}`, { file });
    }
  }
  if (parseExpires(normalized.expires)! < o.now) throw new CustodyError('LAYOUT_EXPIRED', `layout expired on ${normalized.expires}`, { file });
  if (o.layout.format === 'metablock') {
    // A metablock signature covers only the reference's fields: `run` and `plugins` would be
    // unsigned (and `custody layout sign` drops them from legacy layouts anyway).
    const unsigned = Object.keys(stepExtensionFields(body)).length > 0 ? ' (its run/plugins fields are not covered by the signature)' : '';
    throw new CustodyError('USAGE', `a legacy (metablock) layout cannot drive a pipeline${unsigned}: sign it with \`custody layout sign --format dsse\``, { file });
  }

  const params = o.params ?? {};
  const workdir = resolve(o.workdir);
  const linkDir = resolve(o.linkDir);
  const exclude = pipelineExcludes(workdir, linkDir, o.exclude);
  const plan = planPipeline(body);
  const names = new Set(plan.map((s) => s.name));
  for (const n of [...(o.only ?? []), ...(o.from ? [o.from] : [])]) {
    if (!names.has(n)) throw new CustodyError('UNKNOWN_STEP', `the layout has no step '${n}' (steps: ${plan.map((s) => s.name).join(', ')})`, { file });
  }
  if (o.only?.length && o.from) throw new CustodyError('USAGE', 'give --only or --from, not both');

  // Everything that can fail before a command runs does: keys, authorization, commands, plugins.
  const prepared: Prepared[] = [];
  for (const step of plan) {
    const keyPath = o.functionaries[step.name];
    if (!keyPath) throw new CustodyError('USAGE', `no key for step '${step.name}': map it in custody.config under functionaries (e.g. "functionaries": { "${step.name}": "keys/…" })`);
    const signer = await loadSigner(keyPath, { passphrase: o.passphrase });
    const pubkeys = normalized.steps[step.index].pubkeys;
    if (!pubkeys.includes(signer.keyid)) {
      throw new CustodyError('USAGE', `key ${keyPath} (keyid ${signer.keyid.slice(0, 8)}) is not a functionary of step '${step.name}' in the layout`);
    }
    const command = commandOf(step).map((a, i) => substituteParameter(a, params, `steps[${step.index}].run[${i}]`));
    const specs = stepPluginSpecs({ plugins: o.configPlugins }, step.body, o.defaultPlugins ?? []);
    const plugins: LoadedPlugin[] = [];
    for (const spec of specs) {
      plugins.push(await loadPlugin({ use: spec.use, options: substituteOptions(spec.options ?? {}, params) as Record<string, unknown> }, { registry: o.registry, baseDir: o.pluginBaseDir ?? workdir }));
    }
    // First, so that a failed command stops the step before any evidence plugin reads its outputs.
    if (command.length > 0) plugins.unshift(stopOnCommandFailure(command));
    prepared.push({ plan: step, command, signer, plugins, linkFiles: linkFilesOf(linkDir, step.name, signer.keyid, o.format ?? 'legacy') });
  }

  // Which steps run.
  const decisions: { action: 'run' | 'keep'; reason: string }[] = [];
  if (o.only?.length) {
    for (const p of prepared) decisions.push(o.only.includes(p.plan.name) ? { action: 'run', reason: 'named by --only' } : { action: 'keep', reason: 'not named by --only' });
  } else {
    let rerun = false;
    let current: ArtifactMap | undefined;
    for (const p of prepared) {
      if (o.from && p.plan.name === o.from) rerun = true;
      if (rerun) {
        decisions.push({ action: 'run', reason: o.from && p.plan.name === o.from ? 'named by --from' : 'a step before it runs' });
        continue;
      }
      if (o.from) {
        decisions.push({ action: 'keep', reason: `before --from ${o.from}` });
        continue;
      }
      const { link, problem } = await readOwnLink(p.linkFiles, p.signer.publicKey);
      let why = problem;
      if (link) {
        current ??= await recordArtifacts(['.'], { basePath: workdir, exclude, progress: o.progress?.('hashing the working folder') });
        why = staleReason(link, p.command, current);
      }
      if (why) {
        rerun = true;
        decisions.push({ action: 'run', reason: why });
      } else decisions.push({ action: 'keep', reason: 'attestations are current' });
    }
  }
  emit({ type: 'plan', steps: prepared.map((p, i) => ({ name: p.plan.name, ...decisions[i] })) });

  // Stale outputs of the steps about to run go first, latest step first.
  for (let i = prepared.length - 1; i >= 0; i--) if (decisions[i].action === 'run') await cleanStep(prepared[i], workdir, linkDir);

  const results: PipelineStepResult[] = prepared.map((p, i) => ({
    name: p.plan.name,
    status: decisions[i].action === 'run' ? 'pending' : 'kept',
    reason: decisions[i].reason,
    keyid: p.signer.keyid,
  }));
  const total = prepared.length;
  for (let i = 0; i < total; i++) {
    const p = prepared[i];
    const position = i + 1;
    if (decisions[i].action === 'keep') {
      emit({ type: 'step-keep', step: p.plan.name, position, total, reason: decisions[i].reason });
      continue;
    }
    emit({ type: 'step-start', step: p.plan.name, position, total, command: p.command });
    const t0 = Date.now();
    let message: string | undefined;
    let written: string[] = [];
    try {
      const r = await runStep({
        stepName: p.plan.name,
        workdir,
        command: p.command,
        noCommand: p.command.length === 0,
        materials: ['.'],
        products: ['.'],
        exclude,
        signer: p.signer,
        outDir: linkDir,
        format: o.format ?? 'legacy',
        commandOutput: o.commandOutput,
        plugins: p.plugins,
        layoutStep: p.plan.body,
        logger: o.logger,
        progress: o.progress,
      });
      written = r.written;
      if (r.exitCode !== 0) message = `command exited with ${r.exitCode}: ${p.command.join(' ')}`;
    } catch (e) {
      if (!isCustodyError(e)) throw e;
      message = `${e.file ? `${e.file}: ` : ''}${e.message}`;
    }
    const durationMs = Date.now() - t0;
    results[i] = { ...results[i], durationMs, written };
    if (message !== undefined) {
      results[i].status = 'failed';
      results[i].reason = message;
      emit({ type: 'step-failed', step: p.plan.name, position, total, durationMs, message });
      return { steps: results, failedStep: p.plan.name, failure: `step '${p.plan.name}' failed: ${message}`, durationMs: Date.now() - started };
    }
    results[i].status = 'ran';
    emit({ type: 'step-done', step: p.plan.name, position, total, durationMs, written });
  }

  let verify: PipelineVerifyOutcome | undefined;
  if (o.verify) {
    emit({ type: 'verify-start' });
    const t0 = Date.now();
    verify = await o.verify({
      layoutFile: resolve(o.layoutFile),
      layoutKeyFiles: o.layoutKeyFiles.map((k) => resolve(k)),
      linkDir,
      params,
      workdir,
      strictCommand: o.strictCommand === true,
    });
    emit({ type: 'verify-done', durationMs: Date.now() - t0, outcome: verify });
  }
  return { steps: results, verify, durationMs: Date.now() - started };
}
