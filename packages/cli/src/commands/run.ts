import { basename } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { setExitCode } from '../output.ts';

/** Options shared by `run`, `record start` and `record stop`. */
export function keyOptions(y: Argv): Argv {
  return y
    .option('step', { alias: 'n', type: 'string', demandOption: true, describe: 'step name (as in the layout)' })
    .option('key', { alias: 'k', type: 'string', describe: 'private key file (default: key in custody.config)' })
    .option('passphrase-file', { type: 'string', describe: 'file holding the key passphrase' })
    .option('exclude', { type: 'array', string: true, describe: 'gitwildmatch patterns to exclude (replace the defaults *.link*, .git, *.pyc, *~ and custody\'s own /*.sigstore.json, /*.att.json, /.custody at the base path)' })
    .option('base-path', { type: 'string', describe: 'record artifact paths relative to this folder' })
    .option('lstrip-paths', { type: 'array', string: true, describe: 'prefixes to strip from recorded paths (first match)' })
    .option('config', { type: 'string', describe: 'configuration file (default: nearest custody.config.* / package.json "custody")' })
    .option('verbose', { type: 'boolean', describe: 'log what plugins do' });
}

export function outputOptions(y: Argv): Argv {
  return y
    .option('out-dir', { alias: 'd', type: 'string', describe: 'where the link and attestations go (default: config outDir, else .)' })
    .option('format', {
      choices: ['legacy', 'dsse', 'sigstore'] as const,
      describe: 'legacy (default, unless config format says otherwise): the reference metablock .link, which in-toto-verify reads, + plugin attestations as Sigstore bundles (*.sigstore.json); '
        + 'dsse: DSSE .link + DSSE *.att.json (in-toto 1.4); sigstore: the link too, as a Statement in a Sigstore bundle (*.link.sigstore.json)',
    })
    .option('plugin', { type: 'array', string: true, describe: 'evidence plugins to run (replaces the configured list)' })
    .option('plugin-option', { type: 'array', string: true, nargs: 1, describe: 'PLUGIN.OPTION=VALUE for a plugin this step runs (e.g. model.dir=model); wins over config and layout (custody plugins list shows the options)' })
    .option('no-attest', { type: 'boolean', describe: 'write the link only, run no evidence plugins' })
    .option('layout', { type: 'string', describe: 'layout (signed, or its YAML/JSON source) whose step --step names: its `plugins` (and their options) are run' })
    .option('layout-step', { type: 'string', hidden: true, describe: 'JSON of the layout step (orchestrators)' });
}

export interface StepArgs {
  step: string;
  key?: string;
  passphraseFile?: string;
  exclude?: string[];
  basePath?: string;
  lstripPaths?: string[];
  config?: string;
  verbose?: boolean;
  outDir?: string;
  format?: import('@custody/engine/formats').OutputFormat;
  plugin?: string[];
  pluginOption?: string[];
  noAttest?: boolean;
  layoutStep?: string;
  layout?: string;
}

type KeySigner = import('@custody/sign').Signer;
type Prepared = Awaited<ReturnType<typeof prepareStepImpl>>;

/**
 * `--plugin-option model.dir=model`: an option of a plugin the step runs, typed as the plugin
 * declares it (cliOptions). An unknown plugin or option is bad input naming the valid ones.
 */
function applyPluginOptions<P extends { plugin: { name: string; cliOptions?: Record<string, { type: string }> }; options?: unknown }>(
  plugins: P[], pairs: string[], Err: typeof import('@custody/core/errors').CustodyError,
): P[] {
  const out = plugins.map((p) => ({ ...p, options: { ...((p.options ?? {}) as Record<string, unknown>) } }));
  for (const pair of pairs) {
    const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(pair);
    if (!m) throw new Err('USAGE', `--plugin-option ${JSON.stringify(pair)}: expected PLUGIN.OPTION=VALUE (e.g. model.dir=model)`);
    const [, name, key, raw] = m;
    const target = out.find((p) => p.plugin.name === name);
    if (!target) throw new Err('USAGE', `--plugin-option ${pair}: this step runs no plugin '${name}' (it runs: ${out.map((p) => p.plugin.name).join(', ') || 'none'})`);
    const declared = target.plugin.cliOptions ?? {};
    const spec = Object.prototype.hasOwnProperty.call(declared, key) ? declared[key] : undefined;
    if (!spec) throw new Err('USAGE', `--plugin-option ${pair}: plugin '${name}' has no option ${key}${Object.keys(declared).length ? ` (options: ${Object.keys(declared).join(', ')})` : ''}`);
    const opts = target.options as Record<string, unknown>;
    if (spec.type === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new Err('USAGE', `--plugin-option ${pair}: ${key} must be a number`);
      opts[key] = n;
    } else if (spec.type === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Err('USAGE', `--plugin-option ${pair}: ${key} must be true or false`);
      opts[key] = raw === 'true';
    } else if (spec.type === 'array') {
      // repeated: the values add up
      opts[key] = [...(Array.isArray(opts[key]) && pairs.indexOf(pair) > pairs.findIndex((x) => x.startsWith(`${name}.${key}=`)) ? (opts[key] as unknown[]) : []), raw];
    } else opts[key] = raw;
  }
  return out as P[];
}

/** Loads config, signer and plugins for a step; everything that can fail does so before any command runs. */
export async function prepareStep(argv: StepArgs, opts: { plugins: boolean }): Promise<Prepared & { signer: KeySigner }>;
/** With `keyless`: no key is loaded (`signer` undefined); the keyless signer signs instead. */
export async function prepareStep(argv: StepArgs, opts: { plugins: boolean; keyless: boolean }): Promise<Prepared>;
export async function prepareStep(argv: StepArgs, opts: { plugins: boolean; keyless?: boolean }): Promise<Prepared> {
  return prepareStepImpl(argv, opts);
}

async function prepareStepImpl(argv: StepArgs, opts: { plugins: boolean; keyless?: boolean }) {
  // Subpath imports: the package indexes also re-export sigstore, CEL and the pipeline runner.
  const [{ resolve }, { CustodyError }, { loadSigner, readPassphraseFile }, config_, load_, progress_, { builtinPlugins, DEFAULT_STEP_PLUGINS }] = await Promise.all([
    import('node:path'),
    import('@custody/core/errors'),
    import('@custody/sign/keys'),
    import('@custody/engine/config'),
    import('@custody/engine/plugins/load'),
    import('@custody/engine/hashing/progress'),
    import('../builtin-plugins.ts'),
  ]);
  const engine = { ...config_, ...load_, ...progress_ };
  // yargs reports a missing --step through cli.ts's fail() only after the handler has run.
  if (typeof argv.step !== 'string' || argv.step === '') throw new CustodyError('USAGE', 'Missing required argument: step');
  const cwd = process.cwd();
  const { config, baseDir } = await engine.loadConfig(cwd, argv.config);
  const format = argv.format ?? config.format ?? 'legacy';
  let signer: KeySigner | undefined;
  if (opts.keyless) {
    if (argv.key) throw new CustodyError('USAGE', 'give either --key or --keyless, not both');
    if (format !== 'sigstore') throw new CustodyError('USAGE', '--keyless signs Sigstore bundles: add --format sigstore');
  } else {
    const keyPath = argv.key ?? (config.key ? resolve(baseDir, config.key) : undefined);
    if (!keyPath) throw new CustodyError('USAGE', 'no signing key: pass --key or set "key" in custody.config (or --keyless)');
    const passFile = argv.passphraseFile ?? (config.passphraseFile ? resolve(baseDir, config.passphraseFile) : undefined);
    const passphrase = passFile ? await readPassphraseFile(passFile) : undefined;
    signer = await loadSigner(keyPath, { passphrase });
  }
  let layoutStep: unknown = argv.layout ? await readLayoutStep(argv.layout, argv.step) : undefined;
  // A key the layout does not name for this step would sign evidence no verifier counts.
  if (argv.layout && signer) await checkFunctionary(argv.layout, argv.step, layoutStep, signer.keyid, argv.key ?? 'the configured key');
  if (argv.layoutStep) {
    try {
      layoutStep = JSON.parse(argv.layoutStep);
    } catch {
      throw new CustodyError('USAGE', '--layout-step must be JSON');
    }
  }
  let plugins: Awaited<ReturnType<typeof engine.loadPlugin>>[] = [];
  if (opts.plugins && argv.noAttest !== true) {
    const specs = argv.plugin?.length
      ? engine.stepPluginSpecs({ ...config, plugins: argv.plugin }, undefined, DEFAULT_STEP_PLUGINS)
      : engine.stepPluginSpecs(config, layoutStep, DEFAULT_STEP_PLUGINS);
    // Options for a plugin named on the command line still come from the config.
    const configured = engine.pluginSpecs(config.plugins ?? []);
    for (const s of specs) s.options ??= configured.find((c) => c.use === s.use)?.options;
    plugins = await Promise.all(specs.map((s) => engine.loadPlugin(s, { registry: builtinPlugins, baseDir: argv.plugin?.length ? cwd : baseDir })));
  }
  if (argv.pluginOption?.length) plugins = applyPluginOptions(plugins, argv.pluginOption.map(String), CustodyError);
  const verbose = argv.verbose === true;
  const logger = {
    info: (m: string) => verbose && process.stderr.write(`custody: ${m}\n`),
    debug: (m: string) => verbose && process.stderr.write(`custody: ${m}\n`),
    warn: (m: string) => process.stderr.write(`custody: warning: ${m}\n`),
  };
  return {
    signer,
    plugins,
    layoutStep,
    logger,
    outDir: argv.outDir ?? (config.outDir ? resolve(baseDir, config.outDir) : undefined),
    format,
    // none given: the engine uses custody's defaults (the reference's plus custody's own outputs)
    exclude: argv.exclude?.length ? argv.exclude : config.exclude,
    progress: (label: string) => engine.terminalProgress(`custody: ${label}`),
  };
}

export function reportWritten(step: string, written: string[]): void {
  if (written.length === 0) return;
  const extra = written.length > 1 ? ` (+${written.length - 1} attestation${written.length > 2 ? 's' : ''})` : '';
  process.stderr.write(`custody: recorded step '${step}': ${basename(written[0])}${extra}\n`);
}

interface RunArgs extends StepArgs, Partial<Record<'keyless' | 'tlog', boolean>> {
  'identity-token-file'?: string;
  'fulcio-url'?: string;
  'rekor-url'?: string;
  'tsa-url'?: string;
  'signing-timeout'?: number;
  'rekor-entry-type'?: 'dsse' | 'intoto';
  materials?: string[];
  products?: string[];
  recordStreams?: boolean;
  noCommand?: boolean;
  _: (string | number)[];
  '--'?: (string | number)[];
  push?: string;
  subject?: string;
  'plain-http'?: boolean;
  'ca-file'?: string;
  'registry-timeout'?: number;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'run a step command and record a signed link (plus plugin attestations)',
  builder: (y) =>
    outputOptions(keyOptions(y))
      .usage('custody run --step NAME --key KEY [options] -- CMD ARGS…')
      .parserConfiguration({ 'populate--': true, 'boolean-negation': false })
      .option('materials', { alias: 'm', type: 'array', string: true, describe: 'paths hashed before the command' })
      .option('products', { alias: 'p', type: 'array', string: true, describe: 'paths hashed after the command' })
      .option('record-streams', { alias: 's', type: 'boolean', describe: 'record stdout/stderr in the link byproducts' })
      .option('no-command', { alias: 'x', type: 'boolean', describe: 'record materials/products without running a command' })
      // keyless (Fulcio certificate for an OIDC identity; with --format sigstore), as `layout sign` and `model sign` take them
      .option('keyless', { type: 'boolean', describe: 'sign the step\'s bundles with a short-lived Fulcio certificate for an OIDC identity instead of a key (needs --format sigstore)' })
      .option('identity-token-file', { type: 'string', describe: 'file holding the OIDC identity token (default: SIGSTORE_ID_TOKEN, then GitHub Actions)' })
      .option('fulcio-url', { type: 'string', describe: 'Fulcio URL (default https://fulcio.sigstore.dev)' })
      .option('rekor-url', { type: 'string', describe: 'Rekor URL (default https://rekor.sigstore.dev)' })
      .option('tsa-url', { type: 'string', describe: 'RFC 3161 timestamp authority URL (adds a signed timestamp)' })
      .option('tlog', { type: 'boolean', describe: 'write a Rekor entry (default; --tlog false skips it and then needs --tsa-url)' })
      .option('signing-timeout', { type: 'number', describe: 'timeout of each request to Fulcio, Rekor or the TSA, in seconds (default 30)' })
      .option('rekor-entry-type', { choices: ['dsse', 'intoto'] as const, hidden: true, describe: 'Rekor entry kind for DSSE bundles (intoto: test logs)' })
      .option('push', { type: 'string', describe: 'also push the step\'s link and attestations to this OCI registry repository, HOST[:PORT]/REPO, attached to --subject (credentials as docker finds them)' })
      .option('subject', { type: 'string', describe: 'with --push: sha256:HEX of the image (already in the repository) the attestations attach to' })
      .option('plain-http', { type: 'boolean', default: false, describe: 'with --push: plain HTTP instead of HTTPS (loopback registries only)' })
      .option('ca-file', { type: 'string', describe: 'with --push: PEM file of CA certificates to trust for the registry' })
      .option('registry-timeout', { type: 'number', describe: 'with --push: seconds one registry request may take (default 30)' })
      .example('custody run -n train -k alice.pem -m data -p model -- python train.py', '') as unknown as Argv<RunArgs>,
  handler: async (argv) => {
    const { CustodyError } = await import('@custody/core/errors');
    const { existsSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const command = (argv['--'] ?? []).map(String);
    if (typeof argv.step !== 'string' || argv.step === '') throw new CustodyError('USAGE', 'Missing required argument: step');
    const noCommand = argv.noCommand === true;
    if (noCommand && command.length > 0) throw new CustodyError('USAGE', 'give either a command after -- or --no-command, not both');
    if (!noCommand && command.length === 0) throw new CustodyError('USAGE', 'no command: put it after -- (or pass --no-command)');
    const base = resolve(process.cwd(), argv.basePath ?? '.');
    // The reference skips missing paths silently; a material named on the command line that
    // does not exist is almost always a typo, so it is refused before anything runs.
    for (const m of argv.materials ?? []) {
      if (!existsSync(resolve(base, m))) throw new CustodyError('FILE_NOT_FOUND', 'material path does not exist', { file: m });
    }
    const keyless = argv.keyless === true;
    if (argv.subject !== undefined && argv.push === undefined) throw new CustodyError('USAGE', '--subject is for --push REGISTRY/REPO');
    // the registry and the image are checked before the command runs
    const pushTarget = argv.push !== undefined ? await (await import('./push.ts')).openPushTarget(argv.push, argv.subject, argv) : undefined;
    const prepared = await prepareStep(argv, { plugins: true, keyless });
    const { runStep } = await import('@custody/engine/lifecycle');
    // the format picks the writer in the engine; keyless brings its own signer
    let attestationWriter;
    if (keyless) {
      const [{ attestationWriterFor }, sign] = await Promise.all([import('@custody/engine/attestation'), import('@custody/sign')]);
      const keylessSigner = sign.createKeylessSigner({ ...sign.keylessOptionsFromArgv(argv), rekorEntryType: argv['rekor-entry-type'] });
      // Token and certificate before the command: a bad token must not cost a training run.
      await keylessSigner.prepare();
      attestationWriter = attestationWriterFor(prepared.format, keylessSigner);
    }
    const result = await runStep({
      stepName: argv.step,
      command,
      noCommand,
      recordStreams: argv.recordStreams === true,
      materials: argv.materials ?? [],
      products: argv.products ?? [],
      exclude: prepared.exclude,
      basePath: argv.basePath,
      lstripPaths: argv.lstripPaths,
      signer: prepared.signer,
      outDir: prepared.outDir,
      format: prepared.format,
      attestationWriter,
      plugins: prepared.plugins,
      layoutStep: prepared.layoutStep,
      logger: prepared.logger,
      progress: prepared.progress,
    });
    reportWritten(argv.step, result.written);
    if (pushTarget) {
      try {
        await (await import('./push.ts')).pushAttestationFiles(pushTarget, result.written, (l) => process.stderr.write(`${l}\n`));
      } finally {
        pushTarget.store.close();
      }
    }
    setExitCode(result.exitCode);
  },
};

/**
 * Refuses a signing key that is not a functionary of the step: its keyid (signed layouts), or the
 * key file a key name stands for (authoring YAML: `keys: { bob: bob.pub }`), among the step's
 * `pubkeys`, `functionaries` and expectedPredicates functionaries.
 */
async function checkFunctionary(file: string, stepName: string, step: unknown, keyid: string, keyLabel: string): Promise<void> {
  const [{ readLayoutDocument }, { CustodyError }, keys, { dirname, resolve }, { readFile }] = await Promise.all([
    import('@custody/engine/verify'), import('@custody/core/errors'), import('@custody/core/keys'), import('node:path'), import('node:fs/promises'),
  ]);
  const { doc } = await readLayoutDocument(file);
  const s = (step ?? {}) as { pubkeys?: unknown; functionaries?: unknown; expectedPredicates?: unknown };
  const refs: unknown[] = [
    ...(Array.isArray(s.pubkeys) ? s.pubkeys : []),
    ...(Array.isArray(s.functionaries) ? s.functionaries : []),
    ...(Array.isArray(s.expectedPredicates) ? s.expectedPredicates.flatMap((p) => (Array.isArray((p as { functionaries?: unknown })?.functionaries) ? (p as { functionaries: unknown[] }).functionaries : [])) : []),
  ];
  const layoutKeys = ((doc as { keys?: unknown })?.keys ?? {}) as Record<string, unknown>;
  const allowed = new Set<string>();
  for (const ref of refs) {
    if (typeof ref !== 'string') continue; // keyless identities: no key can be one
    if (/^[0-9a-f]{64}$/i.test(ref)) allowed.add(ref.toLowerCase());
    const entry = Object.prototype.hasOwnProperty.call(layoutKeys, ref) ? layoutKeys[ref] : undefined;
    try {
      if (typeof entry === 'string') {
        const path = resolve(dirname(resolve(file)), entry);
        allowed.add(keys.parsePublicKeyText(await readFile(path, 'utf8'), path).keyid);
      } else if (entry && typeof entry === 'object') {
        allowed.add(keys.publicKeyFromSslib(entry, file).keyid);
      }
    } catch {
      // a key the layout names but that cannot be read authorizes nobody
    }
  }
  if (!allowed.has(keyid.toLowerCase())) {
    throw new CustodyError('USAGE', `${keyLabel} (keyid ${keyid.slice(0, 8)}) is not a functionary of step '${stepName}' in the layout`, { file });
  }
}

/**
 * The step `name` of a layout file, for its plugins: a signed layout (metablock, DSSE or Sigstore
 * bundle) or the authoring YAML/JSON. Recording does not depend on the layout's signature —
 * `custody verify` checks that — so it is not verified here.
 */
async function readLayoutStep(file: string, name: string): Promise<unknown> {
  const [{ readLayoutDocument }, { CustodyError }] = await Promise.all([import('@custody/engine/verify'), import('@custody/core/errors')]);
  const body = (await readLayoutDocument(file)).doc;
  const steps = (body as { steps?: unknown }).steps;
  if (!Array.isArray(steps)) throw new CustodyError('SCHEMA_INVALID', 'not a layout: it has no steps', { file });
  const step = steps.find((s) => (s as { name?: unknown })?.name === name);
  if (!step) {
    const names = steps.map((s) => (s as { name?: unknown })?.name).filter((n) => typeof n === 'string');
    throw new CustodyError('UNKNOWN_STEP', `no step '${name}' in the layout (steps: ${names.join(', ') || 'none'})`, { file });
  }
  return step;
}
