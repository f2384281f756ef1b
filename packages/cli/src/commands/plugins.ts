import type { Argv, CommandModule } from 'yargs';

interface ListArgs {
  json?: boolean;
  config?: string;
}

const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'show built-in and configured plugins, the phases they tap and their predicate types',
  builder: (y) =>
    y.option('json', { type: 'boolean', describe: 'print as JSON' }).option('config', { type: 'string', describe: 'configuration file' }) as unknown as Argv<ListArgs>,
  handler: async (argv) => {
    const engine = await import('@custody/engine');
    const { builtinPlugins, DEFAULT_STEP_PLUGINS } = await import('../builtin-plugins.ts');
    const cwd = process.cwd();
    const { config, baseDir, filepath } = await engine.loadConfig(cwd, argv.config);
    const configured = engine.pluginSpecs(config.plugins ?? []);
    const names = [...builtinPlugins.names(), ...configured.map((c) => c.use).filter((u) => !builtinPlugins.has(u))];
    const active = new Set((config.plugins ? configured.map((c) => c.use) : DEFAULT_STEP_PLUGINS));
    const rows = [];
    for (const ref of names) {
      const loaded = await engine.loadPlugin({ use: ref, options: configured.find((c) => c.use === ref)?.options }, { registry: builtinPlugins, baseDir });
      const hooks = engine.createStepHooks();
      loaded.plugin.apply(hooks);
      rows.push({
        name: loaded.plugin.name,
        ref,
        source: loaded.source,
        enabled: active.has(ref),
        phases: engine.PHASES.filter((p) => hooks[p].isUsed()),
        predicateTypes: loaded.plugin.predicateTypes ?? Object.keys(loaded.plugin.schemas ?? {}),
        description: loaded.plugin.description ?? '',
        options: Object.keys(loaded.plugin.cliOptions ?? {}),
        optionSpecs: loaded.plugin.cliOptions ?? {},
      });
    }
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({ config: filepath ?? null, plugins: rows }, null, 2)}\n`);
      return;
    }
    process.stdout.write(`config: ${filepath ?? '(none; defaults)'}\n`);
    for (const r of rows) {
      process.stdout.write(`${r.enabled ? '*' : ' '} ${r.name}  [${r.source}]  phases: ${r.phases.join(', ')}\n`);
      if (r.description) process.stdout.write(`    ${r.description}\n`);
      for (const t of r.predicateTypes) process.stdout.write(`    predicate: ${t}\n`);
      if (r.options.length) {
        // every option with what it means: `custody evidence NAME --OPT`, `custody run --plugin-option NAME.OPT=VALUE`
        process.stdout.write('    options:\n');
        const width = Math.max(...r.options.map((o) => o.length + (r.optionSpecs[o].type === 'boolean' ? 0 : r.optionSpecs[o].type.length + 1)));
        for (const o of r.options) {
          const spec = r.optionSpecs[o];
          const left = spec.type === 'boolean' ? o : `${o}=${spec.type}`;
          process.stdout.write(`      ${left.padEnd(width)}  ${spec.describe}\n`);
        }
      }
    }
    process.stdout.write('(* = runs on custody run; set an option with custody run --plugin-option NAME.OPTION=VALUE)\n');
  },
};

export const pluginsCommand: CommandModule = {
  command: 'plugins',
  describe: 'list evidence plugins',
  builder: (y) => y.command(listCommand).demandCommand(1, 'plugins list'),
  handler: () => {},
};
