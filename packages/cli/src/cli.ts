import yargs from 'yargs';
import type { Argv } from 'yargs';
import { VERSION } from './version.ts';
import { commands } from './commands/index.ts';
import { reportError } from './output.ts';
import { CustodyError } from '@custody/core/errors';

/** Parses argv, runs one command, and returns the process exit code (0 pass, 1 fail, 2 input). */
export async function runCli(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  let exitCode = 0;
  let parser: Argv = yargs(argv)
    .scriptName('custody')
    .usage('$0 <command> [options]\n\nProves where an ML model came from: in-toto layouts, signed evidence, one verify.')
    .version(VERSION)
    .option('debug', { type: 'boolean', describe: 'print stack traces on errors' })
    .strict()
    .demandCommand(1, 'name a command (see custody --help)')
    .recommendCommands()
    .help()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      // Throwing stops yargs before a command handler runs with a missing required option.
      throw new CustodyError('USAGE', msg);
    });
  for (const command of commands) parser = parser.command(command);
  try {
    const result = await parser.parseAsync();
    const code = (result as { __exitCode?: number }).__exitCode;
    if (typeof code === 'number') exitCode = code;
    if (typeof process.exitCode === 'number' && process.exitCode !== 0) exitCode = process.exitCode;
  } catch (err) {
    return reportError(err, debug);
  }
  return exitCode;
}
