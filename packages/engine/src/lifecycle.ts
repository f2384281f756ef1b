/**
 * The step lifecycle. One run of a step is seven tapable AsyncSeriesHooks, called in order:
 *
 *   preMaterial → material → execute → product → postProduct → sign → store
 *
 * Nothing in here knows what evidence looks like. The core link is assembled by built-in
 * plugins (./builtin) that tap the same hooks as third-party plugins: materials hashes inputs,
 * command runs the command, products hashes outputs, link signs the link and every predicate
 * and writes the files. A plugin gets hooks of its own and a context of its own (its options,
 * its emit), bridged onto the step's hooks here, so an error is always attributed to the
 * plugin that caused it. Files are written only in `store`, the last phase: a failure
 * anywhere before leaves nothing behind.
 */
import { resolve } from 'node:path';
import { AsyncSeriesHook } from 'tapable';
import { checkStepFileName, CustodyError, isCustodyError } from '@custody/core';
import type { ArtifactMap, LinkBody } from '@custody/core';
import type { Signer } from '@custody/sign';
import { PHASES, type CommandWrapper, type CustodyPlugin, type Phase, type Predicate, type StepContext, type StepHooks, type StepLogger } from './types.ts';
import { validatePredicate } from './plugins/validate.ts';
import type { LoadedPlugin } from './plugins/load.ts';
import { attestationWriterFor, type AttestationWriter } from './attestation.ts';
import type { OutputFormat } from './formats.ts';
import { stepExcludes } from './builtin/excludes.ts';
import type { ProgressSink } from './hashing/progress.ts';
import { materialsPlugin } from './builtin/materials.ts';
import { commandPlugin } from './builtin/command.ts';
import { productsPlugin } from './builtin/products.ts';
import { checkOutDir, linkPlugin } from './builtin/link.ts';

export function createStepHooks(): StepHooks {
  return {
    preMaterial: new AsyncSeriesHook<[StepContext]>(['ctx']),
    material: new AsyncSeriesHook<[StepContext]>(['ctx']),
    execute: new AsyncSeriesHook<[StepContext]>(['ctx']),
    product: new AsyncSeriesHook<[StepContext]>(['ctx']),
    postProduct: new AsyncSeriesHook<[StepContext]>(['ctx']),
    sign: new AsyncSeriesHook<[StepContext]>(['ctx']),
    store: new AsyncSeriesHook<[StepContext]>(['ctx']),
  };
}

export interface StepOptions {
  stepName: string;
  /** Folder the command runs in and artifact paths are relative to (default: cwd). */
  workdir?: string;
  /** The command; empty with `noCommand` (or when observing between record start/stop). */
  command?: string[];
  noCommand?: boolean;
  recordStreams?: boolean;
  /**
   * Where the command's stdout goes besides being captured: `inherit` (default) the
   * terminal's stdout, `stderr` the terminal's stderr (e.g. when stdout carries JSON),
   * `capture` nowhere. The command's stderr is shown on stderr unless `capture`.
   */
  commandOutput?: CommandOutput;
  materials?: string[];
  products?: string[];
  /** Replace custody's default excludes (the reference's plus its own outputs). */
  exclude?: string[];
  basePath?: string;
  lstripPaths?: string[];
  /** Without a signer nothing is signed or stored (standalone evidence runs). */
  signer?: Signer;
  outDir?: string;
  /** legacy (default): metablock link + bundles; dsse: DSSE link + `.att.json`; sigstore: all bundles. */
  format?: OutputFormat;
  plugins?: LoadedPlugin[];
  layoutStep?: unknown;
  logger?: StepLogger;
  signal?: AbortSignal;
  /** Overrides the writer `format` picks (keyless signing passes its own). */
  attestationWriter?: AttestationWriter;
  /** Materials already recorded (record stop: from the preliminary link). */
  observedMaterials?: ArtifactMap;
  /** Products already recorded (standalone evidence: the same folder state as the materials). */
  observedProducts?: ArtifactMap;
  progress?: (label: string) => ProgressSink | undefined;
}

export type CommandOutput = 'inherit' | 'stderr' | 'capture';

export interface EmittedPredicate { plugin: string; predicate: Predicate }

export interface StepResult {
  link: LinkBody;
  /** The command's exit code (0 without a command); custody exits with it. */
  exitCode: number;
  /** Files written by `store`, absolute paths. */
  written: string[];
  predicates: EmittedPredicate[];
}

/** Internal state the built-in plugins share; plugins only see it through StepContext. */
export interface StepState {
  options: StepOptions;
  workdir: string;
  ctx: StepContext;
  byproducts: Record<string, unknown>;
  environment: Record<string, unknown>;
  predicates: EmittedPredicate[];
  /** Filled by `sign`, written by `store`. */
  pending: { name: string; data: string }[];
  written: string[];
  attestationWriter: AttestationWriter;
  /** Set by a tracer plugin through `ctx.wrapCommand`. */
  commandWrapper?: CommandWrapper;
}

const SILENT: StepLogger = { info() {}, warn() {}, debug() {} };

function prefixed(logger: StepLogger, name: string): StepLogger {
  return {
    info: (m) => logger.info(`[${name}] ${m}`),
    warn: (m) => logger.warn(`[${name}] ${m}`),
    debug: (m) => logger.debug(`[${name}] ${m}`),
  };
}

/** The plugin's own view: shared step fields read/write through to the step, its own options and emit. */
function scopedContext(shared: StepContext, options: Record<string, unknown>, emit: (p: Predicate) => void, logger: StepLogger): StepContext {
  const ctx = { options, emit, logger } as StepContext;
  for (const key of ['stepName', 'layoutStep', 'workdir', 'signal', 'command', 'materials', 'products', 'execution', 'wrapCommand'] as const) {
    Object.defineProperty(ctx, key, {
      enumerable: true,
      get: () => shared[key],
      set: (v) => {
        (shared as unknown as Record<string, unknown>)[key] = v;
      },
    });
  }
  return ctx;
}

function pluginFailure(plugin: CustodyPlugin, phase: string, e: unknown): CustodyError {
    // COMMAND_NOT_FOUND: a tracer that wraps the command reports a missing command as custody does
  if (isCustodyError(e) && (e.code === 'PREDICATE_INVALID' || e.code === 'PLUGIN_FAILED' || e.code === 'COMMAND_NOT_FOUND')) return e;
  const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
  // keep the file the plugin named, so the one stderr line still says which input was bad
  return new CustodyError('PLUGIN_FAILED', `plugin '${plugin.name}' failed in ${phase}: ${why}`, { cause: e, ...(isCustodyError(e) && e.file ? { file: e.file } : {}) });
}

/** Taps one plugin onto the step: its own hooks, called from the step's hooks, errors named. */
export function attachPlugin(hooks: StepHooks, state: StepState, loaded: LoadedPlugin): Phase[] {
  const { plugin, options } = loaded;
  const own = createStepHooks();
  try {
    plugin.apply(own);
  } catch (e) {
    throw pluginFailure(plugin, 'apply', e);
  }
  const emitted: Predicate[] = [];
  const ctx = scopedContext(state.ctx, options, (p) => emitted.push(p), prefixed(state.options.logger ?? SILENT, plugin.name));
  const phases = PHASES.filter((phase) => own[phase].isUsed());
  for (const phase of phases) {
    hooks[phase].tapPromise({ name: plugin.name }, async () => {
      try {
        await own[phase].promise(ctx);
      } catch (e) {
        throw pluginFailure(plugin, phase, e);
      }
      // Validate as soon as the plugin's phase is done: always before anything is signed.
      while (emitted.length > 0) {
        const p = emitted.shift()!;
        await validatePredicate(plugin, p);
        state.predicates.push({ plugin: plugin.name, predicate: JSON.parse(JSON.stringify(p)) as Predicate });
      }
    });
  }
  return phases;
}

/** Runs a step through all phases and returns what was recorded and written. */
export async function runStep(given: StepOptions): Promise<StepResult> {
  checkStepFileName(given.stepName); // before the command runs: its link could not be written
  const workdir = given.workdir ?? process.cwd();
  // paths are recorded relative to the base path, so the out dir is excluded relative to it
  const base = resolve(workdir, given.basePath ?? '.');
  const options: StepOptions = { ...given, exclude: stepExcludes(given.exclude, { workdir: base, outDir: resolve(workdir, given.outDir ?? '.') }) };
  // Fail before the command runs, not after: the out dir must be a writable folder.
  if (options.signer || options.attestationWriter?.selfSigning) checkOutDir(workdir, options.outDir);
  const signal = options.signal ?? new AbortController().signal;
  const hooks = createStepHooks();
  const ctx: StepContext = {
    stepName: options.stepName,
    layoutStep: options.layoutStep,
    workdir,
    options: {},
    logger: options.logger ?? SILENT,
    signal,
    command: options.noCommand ? [] : [...(options.command ?? [])],
    materials: {},
    products: {},
    emit() {
      throw new CustodyError('PLUGIN_FAILED', 'only plugins can emit predicates');
    },
    wrapCommand(wrapper) {
      if (state.commandWrapper) throw new CustodyError('PLUGIN_FAILED', `the command is already wrapped by ${state.commandWrapper.by}; ${wrapper.by} cannot wrap it too`);
      state.commandWrapper = wrapper;
    },
  };
  const state: StepState = {
    options,
    workdir,
    ctx,
    byproducts: {},
    environment: {},
    predicates: [],
    pending: [],
    written: [],
    attestationWriter: options.attestationWriter ?? attestationWriterFor(options.format ?? 'legacy'),
  };

  // Built-ins first: they produce what the evidence plugins read (materials, execution, products).
  for (const builtin of [materialsPlugin, commandPlugin, productsPlugin]) builtin(hooks, state);
  for (const loaded of options.plugins ?? []) attachPlugin(hooks, state, loaded);
  // Signing and storing come after every plugin's own sign/store taps.
  linkPlugin(hooks, state);

  for (const phase of PHASES) {
    if (signal.aborted) throw new CustodyError('USAGE', `step '${options.stepName}' aborted before ${phase}`);
    await hooks[phase].promise(ctx);
  }
  return {
    link: buildLink(state),
    exitCode: ctx.execution?.exitCode ?? 0,
    written: state.written,
    predicates: state.predicates,
  };
}

/** The core link from the step state, in the reference's field set. */
export function buildLink(state: StepState): LinkBody {
  return {
    _type: 'link',
    name: state.options.stepName,
    command: state.ctx.command,
    materials: state.ctx.materials,
    products: state.ctx.products,
    byproducts: state.byproducts,
    environment: state.environment,
  };
}
