import type { AsyncSeriesHook } from 'tapable';
import type { ArtifactMap } from '@custody/core';

/** The plugin API generation this engine speaks; a plugin declaring another one is refused. */
export const PLUGIN_API_VERSION = 1 as const;

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
  mediaType?: string;
}

export interface Predicate {
  predicateType: string;
  predicate: Record<string, unknown>;
  /** Defaults to the step's products. */
  subject?: ResourceDescriptor[];
  /**
   * Run-level evidence: the subject is the step's link itself (`<step>.link`, sha256 of the
   * link body's RFC 8785 canonical JSON, see `linkDigest`), filled in when the link is signed.
   */
  subjectIsLink?: boolean;
}

/**
 * A plugin that must run the step's command itself (a tracer) wraps it instead: the engine
 * still runs the command exactly once, as `argv(command)`, and the link still records
 * `command`. One wrapper per step; register it before `execute` (e.g. in `material`).
 */
export interface CommandWrapper {
  /** The wrapping plugin, for error messages. */
  by: string;
  /** The argv actually run for the step's command. */
  argv(command: readonly string[]): string[];
}

export interface StepLogger {
  info(m: string): void;
  warn(m: string): void;
  debug(m: string): void;
}

export interface StepExecution {
  exitCode: number;
  stdout: string;
  stderr: string;
  startedAt: Date;
  finishedAt: Date;
}

/**
 * What a plugin sees. Each plugin gets its own view: `options` are that plugin's options and
 * `emit` records predicates on that plugin's behalf; everything else is the shared step state.
 */
export interface StepContext {
  stepName: string;
  layoutStep?: unknown;
  workdir: string;
  options: Record<string, unknown>;
  logger: StepLogger;
  signal: AbortSignal;
  command: string[];
  materials: ArtifactMap;
  products: ArtifactMap;
  execution?: StepExecution;
  emit(p: Predicate): void;
  /** Run the command wrapped (see CommandWrapper); a second wrapper fails the step. */
  wrapCommand(wrapper: CommandWrapper): void;
}

export type StepHook = AsyncSeriesHook<[StepContext]>;

export interface StepHooks {
  preMaterial: StepHook;
  material: StepHook;
  execute: StepHook;
  product: StepHook;
  postProduct: StepHook;
  sign: StepHook;
  store: StepHook;
}

export type Phase = keyof StepHooks;
export const PHASES: readonly Phase[] = ['preMaterial', 'material', 'execute', 'product', 'postProduct', 'sign', 'store'];

export interface PluginCliOption {
  type: 'string' | 'boolean' | 'number' | 'array';
  describe: string;
}

export interface CustodyPlugin {
  name: string;
  apiVersion: 1;
  description?: string;
  predicateTypes?: string[];
  /** JSON Schema per predicate type; every emitted predicate must have one and satisfy it. */
  schemas?: Record<string, object>;
  cliOptions?: Record<string, PluginCliOption>;
  apply(hooks: StepHooks): void;
}

/** Identity function that gives plugin authors type checking and completion. */
export function definePlugin<T extends CustodyPlugin>(p: T): T {
  return p;
}
