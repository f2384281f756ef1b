import { constants } from 'node:os';
import { CustodyError } from '@custody/core';
import { onSignalCleanup } from '@custody/store/cleanup';
import { killProcessTree } from '../process-tree.ts';
import type { StepHooks } from '../types.ts';
import type { StepState } from '../lifecycle.ts';

/**
 * Built-in: runs the command in `execute` (no shell), output shown live and captured.
 * Byproducts follow the reference: stdout/stderr only with recordStreams (else ""), the
 * return value always; no command at all (--no-command, or an observed step) → {}.
 */
export function commandPlugin(hooks: StepHooks, state: StepState): void {
  hooks.execute.tapPromise({ name: 'custody:command' }, async (ctx) => {
    if (ctx.command.length === 0) {
      state.byproducts = {};
      return;
    }
    const { execa } = await import('execa');
    // a tracer's wrapper runs the command under itself: still one run of the command
    const [file, ...args] = state.commandWrapper ? state.commandWrapper.argv(ctx.command) : ctx.command;
    const startedAt = new Date();
    const shown = state.options.commandOutput ?? 'inherit';
    // Stopped by a signal (CI cancelling the job, kill PID): the command's whole tree goes too,
    // not only its first process (execa's own cleanup signals that one alone). Listening starts
    // before the spawn, so no signal finds the process without a listener (and dies at once).
    let pid: number | undefined;
    const unregister = onSignalCleanup(() => {
      if (pid !== undefined) killProcessTree(pid, 'SIGTERM');
    });
    let subprocess;
    try {
      subprocess = execa(file, args, {
        cwd: state.workdir,
        reject: false,
        stdin: 'inherit',
        // Captured always (command-run digests them), shown live as the user expects; fd 2
        // when stdout carries custody's own machine-readable output.
        stdout: shown === 'capture' ? 'pipe' : shown === 'stderr' ? ['pipe', 2] : ['pipe', 'inherit'],
        stderr: shown === 'capture' ? 'pipe' : ['pipe', 'inherit'],
        stripFinalNewline: false,
        cancelSignal: ctx.signal,
        buffer: true,
      });
    } catch (e) {
      unregister();
      throw e;
    }
    pid = subprocess.pid;
    let result: Awaited<typeof subprocess>;
    try {
      result = await subprocess;
    } finally {
      unregister();
    }
    const finishedAt = new Date();
    if (result.exitCode === undefined && !result.signal) {
      const code = (result as { code?: string }).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') {
        throw new CustodyError('COMMAND_NOT_FOUND', code === 'EACCES' ? 'command is not executable' : 'command not found', { file });
      }
      throw new CustodyError('COMMAND_NOT_FOUND', `cannot run command: ${(result as { shortMessage?: string }).shortMessage ?? code}`, { file });
    }
    // Killed by a signal: the shell convention 128 + signal number.
    const exitCode = result.exitCode ?? 128 + ((constants.signals as Record<string, number>)[result.signal ?? ''] ?? 0);
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');
    ctx.execution = { exitCode, stdout, stderr, startedAt, finishedAt };
    const record = state.options.recordStreams === true;
    state.byproducts = { stdout: record ? stdout : '', stderr: record ? stderr : '', 'return-value': exitCode };
  });
}
