/**
 * trace: runs the step's command under strace and attests what it really touched — processes,
 * file accesses with their mode, network connect/bind and DNS questions — as one runtime-trace
 * Statement whose subject is the step's link. The engine still runs the command once: this
 * plugin only wraps it (`ctx.wrapCommand`), then reads strace's log from a private temp folder.
 * Fail closed: a tracer error, an incomplete trace or a command killed by a signal fail the step.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, rmSync, statSync } from 'node:fs';
import { constants as osConstants, hostname, tmpdir } from 'node:os';
import { delimiter, join, posix, resolve } from 'node:path';
import { CustodyError, isCredentialPath, tracePathMatches } from '@custody/core';
import { definePlugin, type StepContext } from '@custody/engine';
import schema from '../schemas/runtime-trace.schema.json' with { type: 'json' };
import { parseStraceLog, type TraceLog } from './parse.ts';
import { PSEUDO_PREFIXES, RUNTIME_TRACE_PREDICATE_TYPE, SUMMARIZED_PREFIXES, summarizeTrace, type FileFacts } from './summarize.ts';

export { RUNTIME_TRACE_PREDICATE_TYPE, STRACE_MONITOR_TYPE, summarizeTrace, SUMMARIZED_PREFIXES } from './summarize.ts';
export { parseStraceLog } from './parse.ts';
export type { TraceLog } from './parse.ts';

/** The syscalls traced (filtered in the kernel with --seccomp-bpf): everything the predicate reports. */
export const TRACED_SYSCALLS = [
  'execve', 'execveat', 'fork', 'vfork', 'clone', 'clone3', 'chdir', 'fchdir',
  'open', 'openat', 'openat2', 'creat', 'truncate', 'ftruncate', 'unlink', 'unlinkat', 'rmdir',
  'rename', 'renameat', 'renameat2', 'chmod', 'fchmod', 'fchmodat', 'mmap',
  'connect', 'bind', 'sendto', 'sendmsg', 'sendmmsg',
];

/** Long enough that strace never cuts a path or an argv element (its default is 32). */
const STRING_LIMIT = 65536;

function findOnPath(name: string): string | undefined {
  if (name.includes('/')) {
    try {
      return statSync(resolve(name)).isFile() ? resolve(name) : undefined;
    } catch {
      return undefined;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

interface Tracer { path: string; version: string; seccompBpf: boolean }

const tracers = new Map<string, Tracer>();
/** strace's path, version and whether it filters in the kernel here (checked once per process). */
export function detectStrace(option?: string): Tracer {
  const path = findOnPath(option ?? 'strace');
  if (!path) throw new Error(`tracer error: strace not found${option ? ` at ${option}` : ' on PATH'} (Debian package strace)`);
  const known = tracers.get(path);
  if (known) return known;
  let version: string;
  try {
    const out = execFileSync(path, ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    version = /version\s+(\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch (e) {
    throw new Error(`tracer error: ${path} -V failed: ${(e as Error).message.split('\n')[0]}`);
  }
  let seccompBpf = false;
  try {
    execFileSync(path, ['-f', '--seccomp-bpf', '-e', 'trace=execve', '-o', '/dev/null', '--', process.execPath, '-e', '0'], { stdio: 'ignore', timeout: 10_000 });
    seccompBpf = true;
  } catch {
    // older strace or no seccomp: ptrace stops on every syscall (slower, same trace)
  }
  const t = { path, version, seccompBpf };
  tracers.set(path, t);
  return t;
}

/** sha256 of a regular file, read in chunks; undefined when it is absent or not a regular file. */
function fileSha256(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The command must exist before it runs under strace: strace would only say so on stderr.
 * Same error as an untraced `custody run` (COMMAND_NOT_FOUND).
 */
function checkCommand(file: string): void {
  const path = findOnPath(file);
  let ok = false;
  try {
    ok = path !== undefined && statSync(path).isFile();
    if (ok) accessSync(path!, fsConstants.X_OK);
  } catch {
    throw new CustodyError('COMMAND_NOT_FOUND', 'command is not executable', { file });
  }
  if (!ok) throw new CustodyError('COMMAND_NOT_FOUND', 'command not found', { file });
}

function stringList(v: unknown, name: string): string[] {
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === 'string')) throw new CustodyError('CONFIG_INVALID', `trace option ${name} must be a list of strings`);
  return list as string[];
}

interface RunState {
  dir: string;
  logPath: string;
  tracer: Tracer;
  argv: string[];
  log?: TraceLog;
}

function signalOf(log: TraceLog): string | undefined {
  const root = log.rootPid !== undefined ? log.processes.get(log.rootPid) : undefined;
  return root?.exit && 'signal' in root.exit ? root.exit.signal : undefined;
}

export default definePlugin({
  name: 'trace',
  apiVersion: 1,
  description: 'Runs the command under strace: processes, file accesses with their mode, network (runtime-trace)',
  predicateTypes: [RUNTIME_TRACE_PREDICATE_TYPE],
  schemas: { [RUNTIME_TRACE_PREDICATE_TYPE]: schema },
  cliOptions: {
    strace: { type: 'string', describe: 'the strace binary (default: strace on PATH)' },
    ignore: { type: 'array', describe: 'path prefixes left out of the trace (listed in the attested policy)' },
    summarize: { type: 'array', describe: 'folders (patterns ending in /, * within a segment) whose accesses are counted, not listed, in any mode' },
  },
  apply(hooks) {
    let run: RunState | undefined;
    // after materials are hashed (their digests are the "before" digests), before the command runs
    hooks.material.tapPromise('trace', async (ctx) => {
      if (ctx.command.length === 0) {
        ctx.logger.warn('no command: nothing to trace');
        return;
      }
      checkCommand(ctx.command[0]);
      const tracer = detectStrace(typeof ctx.options.strace === 'string' ? ctx.options.strace : undefined);
      const dir = mkdtempSync(join(tmpdir(), 'custody-trace-'));
      const logPath = join(dir, 'strace.log');
      const argv = [
        '-f', ...(tracer.seccompBpf ? ['--seccomp-bpf'] : []), '-ttt', '-yy', '-X', 'raw', '-s', String(STRING_LIMIT),
        '-e', `trace=${TRACED_SYSCALLS.join(',')}`, '-e', 'signal=none', '-o', logPath,
      ];
      run = { dir, logPath, tracer, argv };
      ctx.wrapCommand({ by: 'trace', argv: (command) => [tracer.path, ...argv, '--', ...command] });
    });
    hooks.execute.tapPromise('trace', async (ctx) => {
      if (!run) return;
      const r = run;
      let text: string;
      try {
        text = readFileSync(r.logPath, 'utf8');
      } catch (e) {
        rmSync(r.dir, { recursive: true, force: true });
        throw new Error(`tracer error: strace wrote no trace (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); its stderr: ${lastLine(ctx.execution?.stderr)}`);
      }
      rmSync(r.dir, { recursive: true, force: true });
      const log = parseStraceLog(text, realWorkdir(ctx));
      if (log.rootExecError) {
        throw new CustodyError('COMMAND_NOT_FOUND', log.rootExecError === 'EACCES' ? 'command is not executable' : 'command not found', { file: ctx.command[0] });
      }
      const root0 = log.rootPid !== undefined ? log.processes.get(log.rootPid) : undefined;
      const exitCode = ctx.execution?.exitCode ?? 0;
      if (!root0?.exit && exitCode > 128) {
        // strace re-raises the signal that killed the command on itself, before its log is flushed
        const name = Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128)?.[0] ?? `signal ${exitCode - 128}`;
        throw new Error(`the traced command was killed by ${name}`);
      }
      if (log.problems.length > 0) {
        throw new Error(`tracer error: the trace is incomplete: ${log.problems.slice(0, 3).join('; ')}${log.problems.length > 3 ? ` (and ${log.problems.length - 3} more)` : ''}`);
      }
      const signal = signalOf(log);
      if (signal) throw new Error(`the traced command was killed by ${signal}`);
      const root = log.processes.get(log.rootPid!)!;
      const code = root.exit && 'code' in root.exit ? root.exit.code : undefined;
      if (ctx.execution && code !== ctx.execution.exitCode) {
        throw new Error(`tracer error: strace exited ${ctx.execution.exitCode} but the command exited ${code}: ${lastLine(ctx.execution.stderr)}`);
      }
      r.log = log;
    });
    hooks.postProduct.tapPromise('trace', async (ctx) => {
      if (!run?.log || !ctx.execution) return;
      const workdir = realWorkdir(ctx);
      const ignore = stringList(ctx.options.ignore, 'ignore').map((p) => posix.normalize(resolve(workdir, p)));
      const log = run.log;
      const summarize = stringList(ctx.options.summarize, 'summarize');
      for (const p of summarize) if (!p.startsWith('/') || !p.endsWith('/')) throw new CustodyError('CONFIG_INVALID', `trace option summarize: ${JSON.stringify(p)} must be an absolute folder pattern ending in /`);
      if (ignore.length) log.files = log.files.filter((f) => !ignore.some((p) => f.path === p || f.path.startsWith(p.endsWith('/') ? p : `${p}/`)));
      ctx.emit({
        predicateType: RUNTIME_TRACE_PREDICATE_TYPE,
        subjectIsLink: true,
        predicate: summarizeTrace(log, factsFor(ctx, workdir), {
          workdir,
          summarize,
          isCredential: isCredentialPath,
          matches: tracePathMatches,
          tracer: { name: 'strace', version: run.tracer.version },
          policy: {
            command: [posix.basename(run.tracer.path), ...run.argv.map((a) => (a === run!.logPath ? '<private temp file>' : a.startsWith('trace=') ? 'trace=<syscalls>' : a)), '--', '<command>'],
            syscalls: TRACED_SYSCALLS,
            followForks: true,
            kernelFilter: run.tracer.seccompBpf ? 'seccomp-bpf' : 'none',
            stringLimit: STRING_LIMIT,
            summarizedPrefixes: [...SUMMARIZED_PREFIXES, '<folder>/node_modules/', '<folder>/site-packages/', '<folder>/dist-packages/'],
            summarizedInAnyMode: [...PSEUDO_PREFIXES, ...summarize],
            ignoredPaths: ignore,
            notRecorded: ['directory listings (open with O_DIRECTORY)', 'stat/access without open', 'data sent except DNS questions'],
            digests: 'sha256: start = the step materials (hashed before the command ran), end = after the command ended',
          },
          stepName: ctx.stepName,
          startedAt: ctx.execution.startedAt,
          finishedAt: ctx.execution.finishedAt,
          hostID: `urn:custody:host:${hostname()}`,
        }),
      });
    });
  },
});

/** The step folder with symlinks resolved, as the kernel (and so strace) names paths. */
function realWorkdir(ctx: StepContext): string {
  try {
    return realpathSync(resolve(ctx.workdir));
  } catch {
    return resolve(ctx.workdir);
  }
}

function lastLine(s: string | undefined): string {
  const lines = (s ?? '').trim().split('\n');
  return lines[lines.length - 1] || '(empty)';
}

/** Digests: "start" from the materials custody hashed before the command ran, "end" now. */
function factsFor(ctx: StepContext, workdir: string): FileFacts {
  const rel = (path: string): string | undefined => {
    const r = posix.relative(workdir, path);
    return r && !r.startsWith('..') && !posix.isAbsolute(r) ? r : undefined;
  };
  const cache = new Map<string, string | undefined>();
  return {
    digestAtStart(path) {
      const r = rel(path);
      return r !== undefined ? ctx.materials[r]?.sha256 : undefined;
    },
    existedAtStart(path) {
      const r = rel(path);
      return r !== undefined && Object.prototype.hasOwnProperty.call(ctx.materials, r);
    },
    digestNow(path) {
      if (cache.has(path)) return cache.get(path);
      const r = rel(path);
      // products were hashed after the command ended: the same moment, no second read
      const known = r !== undefined && Object.prototype.hasOwnProperty.call(ctx.products, r) ? ctx.products[r].sha256 : undefined;
      const d = known ?? fileSha256(path);
      cache.set(path, d);
      return d;
    },
  };
}
