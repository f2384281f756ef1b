import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CUSTODY_BIN = fileURLToPath(new URL('../../packages/cli/bin/custody.mjs', import.meta.url));
/** Debian's python with the in-toto 1.3.1 package (pyenv's python3 on PATH does not have it). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a command and collects its output; never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A child that exits without reading stdin must not crash the test with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the built `custody` CLI (scripts/build.mjs must have run; `pnpm test` does). */
export function custody(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return runCommand(process.execPath, [CUSTODY_BIN, ...args], opts);
}
