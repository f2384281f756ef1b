/**
 * A parsed trace → the runtime-trace predicate: one entry per process, one per file (all its
 * modes, its digests and which was taken when), network peers deduplicated, DNS names, and
 * reads of system paths summarized per prefix. Digests come through `FileFacts`, so this stays
 * testable without a file system.
 */
import { posix } from 'node:path';
import type { FileMode, TraceLog } from './parse.ts';

export const RUNTIME_TRACE_PREDICATE_TYPE = 'https://in-toto.io/attestation/runtime-trace/v0.1';
export const STRACE_MONITOR_TYPE = 'https://custody.dev/monitor/strace/v0.1';

/**
 * Reads (and executable maps) under these prefixes are counted, not listed: shared libraries,
 * locale files, /proc and /sys. Any other mode there (a write, an exec) is listed as usual.
 */
export const SUMMARIZED_PREFIXES = ['/usr/lib/', '/usr/lib64/', '/lib/', '/lib64/', '/usr/share/', '/usr/local/lib/', '/proc/', '/sys/', '/dev/', '/etc/ld.so.cache', '/etc/localtime'];
/** Pseudo files: any mode is summarized (writing /dev/null or /proc/self/… is no file access). */
export const PSEUDO_PREFIXES = ['/proc/', '/sys/', '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/pts/', '/dev/ptmx', '/dev/fd/'];
/**
 * Installed packages (read only): summarized per package folder, as the system libraries are.
 * A path that looks like a credential file is never summarized, wherever it is.
 */
const PACKAGE_FOLDER = /^(.*?\/(?:node_modules|site-packages|dist-packages)\/)/;
const READ_ONLY_MODES: ReadonlySet<FileMode> = new Set(['read', 'mmap', 'mmap-exec']);

export interface FileFacts {
  /** sha256 of the file as it is now (step end), or undefined when it does not exist / is no regular file. */
  digestNow(path: string): string | undefined;
  /** The digest recorded before the command ran (the step's materials), for files in the workspace. */
  digestAtStart(path: string): string | undefined;
  /** Was the path among the materials recorded before the command ran? */
  existedAtStart(path: string): boolean;
}

export interface SummaryOptions {
  workdir: string;
  /** Folder patterns (`tracePathMatches` syntax, ending in /) whose accesses are counted in any mode. */
  summarize?: string[];
  /** Never summarized (credential files). */
  isCredential?: (path: string) => boolean;
  /** The pattern matcher for `summarize`. */
  matches?: (pattern: string, path: string) => boolean;
  tracer: { name: string; version: string };
  policy: Record<string, unknown>;
  stepName: string;
  startedAt: Date;
  finishedAt: Date;
  hostID: string;
}

interface FileEntry {
  path: string;
  modes: Set<FileMode>;
  given: Set<string>;
  resolved?: string;
  renamedTo: string[];
  renamedFrom: string[];
  pids: Set<number>;
  first: number;
  mayExist: boolean;
}

function under(path: string, prefix: string): boolean {
  return prefix.endsWith('/') ? path.startsWith(prefix) : path === prefix;
}

function workspacePath(workdir: string, path: string): string | undefined {
  const rel = posix.relative(workdir, path);
  return rel !== '' && !rel.startsWith('../') && rel !== '..' && !posix.isAbsolute(rel) ? rel : undefined;
}

const MODE_ORDER: FileMode[] = ['exec', 'read', 'mmap', 'mmap-exec', 'create', 'write', 'truncate', 'chmod', 'rename', 'delete'];

/** The predicate for a trace, in the runtime-trace v0.1 shape plus custody's fields (see docs). */
export function summarizeTrace(log: TraceLog, facts: FileFacts, o: SummaryOptions): Record<string, unknown> {
  const files = new Map<string, FileEntry>();
  const summarized = new Map<string, { files: Set<string>; modes: Set<FileMode> }>();
  const entry = (path: string, time: number): FileEntry => {
    let e = files.get(path);
    if (!e) {
      e = { path, modes: new Set(), given: new Set(), renamedTo: [], renamedFrom: [], pids: new Set(), first: time, mayExist: false };
      files.set(path, e);
    }
    return e;
  };
  for (const ev of log.files) {
    const real = ev.resolved ?? ev.path;
    const pseudo = PSEUDO_PREFIXES.find((x) => under(real, x));
    const optional = (o.summarize ?? []).find((x) => o.matches?.(x, real));
    const prefix = pseudo ?? optional ?? SUMMARIZED_PREFIXES.find((x) => under(real, x)) ?? PACKAGE_FOLDER.exec(real)?.[1];
    const summarize = prefix !== undefined && (pseudo !== undefined || optional !== undefined || READ_ONLY_MODES.has(ev.mode)) && !o.isCredential?.(real) && !o.isCredential?.(ev.path);
    if (summarize) {
      const s = summarized.get(prefix!) ?? { files: new Set(), modes: new Set() };
      s.files.add(real);
      s.modes.add(ev.mode);
      summarized.set(prefix!, s);
      continue;
    }
    const e = entry(real, ev.time);
    e.modes.add(ev.mode);
    e.pids.add(ev.pid);
    if (ev.given !== undefined && e.given.size < 4) e.given.add(ev.given);
    if (ev.resolved) e.given.size < 4 && e.given.add(ev.path);
    if (ev.mode === 'create' && ev.mayExist) e.mayExist = true;
    if (ev.mode === 'rename' && ev.to) {
      e.renamedTo.push(ev.to);
      const t = entry(ev.to, ev.time);
      t.modes.add('rename');
      t.renamedFrom.push(real);
      t.pids.add(ev.pid);
    }
  }

  const findings: Record<string, unknown>[] = [];
  const fileAccess = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((e) => {
    const ws = workspacePath(o.workdir, e.path);
    const start = facts.digestAtStart(e.path);
    const end = facts.digestNow(e.path);
    const existedAtStart = facts.existedAtStart(e.path);
    const modes = MODE_ORDER.filter((m) => e.modes.has(m));
    // O_CREAT of a file that was already there (a recorded material) is a write, not a create
    if (e.modes.has('create') && existedAtStart) modes.splice(modes.indexOf('create'), 1);
    const annotations: Record<string, unknown> = { modes, pids: [...e.pids].sort((a, b) => a - b) };
    if (ws !== undefined) annotations.workspacePath = ws;
    if (e.given.size) annotations.given = [...e.given];
    if (e.renamedTo.length) annotations.renamedTo = e.renamedTo;
    if (e.renamedFrom.length) annotations.renamedFrom = e.renamedFrom;
    if (e.modes.has('create') && e.mayExist && ws === undefined) annotations.createMayHaveExisted = true;
    const digests: Record<string, unknown> = {};
    if (start !== undefined) digests.start = { sha256: start, taken: 'before the command ran (step materials)' };
    if (end !== undefined) digests.end = { sha256: end, taken: 'after the command ended' };
    else annotations.goneAtEnd = true;
    annotations.digests = digests;
    if (start !== undefined && end !== undefined && start !== end) {
      annotations.changed = true;
      findings.push({ kind: 'changed-during-step', path: e.path, start, end });
    }
    if (start !== undefined && end === undefined) findings.push({ kind: 'deleted-during-step', path: e.path, start });
    const descriptor: Record<string, unknown> = { name: e.path };
    const d = end ?? start;
    if (d !== undefined) descriptor.digest = { sha256: d };
    descriptor.annotations = annotations;
    return descriptor;
  });

  const processes = [...log.processes.values()].sort((a, b) => a.start - b.start || a.pid - b.pid).map((p) => {
    const inherited = p.images.length === 0 && p.ppid !== null ? log.processes.get(p.ppid)?.images.at(-1) : undefined;
    const image = p.images.at(-1) ?? inherited;
    const out: Record<string, unknown> = { pid: p.pid, ppid: p.ppid, cwd: p.startCwd };
    if (image) {
      out.exe = image.path;
      const sha = facts.digestNow(image.path);
      if (sha) out.sha256 = sha;
      out.argv = image.argv;
      if (image.argvTruncated) out.argvTruncated = true;
    }
    if (p.images.length > 1) out.execs = p.images.map((i) => ({ exe: i.path, argv: i.argv, sha256: facts.digestNow(i.path) ?? null }));
    if (p.images.length === 0) out.forkedFrom = p.ppid;
    if (p.threads.length) out.threads = p.threads.length;
    out.exit = p.exit ?? null;
    if (p.end !== undefined && log.rootPid !== undefined && p.pid !== log.rootPid) {
      const root = log.processes.get(log.rootPid);
      if (root?.end !== undefined && p.end > root.end) out.outlivedRoot = true;
    }
    return out;
  });

  const netKey = new Map<string, Record<string, unknown>>();
  const dns = new Map<string, Set<string>>();
  for (const n of log.net) {
    if (n.op === 'send') {
      for (const name of n.dns ?? []) {
        const servers = dns.get(name) ?? new Set();
        if (n.address) servers.add(`${n.address}:${n.port}`);
        dns.set(name, servers);
      }
      if (!n.dns) continue;
    }
    const op = n.op === 'send' ? 'connect' : n.op;
    const key = JSON.stringify([op, n.family, n.address, n.port, n.path, n.protocol]);
    const exe = log.processes.get(n.pid)?.images.at(-1)?.path;
    const had = netKey.get(key);
    if (had) {
      had.count = (had.count as number) + 1;
      const results = had.results as string[];
      if (!results.includes(n.result)) results.push(n.result);
      continue;
    }
    netKey.set(key, {
      op, family: n.family, protocol: n.protocol,
      ...(n.address !== undefined ? { ip: n.address } : {}), ...(n.port !== undefined ? { port: n.port } : {}), ...(n.path !== undefined ? { path: n.path } : {}),
      results: [n.result], count: 1, invokingProcess: { pid: n.pid, ...(exe ? { exe } : {}) },
    });
  }
  // a connect carries only its address: the names looked up are listed under dns
  const network = [...netKey.values()];

  return {
    monitor: {
      type: STRACE_MONITOR_TYPE,
      tracer: { name: o.tracer.name, version: o.tracer.version },
      tracePolicy: o.policy,
    },
    monitoredProcess: { hostID: o.hostID, type: 'https://custody.dev/step/v0.1', event: o.stepName },
    monitorLog: {
      process: processes,
      network,
      fileAccess,
      summarized: [...summarized.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([prefix, s]) => ({ prefix, files: s.files.size, modes: MODE_ORDER.filter((m) => s.modes.has(m)) })),
      dns: [...dns.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, servers]) => ({ name, servers: [...servers] })),
    },
    findings,
    stats: { traceLines: log.lines, syscalls: log.syscalls, processes: processes.length, files: fileAccess.length, summarizedFiles: [...summarized.values()].reduce((n, s) => n + s.files.size, 0) },
    metadata: { buildStartedOn: o.startedAt.toISOString(), buildFinishedOn: o.finishedAt.toISOString() },
  };
}
