import type { CommandModule } from 'yargs';
import { setExitCode, streamStyle } from '../output.ts';

interface RunArgs {
  layout: string;
  'layout-key'?: string[];
  workdir?: string;
  'link-dir'?: string;
  only?: string[];
  from?: string;
  param?: string[];
  json: boolean;
  format?: import('@custody/engine/formats').OutputFormat;
  config?: string;
  'strict-command': boolean;
  verify: boolean;
  verbose?: boolean;
}

/** `k=v` pairs → params; a pair without `=` is bad input. */
async function parseParams(pairs: string[] | undefined): Promise<Record<string, string>> {
  const { CustodyError } = await import('@custody/core');
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CustodyError('USAGE', `--param ${JSON.stringify(p)}: expected NAME=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Live progress on stderr: one line per step; colour and symbols on a terminal. */
function progressPrinter(stream: NodeJS.WriteStream) {
  const { color, symbols: tty } = streamStyle(stream);
  const paint = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  let width = 0;
  return (e: import('@custody/engine').PipelineEvent): void => {
    switch (e.type) {
      case 'plan':
        width = Math.max(...e.steps.map((s) => s.name.length));
        stream.write(`custody: pipeline: ${e.steps.map((s) => (s.action === 'run' ? s.name : paint('2', `${s.name} (kept)`))).join(' → ')}\n`);
        break;
      case 'step-keep':
        stream.write(`${paint('2', `${tty ? '✓' : 'kept'} [${e.position}/${e.total}] ${e.step.padEnd(width)}  ${e.reason}`)}\n`);
        break;
      case 'step-start':
        stream.write(`${paint('1;36', `${tty ? '▶' : 'run '} [${e.position}/${e.total}] ${e.step.padEnd(width)}`)}  ${e.command.length ? e.command.join(' ') : '(no command: evidence only)'}\n`);
        break;
      case 'step-done': {
        const atts = e.written.length > 1 ? ` + ${e.written.length - 1} attestation(s)` : '';
        stream.write(`${paint('32', `${tty ? '✔' : 'done'} [${e.position}/${e.total}] ${e.step.padEnd(width)}`)}  ${seconds(e.durationMs)}, link${atts}\n`);
        break;
      }
      case 'step-failed':
        stream.write(`${paint('1;31', `${tty ? '✘' : 'FAIL'} [${e.position}/${e.total}] ${e.step.padEnd(width)}`)}  ${seconds(e.durationMs)}: ${e.message}\n`);
        break;
      case 'verify-start':
        stream.write(`${paint('1;36', tty ? '▶ final verify' : 'run  final verify')}\n`);
        break;
      case 'verify-done':
        stream.write(`custody: final verify: ${e.outcome.report?.verdict ?? `exit ${e.outcome.exitCode}`} in ${seconds(e.durationMs)}\n`);
        break;
    }
  };
}

/** The final verification: the engine's verify API, in-process, in the working folder. */
async function runVerify(req: import('@custody/engine').PipelineVerifyRequest): Promise<import('@custody/engine').PipelineVerifyOutcome> {
  const { verifyPipelineRun } = await import('@custody/engine/verify');
  return verifyPipelineRun(req);
}

const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <layout>',
  describe: 'run every step of a signed layout in dependency order, signing each step, then verify the chain',
  builder: (y) => y
    .positional('layout', { type: 'string', demandOption: true, describe: 'signed layout (DSSE, from `custody layout sign --format dsse`)' })
    .option('layout-key', { type: 'array', string: true, nargs: 1, demandOption: true, describe: 'public key of the layout owner (checked before anything runs, and by the final verify)' })
    .option('workdir', { type: 'string', describe: 'folder the steps run in; recorded whole as materials and products (default: .)' })
    .option('link-dir', { type: 'string', describe: 'where links and attestations go (default: config outDir, else .custody next to the layout)' })
    .option('only', { type: 'array', string: true, nargs: 1, describe: 'run exactly these steps (then verify)' })
    .option('from', { type: 'string', describe: 're-run this step and every step after it' })
    .option('param', { type: 'array', string: true, nargs: 1, describe: 'NAME=VALUE for {NAME} in run commands, plugin options and the final verify' })
    .option('strict-command', { type: 'boolean', default: false, describe: 'final verify fails when a step ran another command than its expected_command' })
    .option('verify', { type: 'boolean', default: true, describe: 'run the final verify (--no-verify to skip)' })
    .option('config', { type: 'string', describe: 'configuration file (default: nearest custody.config.*); functionaries: { step: key }' })
    .option('format', {
      choices: ['legacy', 'dsse', 'sigstore'] as const,
      describe: 'what each step writes (default: config format, else legacy): legacy = reference metablock .link + Sigstore bundles; dsse = DSSE .link + *.att.json; sigstore = the link in a bundle too',
    })
    .option('json', { type: 'boolean', default: false, describe: 'print the result (steps and verify report) as one JSON line on stdout; step commands\' output goes to stderr' })
    .option('verbose', { type: 'boolean', describe: 'log what plugins do; the final verify\'s tree in full' })
    .example('custody pipeline run root.layout --layout-key owner.pub --workdir work --param HUB_URL=file:///… ', '') as any,
  handler: async (argv) => {
    const { resolve, dirname } = await import('node:path');
    const core = await import('@custody/core');
    const engine = await import('@custody/engine');
    const { loadPublicKey, readPassphraseFile } = await import('@custody/sign');
    const { builtinPlugins, DEFAULT_STEP_PLUGINS } = await import('../builtin-plugins.ts');
    const cwd = process.cwd();
    const params = await parseParams(argv.param);
    const { readLayoutFile } = await import('@custody/engine/verify');
    const read = await readLayoutFile(argv.layout);
    if (read.kind !== 'in-toto') throw new core.CustodyError('USAGE', 'pipeline run needs a signed in-toto layout (custody layout sign --format dsse), not an attestation-verifier layout', { file: argv.layout });
    const layout = read.signed;
    const layoutKeyFiles = (argv['layout-key'] ?? []).map(String);
    const layoutKeys = [];
    for (const k of layoutKeyFiles) layoutKeys.push(await loadPublicKey(k));
    const { config, baseDir } = await engine.loadConfig(cwd, argv.config);
    const functionaries: Record<string, string> = {};
    for (const [step, key] of Object.entries(config.functionaries ?? {})) functionaries[step] = resolve(baseDir, key);
    const passphrase = config.passphraseFile ? await readPassphraseFile(resolve(baseDir, config.passphraseFile)) : undefined;
    const linkDir = argv['link-dir'] ? resolve(cwd, argv['link-dir']) : config.outDir ? resolve(baseDir, config.outDir) : resolve(dirname(resolve(argv.layout)), '.custody');
    const verbose = argv.verbose === true;
    const logger = {
      info: (m: string) => { if (verbose) process.stderr.write(`custody: ${m}\n`); },
      debug: (m: string) => { if (verbose) process.stderr.write(`custody: ${m}\n`); },
      warn: (m: string) => { process.stderr.write(`custody: warning: ${m}\n`); },
    };
    const result = await engine.runPipeline({
      layout,
      layoutFile: argv.layout,
      layoutKeys,
      layoutKeyFiles,
      workdir: resolve(cwd, argv.workdir ?? '.'),
      linkDir,
      functionaries,
      passphrase,
      params,
      only: argv.only?.map(String),
      from: argv.from,
      registry: builtinPlugins,
      defaultPlugins: DEFAULT_STEP_PLUGINS,
      configPlugins: config.plugins,
      pluginBaseDir: baseDir,
      exclude: config.exclude,
      format: argv.format ?? config.format ?? 'legacy',
      // stdout carries the JSON result alone
      commandOutput: argv.json ? 'stderr' : 'inherit',
      strictCommand: argv['strict-command'],
      verify: argv.verify === false ? undefined : runVerify,
      onEvent: progressPrinter(process.stderr),
      logger,
      progress: (label: string) => engine.terminalProgress(`custody: ${label}`),
      now: new Date(),
    });
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else if (result.verify?.report) {
      process.stdout.write(core.renderVerificationTree(result.verify.report as import('@custody/core').VerificationReport, `custody verify ${argv.layout}`, { ...streamStyle(process.stdout), verbose }));
    }
    if (result.failedStep) {
      if (argv.json) {
        setExitCode(1);
        return;
      }
      throw new core.CustodyError('STEP_FAILED', `pipeline stopped: ${result.failure}`, { kind: 'verification' });
    }
    if (result.verify) {
      if (!result.verify.report && result.verify.error) process.stderr.write(`custody: final verify: ${result.verify.error.replace(/^custody: /, '')}\n`);
      setExitCode(result.verify.exitCode);
    }
  },
};

export const pipelineCommand: CommandModule<object, object> = {
  command: 'pipeline <command>',
  describe: 'run a layout\'s steps as a pipeline and verify the result',
  builder: (y) => y.command(runCommand).demandCommand(1, 'name a pipeline command: run') as any,
  handler: () => undefined,
};
