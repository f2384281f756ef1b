/**
 * Cleanup that must run when the process is stopped by a signal (SIGINT, SIGTERM, SIGHUP): temp
 * files of the atomic writer, the inspections' private copy of the verified folder (it holds
 * whatever that folder holds, private keys included). Node runs no `finally` and no 'exit'
 * work for a signal it has no listener for, so this module listens while something is
 * registered, runs every cleanup synchronously, then ends the process as the signal would have.
 *
 * kill -9 cannot be caught: what it leaves behind is named so that readers skip it and the next
 * writer removes it (see ./atomic.ts, sweepStaleTempFiles).
 */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const EXIT_CODES: Record<(typeof SIGNALS)[number], number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

const cleanups = new Set<() => void>();
let listening = false;
const hooks: [NodeJS.Signals, () => void][] = [];

function runCleanups(): void {
  for (const c of [...cleanups]) {
    try {
      c();
    } catch {
      // best effort: one failed cleanup must not keep the others from running
    }
  }
  cleanups.clear();
}

function onSignal(signal: (typeof SIGNALS)[number]): void {
  runCleanups();
  stopListening();
  // Die of the signal when nothing else listens (the parent sees "killed by SIGTERM");
  // otherwise leave with the shell's code for it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  else process.exit(EXIT_CODES[signal]);
}

function startListening(): void {
  if (listening) return;
  listening = true;
  for (const s of SIGNALS) {
    const h = () => onSignal(s);
    hooks.push([s, h]);
    process.on(s, h);
  }
}

function stopListening(): void {
  if (!listening) return;
  listening = false;
  for (const [s, h] of hooks.splice(0)) process.removeListener(s, h);
}

/**
 * Registers a synchronous cleanup to run if a signal stops the process; returns the function
 * that unregisters it (call it once the resource is gone). While nothing is registered, the
 * process keeps Node's default signal behaviour.
 */
export function onSignalCleanup(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  startListening();
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) stopListening();
  };
}
