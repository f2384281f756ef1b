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

/** How a stream wants its output: ANSI colours, Unicode marks. */
export interface StreamStyle {
  color: boolean;
  symbols: boolean;
}

/**
 * Colours on a terminal only, as https://no-color.org and FORCE_COLOR (as Node and chalk read
 * it) ask: FORCE_COLOR=0|false turns colours off, any other value on, even into a pipe;
 * otherwise a non-empty NO_COLOR turns them off. Unicode marks follow the terminal (or a
 * forced colour), never NO_COLOR: that variable is about colour only.
 */
export function streamStyle(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): StreamStyle {
  const tty = stream.isTTY === true && env.TERM !== 'dumb';
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') {
    const on = force !== '0' && force.toLowerCase() !== 'false';
    return { color: on, symbols: on || tty };
  }
  return { color: tty && !(env.NO_COLOR !== undefined && env.NO_COLOR !== ''), symbols: tty };
}

let pipeGuardInstalled = false;

/**
 * A reader that stops early (`custody plugins list | head -1`) closes the pipe: exit quietly
 * with 0 instead of dying with an EPIPE stack trace. The reader got what it asked for.
 */
export function exitQuietlyOnClosedPipe(): void {
  if (pipeGuardInstalled) return;
  pipeGuardInstalled = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        // exit without flushing into the closed pipe again
        process.exitCode = 0;
        process.exit(0);
      }
      throw err;
    });
  }
}
