/**
 * A one-line progress bar for long hashing runs, drawn on stderr only when stderr is a
 * terminal and the run has already taken a while (short runs and pipes/CI logs stay silent).
 */
export interface ProgressSink {
  start(totalBytes: number, files: number): void;
  update(doneBytes: number): void;
  finish(): void;
}

export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr, delayMs = 1000): ProgressSink | undefined {
  if (!stream.isTTY) return undefined;
  let total = 0;
  let files = 0;
  let started = 0;
  let drawn = false;
  let lastDraw = 0;
  const draw = (done: number): void => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 50));
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * width);
    const mib = (n: number): string => (n / 1048576).toFixed(0);
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(done)}/${mib(total)} MiB, ${files} files`);
    drawn = true;
  };
  return {
    start(t, f) {
      total = t;
      files = f;
      started = Date.now();
    },
    update(done) {
      const now = Date.now();
      if (now - started < delayMs || now - lastDraw < 100) return;
      lastDraw = now;
      draw(done);
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
