import { PluginRegistry } from '@custody/engine';

/**
 * Plugins custody ships, by short name. Loaded lazily: a command imports only the plugins it
 * runs. Adding a built-in is one line here (plus the dependency in packages/cli/package.json).
 */
export const builtinPlugins = new PluginRegistry()
  .register('git', () => import('@custody/plugin-git'))
  .register('environment', () => import('@custody/plugin-environment'))
  .register('command-run', () => import('@custody/plugin-command-run'))
  .register('model', () => import('@custody/plugin-model'))
  .register('dataset', () => import('@custody/plugin-dataset'))
  .register('bias', () => import('@custody/plugin-bias'))
  .register('cyclonedx', () => import('@custody/plugin-cyclonedx'))
  .register('sbom', () => import('@custody/plugin-sbom'))
  .register('vulns', () => import('@custody/plugin-vulns'))
  .register('trace', () => import('@custody/plugin-trace'));

/** What `custody run` attests when neither the config nor the layout step names plugins. */
export const DEFAULT_STEP_PLUGINS = ['git', 'environment', 'command-run'];
