/**
 * The inspections' private copy of the verified folder, and how an inspection's command runs in
 * it. Nothing an inspection does may reach outside the copy:
 *
 * - symlinks that stay inside the folder are recreated as relative links inside the copy (an
 *   absolute link into the folder would otherwise point back at the original); links that
 *   point outside are replaced by a copy of what they point to (recording follows symlinks, so
 *   the recorded artifacts are the same), so writing through them changes only the copy;
 *   dangling links that point outside are left out (writing through one would create its target);
 * - FIFOs, sockets and devices are not copied (the reference records none of them; opening a
 *   FIFO to copy it would block forever);
 * - the copy lives in a private temp folder; when `$TMPDIR` is inside the verified folder, that
 *   folder is not copied into itself, and the inspection's own `$TMPDIR` is inside the private
 *   folder, so its temp files go with the copy.
 *
 * The command runs in a process group of its own: the timeout kills the whole group (a
 * background child holding stdout no longer keeps the verification waiting), and once the
 * command exits what is left of its group is killed too.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, chmodSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Copies `src` to `dest` (which must not exist) as described above; `skip` are absolute paths left out. */
export function copyWorkFolder(src: string, dest: string, skip: readonly string[] = []): void {
  const root = realpathSync(src);
  const skipped = new Set(skip.map((p) => resolve(p)));
  const visiting = new Set<string>();

  /** A real folder of the tree (not reached through a link): links are judged against `root`. */
  const walk = (from: string, to: string): void => {
    mkdirSync(to, { mode: statSync(from).mode & 0o777 | 0o700 });
    for (const name of readdirSync(from)) {
      const s = join(from, name);
      const d = join(to, name);
      if (skipped.has(s)) continue;
      let st;
      try {
        st = lstatSync(s);
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory()) walk(s, d);
      else if (st.isFile()) copyFile(s, d, st.mode);
      else if (st.isSymbolicLink()) link(s, d);
      // FIFOs, sockets, devices: not copied
    }
  };

  const link = (s: string, d: string): void => {
    let real: string | undefined;
    try {
      real = realpathSync(s);
    } catch {
      real = undefined; // dangling (or a loop)
    }
    if (real === undefined) {
      const target = resolve(dirname(s), readlinkSync(s));
      if (inside(root, target)) symlinkSync(relative(dirname(s), target), d);
      return;
    }
    if (inside(root, real) && !skipped.has(real)) {
      symlinkSync(relative(dirname(s), real) || '.', d);
      return;
    }
    const st = statSync(real);
    if (st.isFile()) copyFile(real, d, st.mode);
    else if (st.isDirectory()) deref(real, d);
  };

  /** A folder outside the tree reached through a link: its content, links followed. */
  const deref = (from: string, to: string): void => {
    if (visiting.has(from)) return; // a link cycle
    visiting.add(from);
    mkdirSync(to, { mode: 0o700 });
    for (const name of readdirSync(from)) {
      const s = join(from, name);
      let st;
      try {
        st = statSync(s);
      } catch {
        continue; // dangling
      }
      if (st.isDirectory()) deref(realpathSync(s), join(to, name));
      else if (st.isFile()) copyFile(s, join(to, name), st.mode);
    }
    visiting.delete(from);
  };

  const copyFile = (s: string, d: string, mode: number): void => {
    copyFileSync(s, d, fsConstants.COPYFILE_EXCL);
    chmodSync(d, (mode & 0o777) | 0o600);
  };

  walk(root, dest);
}

export interface GroupRunResult {
  /** undefined when it did not start (see `spawnError`) or was killed by a signal. */
  exitCode?: number;
  signal?: NodeJS.Signals;
  timedOut: boolean;
  spawnError?: NodeJS.ErrnoException;
  stdout: string;
  stderr: string;
}

/** How long pipes are read after the command exits (a background child may hold them open). */
const DRAIN_MS = 200;

/**
 * Runs a command in its own process group: stdin closed, output captured; `timeoutMs` kills the
 * group; after the command exits, the rest of its group is killed. `track` receives the group's
 * id (for a signal cleanup) and `undefined` once it is gone.
 */
export function runInGroup(file: string, args: readonly string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; track?: (pgid: number | undefined) => void }): Promise<GroupRunResult> {
  return new Promise((resolveRun) => {
    const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    };
    if (child.pid !== undefined) o.track?.(child.pid);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    const finish = (r: Omit<GroupRunResult, 'stdout' | 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup();
      o.track?.(undefined);
      child.stdout!.destroy();
      child.stderr!.destroy();
      resolveRun({ ...r, timedOut, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish({ spawnError: e }));
    child.on('exit', (code, signal) => {
      // read what is still in the pipes, but do not wait for a background child to close them
      let open = 2;
      const drained = () => {
        if (--open === 0) finish({ exitCode: code ?? undefined, signal: signal ?? undefined });
      };
      const grace = setTimeout(() => finish({ exitCode: code ?? undefined, signal: signal ?? undefined }), DRAIN_MS);
      grace.unref();
      for (const s of [child.stdout!, child.stderr!]) {
        if (s.closed) drained();
        else s.once('close', drained);
      }
    });
  });
}

/** The shell convention for "killed by signal": 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals | undefined): number {
  return 128 + ((signal && (osConstants.signals as Record<string, number>)[signal]) || 0);
}
