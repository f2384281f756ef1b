/**
 * The I/O edge of `custody verify`: link files from a folder, and inspections run the way
 * in-toto's `run_all_inspections` runs them — record `.` (default excludes), run the command,
 * record `.` again — but in a private copy of the working folder, with a timeout, so the
 * verifier's folder is left untouched. Inspections of one verification share that copy and
 * run in layout order, as they share the working folder in the reference.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onSignalCleanup } from '@custody/store/cleanup';
import { copyWorkFolder, runInGroup, signalExitCode } from './workcopy.ts';
import { CustodyError } from '@custody/core';
import type { InspectionBody, InspectionResult, InspectionRunner, LinkSource } from '@custody/core';
import { recordArtifacts } from '../hashing/artifacts.ts';

/**
 * Link files relative to `dir`; a missing file (or a folder in its place) reads as undefined.
 * `display` names the folder in errors (default: `dir`).
 */
export async function directoryLinkSource(dir: string, display = dir): Promise<LinkSource> {
  const root = resolve(dir);
  let st;
  try {
    st = await stat(root);
  } catch {
    throw new CustodyError('FILE_NOT_FOUND', 'link directory does not exist', { file: display });
  }
  if (!st.isDirectory()) throw new CustodyError('FILE_NOT_FOUND', 'link directory is not a directory', { file: display });
  return {
    async read(relPath: string): Promise<string | undefined> {
      try {
        return await readFile(join(root, relPath), 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // The reference skips any IOError when it looks for a link file.
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'EACCES') return undefined;
        throw new CustodyError('FILE_UNREADABLE', `cannot read: ${code ?? (e as Error).message}`, { file: join(display, relPath), cause: e });
      }
    },
  };
}

export interface InspectionRunnerOptions {
  /** The folder inspections see (copied once, lazily). Default: process.cwd(). */
  workdir?: string;
  /** Per inspection; default 300 s. */
  timeoutMs?: number;
}

export interface DisposableInspectionRunner {
  run: InspectionRunner;
  /** The copy inspections ran in, once one has run. */
  readonly copyDir: string | undefined;
  /** Removes the copy. */
  dispose(): Promise<void>;
}

export function createInspectionRunner(opts: InspectionRunnerOptions = {}): DisposableInspectionRunner {
  const workdir = resolve(opts.workdir ?? process.cwd());
  const timeout = opts.timeoutMs ?? 300_000;
  let tmp: string | undefined;
  let copy: string | undefined;
  let group: number | undefined;
  // SIGINT/SIGTERM while verifying: the inspection's group is killed and the copy removed (it
  // holds whatever the folder holds, private keys included).
  let unregister: (() => void) | undefined;
  const ensureCopy = async (): Promise<string> => {
    if (copy) return copy;
    tmp = await mkdtemp(join(tmpdir(), 'custody-inspect-'));
    const made = tmp;
    unregister = onSignalCleanup(() => {
      if (group !== undefined) {
        try {
          process.kill(-group, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(made, { recursive: true, force: true });
    });
    const dest = join(tmp, 'work');
    // $TMPDIR may be inside the folder: the private folder is then not copied into itself
    copyWorkFolder(workdir, dest, [tmp]);
    mkdirSync(join(tmp, 'tmp'), { mode: 0o700 });
    copy = dest;
    return dest;
  };
  const run: InspectionRunner = async (inspection: InspectionBody): Promise<InspectionResult> => {
    const cwd = await ensureCopy();
    const materials = await recordArtifacts(['.'], { basePath: cwd });
    let exitCode: number;
    let stdout = '';
    let stderr = '';
    if (inspection.run.length === 0) {
      // The reference runs no command for an empty `run` and records return value None,
      // which is not a zero exit: the inspection fails.
      exitCode = -1;
      stderr = 'inspection has no command';
    } else {
      const tmpDir = join(tmp!, 'tmp');
      const r = await runInGroup(inspection.run[0], inspection.run.slice(1), {
        cwd, timeoutMs: timeout, env: { ...process.env, TMPDIR: tmpDir, TMP: tmpDir, TEMP: tmpDir }, track: (g) => { group = g; },
      });
      stdout = r.stdout;
      stderr = r.stderr;
      if (r.timedOut) {
        exitCode = 124;
        stderr += `\ncustody: inspection ${inspection.name} timed out after ${timeout / 1000} s`;
      } else if (r.spawnError) {
        // Not started (command not found, not executable).
        exitCode = r.spawnError.code === 'ENOENT' ? 127 : 126;
        stderr += `\ncustody: inspection ${inspection.name}: cannot run ${inspection.run[0]}: ${r.spawnError.code ?? r.spawnError.message}`;
      } else if (r.exitCode === undefined) {
        exitCode = signalExitCode(r.signal);
        stderr += `\ncustody: inspection ${inspection.name} was killed by ${r.signal}`;
      } else {
        exitCode = r.exitCode;
      }
    }
    const products = await recordArtifacts(['.'], { basePath: cwd });
    return { exitCode, materials, products, stdout, stderr };
  };
  return {
    run,
    get copyDir() { return copy; },
    async dispose() {
      unregister?.();
      unregister = undefined;
      if (tmp) await rm(tmp, { recursive: true, force: true });
    },
  };
}
