import type { Argv, CommandModule } from 'yargs';
import { setExitCode } from '../output.ts';
import { keyOptions, outputOptions, prepareStep, reportWritten, type StepArgs } from './run.ts';

interface RecordArgs extends StepArgs {
  materials?: string[];
  products?: string[];
}

const startCommand: CommandModule<object, RecordArgs> = {
  command: 'start',
  describe: 'hash the materials and save a signed preliminary link (.STEP.KEYID.link-unfinished)',
  builder: (y) =>
    keyOptions(y).option('materials', { alias: 'm', type: 'array', string: true, describe: 'paths hashed now' }) as unknown as Argv<RecordArgs>,
  handler: async (argv) => {
    const { CustodyError } = await import('@custody/core');
    const { existsSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const base = resolve(process.cwd(), argv.basePath ?? '.');
    for (const m of argv.materials ?? []) {
      if (!existsSync(resolve(base, m))) throw new CustodyError('FILE_NOT_FOUND', 'material path does not exist', { file: m });
    }
    const prepared = await prepareStep(argv, { plugins: false });
    const { recordStart } = await import('@custody/engine');
    const { basename } = await import('node:path');
    const path = await recordStart({
      stepName: argv.step,
      signer: prepared.signer,
      materials: argv.materials ?? [],
      exclude: prepared.exclude,
      basePath: argv.basePath,
      lstripPaths: argv.lstripPaths,
      progress: prepared.progress,
    });
    process.stderr.write(`custody: started step '${argv.step}': ${basename(path)}\n`);
  },
};

const stopCommand: CommandModule<object, RecordArgs> = {
  command: 'stop',
  describe: 'hash the products and write the final link (plus plugin attestations), in any --format',
  builder: (y) =>
    outputOptions(keyOptions(y)).parserConfiguration({ 'boolean-negation': false }).option('products', { alias: 'p', type: 'array', string: true, describe: 'paths hashed now' }) as unknown as Argv<RecordArgs>,
  handler: async (argv) => {
    const prepared = await prepareStep(argv, { plugins: true });
    const { recordStop } = await import('@custody/engine');
    const result = await recordStop({
      stepName: argv.step,
      signer: prepared.signer,
      products: argv.products ?? [],
      exclude: prepared.exclude,
      basePath: argv.basePath,
      lstripPaths: argv.lstripPaths,
      outDir: prepared.outDir,
      format: prepared.format,
      plugins: prepared.plugins,
      layoutStep: prepared.layoutStep,
      logger: prepared.logger,
      progress: prepared.progress,
    });
    reportWritten(argv.step, result.written);
    setExitCode(result.exitCode);
  },
};

export const recordCommand: CommandModule = {
  command: 'record',
  describe: 'record a step that is observed rather than wrapped (start … do the work … stop)',
  builder: (y) => y.command(startCommand).command(stopCommand).demandCommand(1, 'record start or record stop'),
  handler: () => {},
};
