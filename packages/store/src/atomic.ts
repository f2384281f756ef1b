/**
 * The one atomic writer: every file custody writes into a user's folder (links, attestations,
 * signed layouts, keys, pulled attestations, the VSA) goes to a temp file beside its target,
 * is flushed, and is renamed over the target. So, at any moment the process may die:
 *
 * - no partial file ever carries a real name (rename is atomic within a folder);
 * - SIGINT/SIGTERM/SIGHUP: the temp file is removed before the process ends (./cleanup.ts);
 * - kill -9: the temp file stays, named `.<target>.<pid>.<random>.custody-tmp` — a dotfile that
 *   no reader takes for an attestation or a link (verify, push, pull, the store listing skip
 *   dotfiles and need an exact attestation name) — and the next write into that folder removes
 *   it once its writer is gone (sweepStaleTempFiles).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { onSignalCleanup } from './cleanup.ts';

const TEMP_SUFFIX = '.custody-tmp';
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.custody-tmp$/;
/** A temp file this old is stale even if a process with its writer's pid is running (pid reuse). */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

/** The temp file name for a target: a dotfile, with the writer's pid to tell stale ones apart. */
export function tempFileNameFor(target: string): string {
  return `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`;
}

/** Is this (base) name a temp file of the atomic writer? */
export function isTempFileName(name: string): boolean {
  return TEMP_NAME.test(name);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

const swept = new Set<string>();

/**
 * Removes temp files a killed writer left in `dir`: those whose writer process is gone (or
 * older than a day). Once per folder and process; never fails (a folder it cannot read holds
 * nothing it could clean). Returns the names removed.
 */
export function sweepStaleTempFiles(dir: string, opts: { force?: boolean; now?: number } = {}): string[] {
  if (swept.has(dir) && !opts.force) return [];
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const now = opts.now ?? Date.now();
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      if (processAlive(Number(m[1])) && now - st.mtimeMs < STALE_AFTER_MS) continue;
      unlinkSync(path);
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

function writeError(path: string, e: unknown): CustodyError {
  if (e instanceof CustodyError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'directory does not exist'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EISDIR' ? 'is a directory'
    : code ?? (e as Error).message;
  return new CustodyError('FILE_UNWRITABLE', `cannot write: ${why}`, { file: path, cause: e });
}

/**
 * Writes data to a temp file next to `path` (created with `mode`), flushes it, then renames it
 * over `path` — readers never see a partial file and a failure leaves nothing behind.
 * `beforeRename` (the sink's) is told when the rename is about to happen: from then on the
 * target may hold the new content even if the process is stopped before the rename returns.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, hooks: { beforeRename?: () => void } = {}): Promise<void> {
  const dir = dirname(path);
  sweepStaleTempFiles(dir);
  const tmp = join(dir, tempFileNameFor(path));
  let created = false;
  // Unconditionally: the open may have created the file on the thread pool before `created`
  // is set in JS (the name is random and ours; ENOENT is fine).
  const unregister = onSignalCleanup(() => {
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or renamed already
    }
  });
  try {
    const fh = await open(tmp, 'wx', mode);
    created = true;
    try {
      await fh.writeFile(data);
      // open() applies the umask; make the mode exact (0600 for private keys).
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    hooks.beforeRename?.();
    await rename(tmp, path);
    created = false;
  } catch (e) {
    if (created) await unlink(tmp).catch(() => undefined);
    created = false;
    throw writeError(path, e);
  } finally {
    unregister();
  }
}

/** One file of an attestation set: its name (from ./names.ts) and contents. */
export interface SinkFile { name: string; data: string | Uint8Array }

/**
 * The sink attestations are written through: a folder, and sets of files that land together
 * or not at all — each file atomically; if one write fails, or a signal stops the process, the
 * files of the set already written are removed again (a half set would be a step with a link
 * but without its evidence). Only kill -9 can leave a half set, and never a partial file.
 */
export class AttestationSink {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Where a name lands (names are file names, never paths). */
  pathOf(name: string): string {
    if (name === '' || name.includes('/') || name.includes('\\') || name.includes('\0') || name === '.' || name === '..') {
      throw new CustodyError('USAGE', `attestation file name ${JSON.stringify(name)} is a path`);
    }
    return join(this.dir, name);
  }

  /** Writes the set in order; returns the paths written. */
  async writeAll(files: readonly SinkFile[]): Promise<string[]> {
    const paths = files.map((f) => this.pathOf(f.name));
    // targets that hold (or are about to hold) this set's content
    const landed: string[] = [];
    const unregister = onSignalCleanup(() => {
      for (const p of landed) {
        try {
          unlinkSync(p);
        } catch {
          // not renamed yet, or gone
        }
      }
    });
    try {
      for (const [i, f] of files.entries()) {
        let renaming = false;
        try {
          await writeFileAtomic(paths[i], f.data, 0o644, { beforeRename: () => { renaming = true; landed.push(paths[i]); } });
        } catch (e) {
          // a failed rename left the old file (if any) in place: not ours to remove
          if (renaming) landed.pop();
          throw e;
        }
      }
    } catch (e) {
      for (const p of landed) await unlink(p).catch(() => undefined);
      throw e;
    } finally {
      unregister();
    }
    return landed;
  }
}
