/**
 * sha256 of many files, fast and in constant memory.
 *
 * SHA-256 of one file is inherently sequential, so parallelism is across files: a small
 * pool of worker threads pulls jobs biggest-first (the largest file starts immediately and
 * the small ones fill the other worker). Each worker reads with one reused buffer through
 * synchronous reads (no thread-pool hop, no per-chunk allocation), so memory stays at
 * workers × chunk size whatever the tree size. Small trees are hashed on the calling thread
 * because starting a worker costs more than hashing a few megabytes.
 */
import { Worker } from 'node:worker_threads';
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CustodyError } from '@custody/core';

export interface FileToHash { path: string; size: number }

export interface HashOptions {
  /** Worker threads to use (default: min(available cores, 4)). */
  workers?: number;
  /** Called with cumulative hashed bytes; at most every `progressBytes`. */
  onProgress?: (hashedBytes: number) => void;
  /** Hash on the calling thread alone below this many bytes in total (default 48 MiB). */
  inlineBelowBytes?: number;
}

const CHUNK = 1 << 20;
/** Below this many bytes in total, workers are not worth their start-up time. */
const INLINE_LIMIT = 48 << 20;
/** Small files are sent to workers in batches up to this many bytes/files. */
const BATCH_BYTES = 16 << 20;
const BATCH_FILES = 256;
const PROGRESS_STEP = 64 << 20;

// The worker's source, loaded as an ESM data: URL so that it works unchanged from the
// TypeScript sources (tsx) and from the esbuild bundle (no separate worker file to ship).
const WORKER_SOURCE = `
import { parentPort } from 'node:worker_threads';
import { openSync, readSync, closeSync } from 'node:fs';
import { createHash } from 'node:crypto';
const buf = Buffer.allocUnsafe(${CHUNK});
parentPort.on('message', (job) => {
  const results = [];
  let sinceReport = 0;
  for (const path of job.paths) {
    let fd;
    try {
      fd = openSync(path, 'r');
      const h = createHash('sha256');
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(n === buf.length ? buf : buf.subarray(0, n));
        sinceReport += n;
        if (sinceReport >= ${PROGRESS_STEP}) { parentPort.postMessage({ progress: sinceReport }); sinceReport = 0; }
      }
      results.push({ hex: h.digest('hex') });
    } catch (e) {
      results.push({ error: { code: e.code, message: e.message } });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  parentPort.postMessage({ id: job.id, results, progress: sinceReport });
});
`;

function hashFileSync(path: string, buf: Buffer): string {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('sha256');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

function unreadable(path: string, err: { code?: string; message?: string }): CustodyError {
  const reason = err.code === 'EACCES' ? 'permission denied' : err.code === 'ENOENT' ? 'vanished while hashing' : err.message ?? String(err);
  return new CustodyError('FILE_UNREADABLE', `cannot read artifact: ${reason}`, { file: path });
}

/** Returns the sha256 hex digest of each file, in the order given. */
export async function hashFiles(files: readonly FileToHash[], opts: HashOptions = {}): Promise<string[]> {
  const total = files.reduce((s, f) => s + f.size, 0);
  const maxWorkers = opts.workers ?? Math.min(availableParallelism(), 4);
  if (files.length <= 1 || total < (opts.inlineBelowBytes ?? INLINE_LIMIT) || maxWorkers < 2) {
    const buf = Buffer.allocUnsafe(CHUNK);
    let done = 0;
    return files.map((f) => {
      let hex: string;
      try {
        hex = hashFileSync(f.path, buf);
      } catch (e) {
        throw unreadable(f.path, e as NodeJS.ErrnoException);
      }
      done += f.size;
      opts.onProgress?.(done);
      return hex;
    });
  }

  // Jobs biggest first; small files batched so a tree of many tiny files is not
  // dominated by messaging.
  const order = files.map((_, i) => i).sort((a, b) => files[b].size - files[a].size);
  const jobs: number[][] = [];
  let batch: number[] = [];
  let batchBytes = 0;
  for (const i of order) {
    if (files[i].size >= BATCH_BYTES) {
      jobs.push([i]);
      continue;
    }
    batch.push(i);
    batchBytes += files[i].size;
    if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_FILES) {
      jobs.push(batch);
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length) jobs.push(batch);

  const digests = new Array<string>(files.length);
  // The calling thread hashes too (it would only wait otherwise): cores - 1 workers.
  const workerCount = Math.min(maxWorkers - 1, jobs.length - 1);
  const workerUrl = new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`);
  const workers: Worker[] = [];
  const mainBuf = Buffer.allocUnsafe(CHUNK);
  let hashed = 0;
  let next = 0;
  let finishedJobs = 0;
  const report = (bytes: number): void => {
    hashed += bytes;
    opts.onProgress?.(hashed);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown): void => {
        if (!failed) {
          failed = true;
          reject(err);
        }
      };
      const jobDone = (): void => {
        finishedJobs++;
        if (finishedJobs === jobs.length && !failed) resolve();
      };
      const dispatch = (w: Worker): void => {
        if (failed || next >= jobs.length) return;
        const id = next++;
        w.postMessage({ id, paths: jobs[id].map((i) => files[i].path) });
      };
      for (let k = 0; k < workerCount; k++) {
        // execArgv [] keeps loaders such as tsx out of the worker: it only needs node built-ins.
        const w = new Worker(workerUrl, { execArgv: [] });
        workers.push(w);
        w.on('error', fail);
        w.on('message', (msg: { id?: number; results?: { hex?: string; error?: { code?: string; message?: string } }[]; progress?: number }) => {
          if (msg.progress) report(msg.progress);
          if (msg.id === undefined || !msg.results) return;
          const job = jobs[msg.id];
          for (let r = 0; r < job.length; r++) {
            const result = msg.results[r];
            if (result.error) return fail(unreadable(files[job[r]].path, result.error));
            digests[job[r]] = result.hex!;
          }
          dispatch(w);
          jobDone();
        });
        dispatch(w); // workers take the biggest jobs first
      }
      // One job at a time on this thread, yielding in between so worker messages are handled.
      const mainLoop = (): void => {
        if (failed || next >= jobs.length) return;
        const job = jobs[next++];
        for (const i of job) {
          try {
            digests[i] = hashFileSync(files[i].path, mainBuf);
          } catch (e) {
            return fail(unreadable(files[i].path, e as NodeJS.ErrnoException));
          }
          report(files[i].size);
        }
        jobDone();
        setImmediate(mainLoop);
      };
      setImmediate(mainLoop);
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return digests;
}
