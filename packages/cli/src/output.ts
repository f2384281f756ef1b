import { isCustodyError } from '@custody/core/errors';

/**
 * One clear line on stderr for every failure; a stack trace only with --debug.
 * Returns the exit code: the error's own (1 verification, 2 input), 2 for anything unexpected.
 */
export function reportError(err: unknown, debug: boolean): number {
  if (isCustodyError(err)) {
    const where = err.file ? `${err.file}: ` : '';
    process.stderr.write(`custody: ${where}${oneLine(err.message)}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`custody: ${oneLine(message)}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 2;
}

/** Set the exit code a command handler wants without throwing. */
export function setExitCode(code: number): void {
  if (code > (typeof process.exitCode === 'number' ? process.exitCode : 0)) process.exitCode = code;
}

/** Parser messages can span lines; the contract is one line per failure. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
