/**
 * A command's whole process tree, for stopping it: a shell's `sleep` or a training script's
 * workers survive a signal sent to the shell alone. On Linux the tree comes from every
 * process's parent in /proc/<pid>/stat (as pstree reads it; the per-task `children` files miss
 * traced processes); elsewhere only the process itself is known.
 */
import { readdirSync, readFileSync } from 'node:fs';

function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return children;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses: split after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid);
      if (list) list.push(Number(e));
      else children.set(ppid, [Number(e)]);
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

/** `pid` and every process below it, parents first. */
export function processTree(pid: number): number[] {
  const children = parentMap();
  const seen = new Set<number>();
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    queue.push(...(children.get(p) ?? []));
  }
  return [...seen];
}

/** Sends `signal` to the whole tree (synchronously; safe in a signal handler). */
export function killProcessTree(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  // collect first: a parent that dies first would hand its children to init
  for (const p of processTree(pid)) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}
