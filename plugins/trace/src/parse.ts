/**
 * strace's log (`-f -ttt -yy -X raw -o FILE`) → what the traced command did: processes (with
 * threads folded into their process), file accesses with their mode, network connect/bind and
 * DNS questions. Pure: text in, a TraceLog out. Anything the parser cannot account for is a
 * `problem` (the plugin fails the step on any): an unparsable line, a syscall that never
 * resumed, a process whose end strace never reported.
 */
import { posix } from 'node:path';
import { annotationEnd, fdArg, numArg, readQuoted, splitArgs, stringArg, stringArray, unescapeBytes } from './strace-text.ts';

export type FileMode = 'read' | 'write' | 'create' | 'truncate' | 'delete' | 'rename' | 'chmod' | 'exec' | 'mmap' | 'mmap-exec';

export interface FileEvent {
  pid: number;
  time: number;
  mode: FileMode;
  /** Absolute, lexically normalized (the dir fd's path joined with the path as given). */
  path: string;
  /** As the process gave it, when that differs from `path` (relative, `..`, …). */
  given?: string;
  /** The file the kernel opened (symlinks resolved), when strace reported it and it differs. */
  resolved?: string;
  /** rename: the new name. */
  to?: string;
  /** open(O_CREAT) without O_EXCL: the file may have existed before. */
  mayExist?: boolean;
}

export interface ExecImage {
  path: string;
  argv: string[];
  argvTruncated?: boolean;
  time: number;
}

export interface ProcessRecord {
  pid: number;
  ppid: number | null;
  /** Working directory at start (inherited), updated by chdir and by strace's AT_FDCWD annotations. */
  cwd: string;
  startCwd: string;
  images: ExecImage[];
  threads: number[];
  exit?: { code: number } | { signal: string; coreDumped?: boolean };
  start: number;
  end?: number;
}

export interface NetEvent {
  pid: number;
  time: number;
  op: 'connect' | 'bind' | 'send';
  family: 'inet' | 'inet6' | 'unix' | 'other';
  address?: string;
  port?: number;
  path?: string;
  protocol?: 'tcp' | 'udp' | 'unix' | 'other';
  result: string;
  /** DNS question names in a datagram sent to port 53. */
  dns?: string[];
}

export interface TraceLog {
  rootPid: number | undefined;
  processes: Map<number, ProcessRecord>;
  files: FileEvent[];
  net: NetEvent[];
  /** Everything that means the trace is incomplete. */
  problems: string[];
  lines: number;
  syscalls: number;
  /** The root's first execve failed (command not found / not executable): its errno. */
  rootExecError?: string;
}

const O_ACCMODE = 0o3;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_DIRECTORY = 0o200000;
const O_PATH = 0o10000000;
const CLONE_THREAD = 0x10000;
const AT_FDCWD = -100;
const PROT_EXEC = 0x4;
const AT_REMOVEDIR = 0x200;

interface Call {
  pid: number;
  time: number;
  name: string;
  args: string[];
  ret: string;
  /** -yy annotation of a returned fd. */
  retPath?: string;
}

const LINE = /^(\d+) +(\d+\.\d+) +([\s\S]*)$/;

/** ` = 3</path>`, ` = -1 ENOENT (…)`, ` = ?`: splits the return off at the last top-level ` = `. */
function splitReturn(rest: string): { call: string; ret: string } | undefined {
  let depth = 0;
  let last = -1;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (c === '"') i = readQuoted(rest, i).end - 1;
    else if (c === '<' && /[0-9\]]/.test(rest[i - 1] ?? '')) i = annotationEnd(rest, i); else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && rest.startsWith(' = ', i)) last = i;
  }
  if (last < 0) return undefined;
  return { call: rest.slice(0, last).trimEnd(), ret: rest.slice(last + 3).trim() };
}

function absJoin(base: string, p: string): string {
  return posix.normalize(p.startsWith('/') ? p : posix.join(base, p));
}

function retValue(ret: string): { ok: boolean; value?: number; path?: string; errno?: string } {
  const m = /^(-?\d+|0x[0-9a-f]+|\?)(?:<([\s\S]*)>)?(?: (E[A-Z0-9]+))?/.exec(ret);
  if (!m) return { ok: false };
  if (m[1] === '?') return { ok: false, errno: 'unknown' };
  const value = m[1].startsWith('0x') ? Number.parseInt(m[1], 16) : Number(m[1]);
  const annotated = m[2] !== undefined ? fdArg(`0<${m[2]}>`)?.path : undefined;
  if (m[3]) return { ok: false, value, errno: m[3] };
  return { ok: value >= 0 || m[1].startsWith('0x'), value, ...(annotated !== undefined ? { path: annotated } : {}) };
}

/** DNS question names in a query datagram (RFC 1035 §4.1.2), or [] when it is not one. */
export function dnsQuestions(buf: Buffer): string[] {
  if (buf.length < 12) return [];
  const qd = buf.readUInt16BE(4);
  const names: string[] = [];
  let off = 12;
  for (let q = 0; q < qd && q < 8; q++) {
    const labels: string[] = [];
    while (off < buf.length) {
      const len = buf[off];
      if (len === 0) { off++; break; }
      if ((len & 0xc0) !== 0 || off + 1 + len > buf.length) return names;
      labels.push(buf.subarray(off + 1, off + 1 + len).toString('latin1'));
      off += 1 + len;
    }
    off += 4;
    if (labels.length) names.push(labels.join('.').toLowerCase());
  }
  return names;
}

function hexBytes(raw: string): number[] {
  const q = stringArg(raw);
  if (!q) return [];
  return [...unescapeBytes(readQuoted(raw.trim(), 0).raw)];
}

/** sockaddr as `-X raw` prints it → family, address, port. */
function sockaddr(raw: string | undefined): Pick<NetEvent, 'family' | 'address' | 'port' | 'path'> {
  if (!raw) return { family: 'other' };
  const fam = /sa_family=(0x[0-9a-f]+|\d+|AF_\w+)/.exec(raw)?.[1];
  const famNum = fam === undefined ? -1 : fam.startsWith('AF_') ? ({ AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 } as Record<string, number>)[fam] ?? -1 : numArg(fam)!;
  const field = (name: string): string | undefined => {
    const m = new RegExp(`${name}=("(?:[^"\\\\]|\\\\.)*")`).exec(raw);
    return m?.[1];
  };
  if (famNum === 1) {
    const p = field('sun_path');
    return { family: 'unix', ...(p ? { path: stringArg(p)!.text } : {}) };
  }
  if (famNum === 2) {
    const port = hexBytes(field('sin_port') ?? '');
    const addr = hexBytes(field('sin_addr') ?? '');
    return { family: 'inet', ...(addr.length === 4 ? { address: addr.join('.') } : {}), ...(port.length === 2 ? { port: port[0] * 256 + port[1] } : {}) };
  }
  if (famNum === 10) {
    const port = hexBytes(field('sin6_port') ?? '');
    const addr = hexBytes(field('sin6_addr') ?? '');
    return { family: 'inet6', ...(addr.length === 16 ? { address: ipv6(addr) } : {}), ...(port.length === 2 ? { port: port[0] * 256 + port[1] } : {}) };
  }
  return { family: 'other' };
}

/** RFC 5952 text form; IPv4-mapped addresses as ::ffff:a.b.c.d. */
export function ipv6(b: number[]): string {
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.slice(12).join('.')}`;
  const words = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function protocolOf(fdText: string | undefined): NetEvent['protocol'] {
  const p = fdArg(fdText ?? '')?.path ?? '';
  if (/^TCP/.test(p)) return 'tcp';
  if (/^UDP/.test(p)) return 'udp';
  if (/^UNIX/.test(p)) return 'unix';
  return 'other';
}

/** Parses a whole strace log. `rootCwd` is the folder the command started in. */
export function parseStraceLog(text: string, rootCwd: string): TraceLog {
  const log: TraceLog = { rootPid: undefined, processes: new Map(), files: [], net: [], problems: [], lines: 0, syscalls: 0 };
  /** thread id → its process (thread group leader) */
  const tgid = new Map<number, number>();
  const pending = new Map<number, string>();
  /** pids seen before the fork/clone that made them returned in the parent (strace prints the child first). */
  const unclaimed = new Set<number>();
  const proc = (tid: number, time: number): ProcessRecord => {
    const id = tgid.get(tid) ?? tid;
    let p = log.processes.get(id);
    if (!p) {
      if (log.rootPid === undefined) log.rootPid = id;
      else unclaimed.add(id);
      p = { pid: id, ppid: null, cwd: rootCwd, startCwd: rootCwd, images: [], threads: [], start: time };
      log.processes.set(id, p);
      tgid.set(id, id);
    }
    return p;
  };
  const dirOf = (p: ProcessRecord, fdText: string | undefined): string => {
    const fd = fdArg(fdText ?? '');
    if (!fd) return p.cwd;
    if (fd.fd === AT_FDCWD) {
      if (fd.path) p.cwd = fd.path;
      return p.cwd;
    }
    return fd.path ?? p.cwd;
  };
  const file = (c: Call, p: ProcessRecord, mode: FileMode, dirFd: string | undefined, pathArg: string | undefined, extra: Partial<FileEvent> = {}): void => {
    const given = stringArg(pathArg ?? '');
    if (!given) return;
    const base = dirOf(p, dirFd);
    const path = absJoin(base, given.text);
    const ev: FileEvent = { pid: c.pid, time: c.time, mode, path, ...extra };
    if (given.text !== path) ev.given = given.text;
    if (c.retPath && c.retPath !== path && c.retPath.startsWith('/')) ev.resolved = c.retPath;
    log.files.push(ev);
  };

  const handle = (c: Call): void => {
    log.syscalls++;
    const p = proc(c.pid, c.time);
    const r = retValue(c.ret);
    const a = c.args;
    switch (c.name) {
      case 'execve':
      case 'execveat': {
        const [dirFd, pathArg, argvArg] = c.name === 'execve' ? [undefined, a[0], a[1]] : [a[0], a[1], a[2]];
        if (!r.ok) {
          if (p.pid === log.rootPid && p.images.length === 0) log.rootExecError ??= r.errno ?? 'failed';
          return;
        }
        const given = stringArg(pathArg ?? '');
        if (!given) return;
        const path = absJoin(dirOf(p, dirFd), given.text);
        const argv = stringArray(argvArg ?? '');
        p.images.push({ path, argv: argv?.items ?? [], ...(argv?.truncated || given.truncated ? { argvTruncated: true } : {}), time: c.time });
        log.files.push({ pid: p.pid, time: c.time, mode: 'exec', path, ...(given.text !== path ? { given: given.text } : {}) });
        return;
      }
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork': {
        if (!r.ok || r.value === undefined || r.value <= 0) return;
        const flagsText = /flags=(0x[0-9a-f]+|\d+)/.exec(a.join(','))?.[1];
        const flags = flagsText ? numArg(flagsText)! : 0;
        const child = r.value;
        const early = unclaimed.has(child) ? log.processes.get(child) : undefined;
        unclaimed.delete(child);
        if ((flags & CLONE_THREAD) !== 0) {
          if (early) {
            // the thread's events came first: fold what it did into its process
            log.processes.delete(child);
            p.images.push(...early.images);
            p.threads.push(...early.threads);
          }
          tgid.set(child, p.pid);
          p.threads.push(child);
        } else if (early) {
          early.ppid = p.pid;
          early.startCwd = p.cwd;
          early.start = Math.min(early.start, c.time);
        } else if (!log.processes.has(child)) {
          tgid.set(child, child);
          log.processes.set(child, { pid: child, ppid: p.pid, cwd: p.cwd, startCwd: p.cwd, images: [], threads: [], start: c.time });
        }
        return;
      }
      case 'chdir':
        if (r.ok) { const s = stringArg(a[0] ?? ''); if (s) p.cwd = absJoin(p.cwd, s.text); }
        return;
      case 'fchdir':
        if (r.ok) { const f = fdArg(a[0] ?? ''); if (f?.path) p.cwd = f.path; }
        return;
      case 'open':
      case 'creat':
      case 'openat':
      case 'openat2': {
        if (!r.ok) return;
        const [dirFd, pathArg, flagsArg] = c.name === 'open' ? [undefined, a[0], a[1]] : c.name === 'creat' ? [undefined, a[0], '0x241'] : [a[0], a[1], a[2]];
        const flags = c.name === 'openat2' ? numArg(/flags=(0x[0-9a-f]+|\d+)/.exec(flagsArg ?? '')?.[1] ?? '0') ?? 0 : numArg(flagsArg ?? '0') ?? 0;
        const acc = flags & O_ACCMODE;
        if ((flags & (O_DIRECTORY | O_PATH)) !== 0) return; // directory listings and O_PATH handles: no file contents
        if (acc === 0 || acc === 2) file(c, p, 'read', dirFd, pathArg);
        if (acc === 1 || acc === 2) file(c, p, 'write', dirFd, pathArg);
        if ((flags & O_CREAT) !== 0) file(c, p, 'create', dirFd, pathArg, (flags & O_EXCL) === 0 ? { mayExist: true } : {});
        if ((flags & O_TRUNC) !== 0 && acc !== 0) file(c, p, 'truncate', dirFd, pathArg);
        return;
      }
      case 'truncate':
        if (r.ok) file(c, p, 'truncate', undefined, a[0]);
        return;
      case 'ftruncate': {
        const f = fdArg(a[0] ?? '');
        if (r.ok && f?.path?.startsWith('/')) log.files.push({ pid: p.pid, time: c.time, mode: 'truncate', path: f.path });
        return;
      }
      case 'unlink':
      case 'rmdir':
        if (r.ok) file(c, p, 'delete', undefined, a[0]);
        return;
      case 'unlinkat':
        if (r.ok && ((numArg(a[2] ?? '0') ?? 0) & AT_REMOVEDIR) === 0) file(c, p, 'delete', a[0], a[1]);
        return;
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        if (!r.ok) return;
        const [fromDir, fromArg, toDir, toArg] = c.name === 'rename' ? [undefined, a[0], undefined, a[1]] : [a[0], a[1], a[2], a[3]];
        const to = stringArg(toArg ?? '');
        if (!to) return;
        file(c, p, 'rename', fromDir, fromArg, { to: absJoin(dirOf(p, toDir), to.text) });
        return;
      }
      case 'chmod':
        if (r.ok) file(c, p, 'chmod', undefined, a[0]);
        return;
      case 'fchmodat':
        if (r.ok) file(c, p, 'chmod', a[0], a[1]);
        return;
      case 'fchmod': {
        const f = fdArg(a[0] ?? '');
        if (r.ok && f?.path?.startsWith('/')) log.files.push({ pid: p.pid, time: c.time, mode: 'chmod', path: f.path });
        return;
      }
      case 'mmap': {
        const f = fdArg(a[4] ?? '');
        if (!r.ok || !f?.path?.startsWith('/')) return;
        const prot = numArg(a[2] ?? '0') ?? 0;
        log.files.push({ pid: p.pid, time: c.time, mode: (prot & PROT_EXEC) !== 0 ? 'mmap-exec' : 'mmap', path: f.path });
        return;
      }
      case 'connect':
      case 'bind': {
        const sa = sockaddr(a[1]);
        if (sa.family === 'other' && !/sa_family/.test(a[1] ?? '')) return;
        log.net.push({ pid: p.pid, time: c.time, op: c.name, ...sa, protocol: sa.family === 'unix' ? 'unix' : protocolOf(a[0]), result: r.ok ? 'ok' : r.errno ?? 'failed' });
        return;
      }
      case 'sendto':
      case 'sendmsg':
      case 'sendmmsg': {
        // only DNS questions are kept from sends: names the process looked up
        const all = a.join(', ');
        const sa = sockaddr(/\{sa_family=[^}]*\}/.exec(all)?.[0]);
        const port = sa.port;
        if (port !== 53) return;
        const buf = /(?:iov_base=|^)("(?:[^"\\]|\\.)*")/.exec(c.name === 'sendto' ? a[1] ?? '' : all)?.[1];
        const names = buf ? dnsQuestions(unescapeBytes(buf.slice(1, -1))) : [];
        log.net.push({ pid: p.pid, time: c.time, op: 'send', ...sa, protocol: protocolOf(a[0]) === 'other' ? 'udp' : protocolOf(a[0]), result: r.ok ? 'ok' : r.errno ?? 'failed', ...(names.length ? { dns: names } : {}) });
        return;
      }
      default:
        return;
    }
  };

  const lines = text.split('\n');
  for (const raw of lines) {
    if (raw === '') continue;
    log.lines++;
    const m = LINE.exec(raw);
    if (!m) {
      log.problems.push(`unparsable trace line: ${raw.slice(0, 120)}`);
      continue;
    }
    const pid = Number(m[1]);
    const time = Number(m[2]);
    let rest = m[3];
    if (rest.startsWith('+++ ')) {
      const p = proc(pid, time);
      const ex = /^\+\+\+ exited with (\d+) \+\+\+$/.exec(rest);
      const killed = /^\+\+\+ killed by (SIG\w+)( \(core dumped\))? \+\+\+$/.exec(rest);
      const superseded = /^\+\+\+ superseded by execve in pid (\d+) \+\+\+$/.exec(rest);
      if (superseded) continue; // a thread exec'd: the process lives on under its leader's pid
      if (pid !== p.pid) continue; // a thread of the process ended
      if (ex) p.exit = { code: Number(ex[1]) };
      else if (killed) p.exit = { signal: killed[1], ...(killed[2] ? { coreDumped: true } : {}) };
      else log.problems.push(`unrecognized process event: ${rest}`);
      p.end = time;
      continue;
    }
    if (rest.startsWith('--- ')) continue; // signal delivery (not traced: -e signal=none)
    if (rest.startsWith('<... ')) {
      const rm = /^<\.\.\. (\w+) resumed>([\s\S]*)$/.exec(rest);
      const before = pending.get(pid);
      if (!rm || before === undefined) {
        log.problems.push(`syscall resumed that never started: ${raw.slice(0, 120)}`);
        continue;
      }
      pending.delete(pid);
      rest = before + rm[2];
    } else {
      const un = /^([\s\S]*?) ?<unfinished \.\.\.>$/.exec(rest);
      const moved = /^([\s\S]*?) ?<pid changed to (\d+) \.\.\.>$/.exec(rest);
      if (moved) {
        // execve from a thread: it resumes under the leader's pid
        pending.set(Number(moved[2]), moved[1]);
        continue;
      }
      if (un) {
        pending.set(pid, un[1]);
        continue;
      }
    }
    const split = splitReturn(rest);
    const call = split ? /^(\w+)\(([\s\S]*)\)$/.exec(split.call) : null;
    if (!split || !call) {
      log.problems.push(`unparsable trace line: ${raw.slice(0, 120)}`);
      continue;
    }
    const args = splitArgs(call[2]);
    const ret = split.ret;
    const retPath = retValue(ret).path;
    handle({ pid, time, name: call[1], args, ret, ...(retPath !== undefined ? { retPath } : {}) });
  }
  for (const [pid, text] of pending) {
    // exit_group and killed processes leave their last call unfinished: only others count
    if (!/^exit(_group)?\(/.test(text) && !log.processes.get(tgid.get(pid) ?? pid)?.exit) log.problems.push(`pid ${pid}: syscall never finished: ${text.slice(0, 80)}`);
  }
  for (const id of unclaimed) log.problems.push(`pid ${id} appeared without a fork, clone or vfork the trace recorded`);
  // events were recorded by thread id: name them by their process
  for (const f of log.files) f.pid = tgid.get(f.pid) ?? f.pid;
  for (const n of log.net) n.pid = tgid.get(n.pid) ?? n.pid;
  for (const p of log.processes.values()) {
    if (!p.exit) log.problems.push(`pid ${p.pid}: the trace has no exit status for it (events lost?)`);
  }
  if (log.rootPid === undefined) log.problems.push('the trace is empty: the command never started under the tracer');
  return log;
}
