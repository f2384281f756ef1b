// File hashing for model repositories: whole-file sha256 streamed, and for large files
// per-shard sha256 digests ("path:start:end", as OpenSSF model_signing names them) computed in
// parallel on worker threads.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Default shard size: 1 GB, the model_signing default. */
export const DEFAULT_SHARD_SIZE = 1_000_000_000;

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Streams a file (or a byte range [start, end)) through sha256. */
export function sha256File(path: string, range?: { start: number; end: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    if (range && range.end === range.start) {
      resolve(h.digest('hex'));
      return;
    }
    const s = createReadStream(path, range ? { start: range.start, end: range.end - 1 } : undefined);
    s.on('data', (c) => h.update(c));
    s.on('error', reject);
    s.on('end', () => resolve(h.digest('hex')));
  });
}

/** Shard boundaries as model_signing computes them: [0,s), [s,2s), ..., last one ends at size. */
export function shardRanges(size: number, shardSize: number): { start: number; end: number }[] {
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0) throw new RangeError(`shard size must be a positive integer, got ${shardSize}`);
  const out: { start: number; end: number }[] = [];
  if (size === 0) return out;
  let start = 0;
  for (let end = shardSize; end < size; end += shardSize) {
    out.push({ start, end });
    start = end;
  }
  out.push({ start, end: size });
  return out;
}

// Plain JavaScript so it runs the same under tsx and inside the esbuild bundle.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', (task) => {
  let fd;
  try {
    fd = fs.openSync(task.path, 'r');
    const h = crypto.createHash('sha256');
    let pos = task.start;
    while (pos < task.end) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, task.end - pos), pos);
      if (n === 0) throw new Error('file is shorter than expected (changed while hashing?)');
      h.update(buf.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ id: task.id, digest: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id: task.id, error: String((e && e.message) || e) });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

interface Task { id: number; path: string; start: number; end: number; resolve: (d: string) => void; reject: (e: Error) => void }

/** A small pool of hashing worker threads; `close()` when done. */
export class ShardHasher {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Task[] = [];
  private readonly running = new Map<Worker, Task>();
  private nextId = 0;

  constructor(readonly concurrency = Math.max(1, Math.min(4, availableParallelism()))) {}

  hash(path: string, start: number, end: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, start, end, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: { id: number; digest?: string; error?: string }) => {
      const task = this.running.get(w);
      this.running.delete(w);
      this.idle.push(w);
      if (task) {
        if (m.error !== undefined) task.reject(new Error(`${task.path}: ${m.error}`));
        else task.resolve(m.digest!);
      }
      this.pump();
    });
    w.on('error', (e) => {
      const task = this.running.get(w);
      this.running.delete(w);
      task?.reject(e);
    });
    this.workers.push(w);
    return w;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w) {
        if (this.workers.length >= this.concurrency) return;
        w = this.spawn();
      }
      const task = this.queue.shift()!;
      this.running.set(w, task);
      w.postMessage({ id: task.id, path: task.path, start: task.start, end: task.end });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}

export interface ShardDigest { name: string; start: number; end: number; sha256: string }

/** Per-shard digests of one file, hashed in parallel by `hasher`. */
export async function hashShards(hasher: ShardHasher, absPath: string, relPath: string, size: number, shardSize: number): Promise<ShardDigest[]> {
  return Promise.all(
    shardRanges(size, shardSize).map(async ({ start, end }) => ({
      name: `${relPath}:${start}:${end}`,
      start,
      end,
      sha256: await hasher.hash(absPath, start, end),
    })),
  );
}

/** Runs `fn` over items with at most `limit` in flight, keeping result order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, run));
  return out;
}
