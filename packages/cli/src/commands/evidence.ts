import type { Argv, CommandModule } from 'yargs';

interface EvidenceArgs {
  plugin: string;
  json?: boolean;
  config?: string;
  verbose?: boolean;
  [option: string]: unknown;
}

const OWN_KEYS = new Set(['_', '$0', 'plugin', 'json', 'config', 'verbose', 'debug', 'help', 'version', '--']);

export const evidenceCommand: CommandModule<object, EvidenceArgs> = {
  command: 'evidence <plugin>',
  describe: 'run one plugin on the current folder and print the predicate it would sign (nothing is signed or written)',
  builder: (y) =>
    y
      .positional('plugin', { type: 'string', demandOption: true, describe: 'built-in name, npm package or ./path' })
      .option('json', { type: 'boolean', describe: 'print the predicates as JSON' })
      .option('config', { type: 'string', describe: 'configuration file' })
      .option('verbose', { type: 'boolean', describe: 'log what the plugin does' })
      // Plugin options are declared by the plugin itself, so they are checked in the handler.
      .strict(false)
      .parserConfiguration({ 'camel-case-expansion': true, 'strip-dashed': true })
      .epilog('Plugin options: see `custody plugins list`; pass them as --name value.') as unknown as Argv<EvidenceArgs>,
  handler: async (argv) => {
    const { CustodyError } = await import('@custody/core');
    const engine = await import('@custody/engine');
    const { builtinPlugins } = await import('../builtin-plugins.ts');
    const cwd = process.cwd();
    const { config, baseDir } = await engine.loadConfig(cwd, argv.config);
    const specs = engine.pluginSpecs(config.plugins ?? []);
    const configured = specs.find((s) => s.use === argv.plugin);
    let loaded: Awaited<ReturnType<typeof engine.loadPlugin>> | undefined;
    if (!configured && !builtinPlugins.has(argv.plugin)) {
      // `custody evidence inventory` for a plugin configured as ./plugins/inventory.mjs
      for (const s of specs.filter((x) => !builtinPlugins.has(x.use))) {
        const candidate = await engine.loadPlugin(s, { registry: builtinPlugins, baseDir });
        if (candidate.plugin.name === argv.plugin) loaded = candidate;
      }
    }
    loaded ??= await engine.loadPlugin({ use: argv.plugin, options: configured?.options }, { registry: builtinPlugins, baseDir: configured ? baseDir : cwd });
    const declared = loaded.plugin.cliOptions ?? {};
    const options: Record<string, unknown> = { ...loaded.options };
    for (const [key, value] of Object.entries(argv)) {
      if (OWN_KEYS.has(key) || key.includes('-')) continue;
      const spec = declared[key];
      if (!spec) {
        const known = Object.keys(declared);
        throw new CustodyError('USAGE', `plugin '${loaded.plugin.name}' has no option --${key}${known.length ? ` (options: ${known.map((k) => `--${k}`).join(', ')})` : ''}`);
      }
      if (spec.type === 'array') options[key] = (Array.isArray(value) ? value : [value]).map(String);
      else if (spec.type === 'number') {
        const n = Number(value);
        if (!Number.isFinite(n)) throw new CustodyError('USAGE', `--${key} must be a number`);
        options[key] = n;
      } else if (spec.type === 'boolean') options[key] = value === true || value === 'true';
      else options[key] = String(value);
    }
    const verbose = argv.verbose === true;
    const logger = {
      info: (m: string) => verbose && process.stderr.write(`custody: ${m}\n`),
      debug: (m: string) => verbose && process.stderr.write(`custody: ${m}\n`),
      warn: (m: string) => process.stderr.write(`custody: warning: ${m}\n`),
    };
    const predicates = await engine.collectEvidence({ ...loaded, options }, { workdir: cwd, exclude: config.exclude, logger });
    const out = predicates.map((p) => p.predicate);
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(out.length === 1 ? out[0] : out, null, 2)}\n`);
      return;
    }
    if (out.length === 0) {
      process.stdout.write(`plugin '${loaded.plugin.name}' emitted no predicate for this folder\n`);
      return;
    }
    for (const p of out) {
      process.stdout.write(`predicateType: ${p.predicateType}\n`);
      if (p.subject) process.stdout.write(`subject: ${JSON.stringify(p.subject)}\n`);
      process.stdout.write(`predicate: ${JSON.stringify(p.predicate, null, 2)}\n`);
    }
  },
};
