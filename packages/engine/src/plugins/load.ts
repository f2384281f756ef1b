/**
 * Turns a plugin reference — a built-in name, a path relative to the config file, or an npm
 * package name resolved from the config file's folder — into a checked CustodyPlugin.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CustodyError } from '@custody/core';
import { PLUGIN_API_VERSION, type CustodyPlugin } from '../types.ts';
import type { PluginRegistry } from './registry.ts';

export interface PluginSpec {
  /** Built-in name, './relative/path.mjs' (relative to `baseDir`) or npm package name. */
  use: string;
  options?: Record<string, unknown>;
}

export interface LoadedPlugin {
  plugin: CustodyPlugin;
  options: Record<string, unknown>;
  /** Where it came from: 'built-in', a file path or a package name. */
  source: string;
}

function isPathLike(ref: string): boolean {
  return ref.startsWith('./') || ref.startsWith('../') || isAbsolute(ref) || ref === '.' || ref === '..';
}

/** Finds an installed package's ESM entry point from `fromDir` upwards. */
function resolvePackageEntry(name: string, fromDir: string): string | undefined {
  const parts = name.split('/');
  const pkgName = name.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const subpath = parts.slice(name.startsWith('@') ? 2 : 1).join('/');
  let dir = resolve(fromDir);
  for (;;) {
    const pkgDir = join(dir, 'node_modules', pkgName);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      if (subpath) return join(pkgDir, subpath);
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown; module?: string; main?: string };
      let entry: unknown = pkg.exports;
      if (entry && typeof entry === 'object' && '.' in (entry as object)) entry = (entry as Record<string, unknown>)['.'];
      while (entry && typeof entry === 'object' && !Array.isArray(entry)) {
        const conditions = entry as Record<string, unknown>;
        entry = conditions.import ?? conditions.node ?? conditions.default ?? conditions.require;
      }
      return join(pkgDir, typeof entry === 'string' ? entry : pkg.module ?? pkg.main ?? 'index.js');
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Refuses anything that is not a plugin of this engine's API generation. */
export function checkPlugin(value: unknown, ref: string): CustodyPlugin {
  const p = value as Partial<CustodyPlugin> | undefined;
  if (!p || typeof p !== 'object' || typeof p.name !== 'string' || typeof p.apply !== 'function') {
    throw new CustodyError('PLUGIN_NOT_FOUND', `'${ref}' does not export a custody plugin (an object with name, apiVersion and apply)`);
  }
  if (p.apiVersion !== PLUGIN_API_VERSION) {
    throw new CustodyError(
      'PLUGIN_API_VERSION',
      `plugin '${p.name}' (${ref}) declares apiVersion ${JSON.stringify(p.apiVersion)}, this custody supports apiVersion ${PLUGIN_API_VERSION}`,
    );
  }
  return p as CustodyPlugin;
}

export async function loadPlugin(spec: PluginSpec, opts: { registry?: PluginRegistry; baseDir: string }): Promise<LoadedPlugin> {
  const ref = spec.use;
  const options = spec.options ?? {};
  const builtin = opts.registry?.get(ref);
  if (builtin) return { plugin: checkPlugin(await builtin.load(), ref), options, source: 'built-in' };

  let file: string | undefined;
  if (isPathLike(ref)) {
    file = resolve(opts.baseDir, ref);
    if (!existsSync(file)) throw new CustodyError('PLUGIN_NOT_FOUND', `plugin file not found: ${file}`, { file: ref });
  } else {
    file = resolvePackageEntry(ref, opts.baseDir);
    if (!file || !existsSync(file)) {
      const known = opts.registry ? ` (built-in plugins: ${opts.registry.names().join(', ')})` : '';
      throw new CustodyError('PLUGIN_NOT_FOUND', `plugin '${ref}' is neither built in nor an installed package${known}`);
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new CustodyError('PLUGIN_FAILED', `plugin '${ref}' could not be loaded: ${(e as Error).message.split('\n')[0]}`, { file, cause: e });
  }
  const exported = mod.default ?? mod.plugin;
  return { plugin: checkPlugin(exported, ref), options, source: isPathLike(ref) ? file : ref };
}
