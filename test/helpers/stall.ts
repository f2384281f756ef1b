// Stops a process at a chosen point of its writes, so a test can kill it exactly there: under
// strace every rename(2) is held for `delayMs` (syscall-enter delay injection), which leaves the
// writer's temp file on disk, complete, for that long — a test waits for the temp file it
// cares about to appear and then sends its signal (SIGTERM, or SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Stalled {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit of strace (which ends when its tracee does). */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

export function spawnStalledAtRenames(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; delayMs?: number } = {}): Stalled {
  const us = (opts.delayMs ?? 3000) * 1000;
  const child = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=rename,renameat,renameat2', '-e', `inject=rename,renameat,renameat2:delay_enter=${us}`, cmd, ...args], {
    cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const TEMP = /^\..+\.(\d+)\.[0-9a-f]{8}\.custody-tmp$/;

/** Waits until a temp file whose name passes `match` is in `dir`; returns its name and the writer's pid. */
export async function waitForTempFile(dir: string, match: (name: string) => boolean, timeoutMs = 30_000): Promise<{ name: string; pid: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // not created yet
    }
    const hit = names.find((n) => TEMP.test(n) && match(n));
    if (hit) return { name: hit, pid: Number(TEMP.exec(hit)![1]) };
    if (Date.now() > deadline) throw new Error(`no temp file appeared in ${dir} (has: ${names.join(', ')})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Is a process with this pid still running? (A zombie waiting for its reaper is not.) */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
