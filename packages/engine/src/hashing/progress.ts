/**
 * A one-line progress bar for long hashing runs, drawn on stderr only when stderr is a
 * terminal and the run has already taken a while (short runs and pipes/CI logs stay silent).
 */
export interface ProgressSink {
  start(totalBytes: number, files: number): void;
  update(doneBytes: number): void;
  finish(): void;
}

/** `1m05s`, `42s`: the time left, as a person reads it. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(r).padStart(2, '0')}s`;
}

/**
 * The bar shows bytes, files, the rate so far and the time left at that rate. `clock` is for
 * tests (milliseconds, as Date.now).
 */
export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr, delayMs = 1000, clock: () => number = Date.now): ProgressSink | undefined {
  if (!stream.isTTY) return undefined;
  let total = 0;
  let files = 0;
  let started = 0;
  let drawn = false;
  let lastDraw = 0;
  const draw = (done: number): void => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 70));
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * width);
    const mib = (n: number): string => (n / 1048576).toFixed(0);
    const elapsed = (clock() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const speed = rate > 0 ? `, ${(rate / 1048576).toFixed(1)} MiB/s, ETA ${formatEta((total - done) / rate)}` : '';
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(done)}/${mib(total)} MiB, ${files} files${speed}\x1b[K`);
    drawn = true;
  };
  return {
    start(t, f) {
      total = t;
      files = f;
      started = clock();
    },
    update(done) {
      const now = clock();
      if (now - started < delayMs || now - lastDraw < 100) return;
      lastDraw = now;
      draw(done);
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
