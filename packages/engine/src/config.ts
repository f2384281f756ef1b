/**
 * custody.config.{json,yaml,yml,mjs} or a "custody" key in package.json, found with cosmiconfig
 * from the working folder up to the project root. Paths inside are made absolute relative to
 * the file that holds them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CustodyError } from '@custody/core';
import { CONFIG_SCHEMA } from './config-schema.ts';
import type { PluginSpec } from './plugins/load.ts';
import { OUTPUT_FORMATS, type OutputFormat } from './formats.ts';

export interface PluginConfigEntry { name: string; options?: Record<string, unknown> }

export interface CustodyConfig {
  key?: string;
  passphraseFile?: string;
  outDir?: string;
  format?: OutputFormat;
  exclude?: string[];
  plugins?: (string | PluginConfigEntry)[];
  /** Step name → private key file, for `custody pipeline run`. */
  functionaries?: Record<string, string>;
}

export interface LoadedConfig {
  config: CustodyConfig;
  /** The file it came from; undefined when no configuration was found. */
  filepath?: string;
  /** Folder relative paths in the config are resolved against. */
  baseDir: string;
}

export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'custody.config.json',
  'custody.config.yaml',
  'custody.config.yml',
  'custody.config.mjs',
];

function validateConfig(value: unknown, file: string): CustodyConfig {
  // A small hand check mirrors CONFIG_SCHEMA (kept in sync by a test) without loading ajv
  // on every run.
  const fail = (why: string): never => {
    throw new CustodyError('CONFIG_INVALID', why, { file });
  };
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail('configuration must be an object');
  const v = value as Record<string, unknown>;
  const allowed = Object.keys(CONFIG_SCHEMA.properties);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`unknown setting '${k}' (allowed: ${allowed.filter((a) => a !== '$schema').join(', ')})`);
  for (const k of ['key', 'passphraseFile', 'outDir'] as const) {
    if (v[k] !== undefined && (typeof v[k] !== 'string' || v[k] === '')) fail(`'${k}' must be a non-empty string`);
  }
  if (v.format !== undefined && !(OUTPUT_FORMATS as readonly unknown[]).includes(v.format)) fail(`'format' must be one of ${OUTPUT_FORMATS.map((f) => `'${f}'`).join(', ')}`);
  if (v.exclude !== undefined && (!Array.isArray(v.exclude) || v.exclude.some((x) => typeof x !== 'string'))) fail(`'exclude' must be a list of patterns`);
  if (v.functionaries !== undefined) {
    const f = v.functionaries as Record<string, unknown>;
    if (!f || typeof f !== 'object' || Array.isArray(f)) fail(`'functionaries' must map step names to key files`);
    for (const [step, keyFile] of Object.entries(f)) {
      if (typeof keyFile !== 'string' || keyFile === '') fail(`functionaries.${step} must be a key file path`);
    }
  }
  if (v.plugins !== undefined) {
    if (!Array.isArray(v.plugins)) fail(`'plugins' must be a list`);
    (v.plugins as unknown[]).forEach((p, i) => {
      if (typeof p === 'string' && p !== '') return;
      const o = p as Record<string, unknown>;
      if (!o || typeof o !== 'object' || Array.isArray(o) || typeof o.name !== 'string' || o.name === '') fail(`plugins[${i}] must be a plugin name or { name, options }`);
      for (const k of Object.keys(o)) if (k !== 'name' && k !== 'options') fail(`plugins[${i}]: unknown field '${k}'`);
      if (o.options !== undefined && (typeof o.options !== 'object' || o.options === null || Array.isArray(o.options))) fail(`plugins[${i}].options must be an object`);
    });
  }
  return v as CustodyConfig;
}

/**
 * Whether cosmiconfig's 'project' search from `cwd` could find anything: the same folders
 * (up to the first one holding package.json/package.yaml), the same file names. Lets a run
 * without configuration skip loading cosmiconfig, whose bundle pulls in the TypeScript
 * compiler for its .ts loader.
 */
function configCandidateExists(cwd: string): boolean {
  let dir = resolve(cwd);
  for (;;) {
    for (const place of CONFIG_SEARCH_PLACES) {
      const file = join(dir, place);
      if (!existsSync(file)) continue;
      if (place !== 'package.json') return true;
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        if (pkg && typeof pkg === 'object' && pkg.custody !== undefined && pkg.custody !== null) return true;
      } catch {
        return true; // let cosmiconfig report the broken file
      }
    }
    if (existsSync(join(dir, 'package.json')) || existsSync(join(dir, 'package.yaml'))) return false;
    const parent = dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

/** Loads the configuration: `explicitFile` if given, else the nearest one from `cwd`. */
export async function loadConfig(cwd: string, explicitFile?: string): Promise<LoadedConfig> {
  if (!explicitFile && !configCandidateExists(cwd)) return { config: {}, baseDir: cwd };
  const mod = (await import('cosmiconfig')) as typeof import('cosmiconfig') & { default?: typeof import('cosmiconfig') };
  // CommonJS package: named export under tsx, `default` inside the esbuild bundle.
  const cosmiconfig = mod.cosmiconfig ?? mod.default!.cosmiconfig;
  const explorer = cosmiconfig('custody', { searchPlaces: CONFIG_SEARCH_PLACES, searchStrategy: 'project', cache: false });
  let result: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  try {
    result = explicitFile ? await explorer.load(resolve(cwd, explicitFile)) : await explorer.search(cwd);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { filepath?: string };
    if (err.code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'configuration file not found', { file: explicitFile });
    throw new CustodyError('CONFIG_INVALID', `cannot parse configuration: ${err.message.split('\n')[0]}`, { file: err.filepath ?? explicitFile, cause: e });
  }
  if (!result || result.isEmpty) return { config: {}, baseDir: cwd, filepath: result?.filepath };
  const config = validateConfig(result.config, result.filepath);
  return { config, filepath: result.filepath, baseDir: dirname(result.filepath) };
}

/** Normalizes the plugin list of a config or a layout step into specs. */
export function pluginSpecs(list: readonly (string | PluginConfigEntry)[]): PluginSpec[] {
  return list.map((p) => (typeof p === 'string' ? { use: p } : { use: p.name, options: p.options }));
}

/**
 * Which plugins a step runs: the layout step's `plugins` if it names any (options taken from
 * the config entry of the same name), else the config's, else `defaults`.
 */
export function stepPluginSpecs(config: CustodyConfig, layoutStep: unknown, defaults: readonly string[]): PluginSpec[] {
  const fromConfig = config.plugins ? pluginSpecs(config.plugins) : undefined;
  const stepList = (layoutStep as { plugins?: unknown } | undefined)?.plugins;
  if (Array.isArray(stepList) && stepList.length > 0) {
    return pluginSpecs(stepList as (string | PluginConfigEntry)[]).map((s) => ({
      use: s.use,
      options: s.options ?? fromConfig?.find((c) => c.use === s.use)?.options,
    }));
  }
  return fromConfig ?? defaults.map((use) => ({ use }));
}
