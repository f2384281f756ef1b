/**
 * CEL helpers over the runtime-trace predicate (custody's strace monitor), so trace policies
 * read plainly: each returns the offending items as a list of strings, so a rule is
 * `traceCredentialReads(predicate) == []` and a failure names every offender in the report.
 *
 *   traceExecutables(predicate)                      every program exec'd
 *   traceUnexpectedExecutables(predicate, allow)     exec'd programs matching no allow pattern
 *   traceReadsOutside(predicate, allow)              files read outside the step's folder, not allowed
 *   traceWritesOutside(predicate, allow)             files written/created/deleted/renamed/chmod'ed outside it
 *   traceUndeclaredReads(predicate, link)            files in the folder read but neither materials nor made by the step
 *   traceUndeclaredWrites(predicate, link)           files in the folder written but not products
 *   traceWritesToMaterials(predicate, link)          materials the step wrote, truncated, renamed, deleted or chmod'ed
 *   traceCredentialReads(predicate)                  any access to credential files (~/.ssh, ~/.aws, cloud and hub tokens, …)
 *   traceNetwork(predicate)                          every peer: "connect tcp 127.0.0.1:8080", "bind udp 0.0.0.0:0", "dns example.com"
 *   traceNetworkOutside(predicate, allow)            peers matching no allowed host / host:port / unix:path
 *   traceFindings(predicate)                         files that changed between first open and step end
 *   traceDrift(predicate, profile)                   what the run did that the approved profile does not list
 *
 * Patterns: an entry ending in `/` is a folder prefix; `*` matches within one path segment,
 * `**` across segments; anything else is an exact path. `link` is the step's link (its
 * materials and products), bound only when the trace's subject is that link's digest.
 * Pure functions of their arguments.
 */
import { celFunc, celList, CelScalar, isCelList, isCelMap, listType } from '@bufbuild/cel';
import type { CelFunc } from '@bufbuild/cel';
import { stringify as yamlStringify } from 'yaml';
import { CustodyError } from '../errors.ts';

const DYN = CelScalar.DYN;
const LIST = listType(DYN);

/** Plain JSON of a CEL value (maps/lists as the rule sees them). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (isCelList(v)) return [...v].map(plain);
  if (isCelMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(k)] = plain(x);
    return out;
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

interface Access { path: string; modes: string[]; workspacePath?: string; given: string[]; renamedTo: string[] }
interface Proc { exe?: string; sha256?: string; execs: { exe: string; sha256?: string | null }[] }
interface Peer { op: string; protocol: string; ip?: string; port?: number; path?: string; family: string }
interface Summary { prefix: string; files: number; modes: string[] }
interface Trace { files: Access[]; processes: Proc[]; network: Peer[]; dns: string[]; findings: Obj[]; summarized: Summary[] }

function fail(message: string): never {
  throw new Error(message);
}

function strings(v: unknown, what: string): string[] {
  const p = plain(v);
  if (!Array.isArray(p) || !p.every((x) => typeof x === 'string')) fail(`${what} must be a list of strings`);
  return p as string[];
}

/** The runtime-trace predicate as the helpers read it; a predicate of another shape is an error. */
function readTrace(v: unknown): Trace {
  const p = plain(v);
  if (!isObj(p) || !isObj(p.monitorLog)) fail('not a runtime-trace predicate (no monitorLog)');
  const log = p.monitorLog;
  const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
  const files = list(log.fileAccess).filter(isObj).map((f) => {
    const a = isObj(f.annotations) ? f.annotations : {};
    return {
      path: String(f.name ?? ''),
      modes: list(a.modes).map(String),
      ...(typeof a.workspacePath === 'string' ? { workspacePath: a.workspacePath } : {}),
      given: list(a.given).map(String),
      renamedTo: list(a.renamedTo).map(String),
    };
  });
  const processes = list(log.process).filter(isObj).map((x) => ({
    ...(typeof x.exe === 'string' ? { exe: x.exe } : {}),
    ...(typeof x.sha256 === 'string' ? { sha256: x.sha256 } : {}),
    execs: list(x.execs).filter(isObj).map((e) => ({ exe: String(e.exe), sha256: typeof e.sha256 === 'string' ? e.sha256 : null })),
  }));
  const network = list(log.network).filter(isObj).map((n) => ({
    op: String(n.op), protocol: String(n.protocol ?? ''), family: String(n.family ?? ''),
    ...(typeof n.ip === 'string' ? { ip: n.ip } : {}), ...(typeof n.port === 'number' ? { port: n.port } : {}), ...(typeof n.path === 'string' ? { path: n.path } : {}),
  }));
  const dns = list(log.dns).filter(isObj).map((d) => String(d.name));
  const summarized = list(log.summarized).filter(isObj).map((x) => ({ prefix: String(x.prefix), files: Number(x.files ?? 0), modes: list(x.modes).map(String) }));
  return { files, processes, network, dns, findings: list(p.findings).filter(isObj), summarized };
}

interface LinkView { materials: Obj; products: Obj }
function readLink(v: unknown): LinkView {
  const l = plain(v);
  if (!isObj(l)) fail("the trace is not bound to this step's link (its subject is not the link's digest), so it cannot be compared with the link");
  return { materials: isObj(l.materials) ? l.materials : {}, products: isObj(l.products) ? l.products : {} };
}

const globCache = new Map<string, RegExp>();
/** `dir/` prefix, `*` within a segment, `**` across segments, else exact. */
export function tracePathMatches(pattern: string, path: string): boolean {
  if (!pattern.includes('*')) return pattern.endsWith('/') ? path.startsWith(pattern) : path === pattern;
  let re = globCache.get(pattern);
  if (!re) {
    const src = pattern.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*');
    // a folder pattern matches the folder itself (a summarized prefix) and everything under it
    re = new RegExp(pattern.endsWith('/') ? `^${src}` : `^${src}$`);
    globCache.set(pattern, re);
  }
  return re.test(path);
}

const allowedBy = (allow: string[], path: string): boolean => allow.some((p) => tracePathMatches(p, path));
const uniqueSorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

const READ_MODES = new Set(['read', 'mmap', 'mmap-exec', 'exec']);
/** Pseudo files whose summarized accesses are no file access (the trace plugin's list). */
const PSEUDO = ['/proc/', '/sys/', '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/pts/', '/dev/ptmx', '/dev/fd/'];

/** Paths (and summarized folders) outside the step's folder accessed in one of `modes`: a profile's entries. */
function outsidePaths(t: Trace, modes: ReadonlySet<string>): string[] {
  return uniqueSorted([
    ...t.files.filter((f) => f.workspacePath === undefined && f.modes.some((m) => modes.has(m))).map((f) => f.path),
    ...t.summarized.filter((x) => !PSEUDO.includes(x.prefix) && x.modes.some((m) => modes.has(m))).map((x) => x.prefix),
  ]);
}

/** Summarized folders (counted, not listed) with one of `modes`, not allowed: "PREFIX (N files)". */
function summariesOutside(t: Trace, modes: ReadonlySet<string>, allow: string[]): string[] {
  return t.summarized.filter((x) => !PSEUDO.includes(x.prefix) && x.modes.some((m) => modes.has(m)) && !allowedBy(allow, x.prefix)).map((x) => `${x.prefix} (${x.files} files)`);
}
const WRITE_MODES = new Set(['write', 'create', 'truncate', 'delete', 'rename', 'chmod']);
const CHANGE_MODES = new Set(['write', 'truncate', 'delete', 'rename', 'chmod']);

/**
 * Credential files: path fragments matched anywhere in the absolute path (home folders differ),
 * or with the `~/` meaning any home folder (`/root/`, `/home/<user>/`).
 */
export const CREDENTIAL_PATHS = [
  '~/.ssh/', '~/.aws/', '~/.azure/', '~/.config/gcloud/', '~/.kube/config', '~/.docker/config.json',
  '~/.cache/huggingface/token', '~/.huggingface/token', '~/.config/huggingface/token', '~/.netrc', '~/.git-credentials',
  '~/.npmrc', '~/.pypirc', '~/.gnupg/', '~/.config/gh/hosts.yml', '~/.databrickscfg', '~/.kaggle/kaggle.json',
  '~/.config/wandb/', '/etc/shadow', '/etc/gshadow', '/etc/ssh/', '/var/run/secrets/',
  '/run/secrets/',
];

export function isCredentialPath(path: string): boolean {
  return isCredential(path);
}

/** `~/x/` matches any folder named x on the path (home folders live anywhere: /root, /home/u, /var/lib/ci). */
function isCredential(path: string): boolean {
  return CREDENTIAL_PATHS.some((c) => {
    if (!c.startsWith('~/')) return c.endsWith('/') ? path.startsWith(c) : path === c;
    const rest = c.slice(1); // '/.ssh/' or '/.netrc'
    return rest.endsWith('/') ? path.includes(rest) : path.endsWith(rest);
  });
}

function peers(t: Trace): { text: string; host?: string; hostPort?: string; unix?: string }[] {
  const out: { text: string; host?: string; hostPort?: string; unix?: string }[] = [];
  for (const n of t.network) {
    if (n.family === 'unix') {
      out.push({ text: `${n.op} unix:${n.path ?? '(unnamed)'}`, unix: `unix:${n.path ?? ''}` });
      continue;
    }
    const host = n.family === 'inet6' ? `[${n.ip}]` : n.ip ?? '?';
    out.push({ text: `${n.op} ${n.protocol} ${host}:${n.port ?? '?'}`, host: n.ip, hostPort: `${host}:${n.port}` });
  }
  for (const d of t.dns) out.push({ text: `dns ${d}`, host: d });
  return out;
}

const fns = {
  traceExecutables(pred: unknown): string[] {
    const t = readTrace(pred);
    return uniqueSorted(t.processes.flatMap((p) => [...(p.exe ? [p.exe] : []), ...p.execs.map((e) => e.exe)]));
  },
  traceUnexpectedExecutables(pred: unknown, allow: unknown): string[] {
    const a = strings(allow, 'the allowed executables');
    return fns.traceExecutables(pred).filter((x) => !allowedBy(a, x));
  },
  traceReadsOutside(pred: unknown, allow: unknown): string[] {
    const a = strings(allow, 'the allowed paths');
    const t = readTrace(pred);
    return uniqueSorted([
      ...t.files.filter((f) => f.workspacePath === undefined && f.modes.some((m) => READ_MODES.has(m)) && !allowedBy(a, f.path)).map((f) => f.path),
      ...summariesOutside(t, READ_MODES, a),
    ]);
  },
  traceWritesOutside(pred: unknown, allow: unknown): string[] {
    const a = strings(allow, 'the allowed paths');
    const t = readTrace(pred);
    return uniqueSorted([
      ...t.files.filter((f) => f.workspacePath === undefined && f.modes.some((m) => WRITE_MODES.has(m)) && !allowedBy(a, f.path)).map((f) => f.path),
      ...summariesOutside(t, WRITE_MODES, a),
    ]);
  },
  traceUndeclaredReads(pred: unknown, link: unknown): string[] {
    const t = readTrace(pred);
    const l = readLink(link);
    return uniqueSorted(t.files.filter((f) => f.workspacePath !== undefined && f.modes.some((m) => READ_MODES.has(m))
      && !Object.prototype.hasOwnProperty.call(l.materials, f.workspacePath)
      && !f.modes.includes('create')).map((f) => f.workspacePath!));
  },
  traceUndeclaredWrites(pred: unknown, link: unknown): string[] {
    const t = readTrace(pred);
    const l = readLink(link);
    const isProduct = (ws: string): boolean => Object.prototype.hasOwnProperty.call(l.products, ws);
    // written, then renamed onto a product (an atomic write): its content is that product
    const landedInProducts = (f: Access): boolean => {
      if (f.renamedTo.length === 0 || f.workspacePath === undefined) return false;
      const root = f.path.slice(0, f.path.length - f.workspacePath.length);
      return f.renamedTo.every((to) => to.startsWith(root) && isProduct(to.slice(root.length)));
    };
    return uniqueSorted(t.files.filter((f) => f.workspacePath !== undefined && f.modes.some((m) => WRITE_MODES.has(m) && m !== 'delete')
      && !isProduct(f.workspacePath) && !landedInProducts(f)).map((f) => f.workspacePath!));
  },
  traceWritesToMaterials(pred: unknown, link: unknown): string[] {
    const t = readTrace(pred);
    const l = readLink(link);
    return uniqueSorted(t.files.filter((f) => f.workspacePath !== undefined && f.modes.some((m) => CHANGE_MODES.has(m))
      && Object.prototype.hasOwnProperty.call(l.materials, f.workspacePath)).map((f) => f.workspacePath!));
  },
  traceCredentialReads(pred: unknown): string[] {
    return uniqueSorted(readTrace(pred).files.flatMap((f) => [f.path, ...f.given.filter((g) => g.startsWith('/'))]).filter(isCredential));
  },
  traceNetwork(pred: unknown): string[] {
    return uniqueSorted(peers(readTrace(pred)).map((p) => p.text));
  },
  traceNetworkOutside(pred: unknown, allow: unknown): string[] {
    const a = strings(allow, 'the allowed hosts');
    // unix sockets may be allowed by path pattern: unix:/tmp/tsx-*/*.pipe
    const allowed = (p: ReturnType<typeof peers>[number]): boolean => a.some((x) => x === p.host || x === p.hostPort
      || (p.unix !== undefined && (x === p.unix || (x.startsWith('unix:') && tracePathMatches(x.slice(5), p.unix.slice(5))))));
    return uniqueSorted(peers(readTrace(pred)).filter((p) => !allowed(p)).map((p) => p.text));
  },
  traceFindings(pred: unknown): string[] {
    return uniqueSorted(readTrace(pred).findings.map((f) => `${String(f.kind)} ${String(f.path)}`));
  },
  traceDrift(pred: unknown, profile: unknown): string[] {
    const prof = readProfile(profile);
    const t = readTrace(pred);
    const out: string[] = [];
    const exes = new Map<string, string | null>();
    for (const p of t.processes) {
      if (p.exe) exes.set(p.exe, p.sha256 ?? null);
      for (const e of p.execs) if (!exes.has(e.exe)) exes.set(e.exe, e.sha256 ?? null);
    }
    for (const [exe, sha] of [...exes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const known = prof.executables.find((e) => tracePathMatches(e.path, exe));
      if (!known) out.push(`new executable ${exe}`);
      else if (known.sha256 && sha && known.sha256 !== sha) out.push(`executable ${exe} changed (sha256 ${sha.slice(0, 12)}…, approved ${known.sha256.slice(0, 12)}…)`);
    }
    for (const p of fns.traceReadsOutside(pred, prof.readOutside)) out.push(`new read outside the workspace ${p}`);
    for (const p of fns.traceWritesOutside(pred, prof.writtenOutside)) out.push(`new write outside the workspace ${p}`);
    for (const p of fns.traceNetworkOutside(pred, prof.network)) out.push(`new network peer ${p}`);
    return out;
  },
};

export interface TraceProfile {
  executables: { path: string; sha256?: string }[];
  readOutside: string[];
  writtenOutside: string[];
  /** Allowed peers as traceNetworkOutside reads them: host, host:port, [v6]:port, unix:/path. */
  network: string[];
}

function readProfile(v: unknown): TraceProfile {
  const p = plain(v);
  if (!isObj(p) || !Array.isArray(p.executables)) fail('no approved trace profile for this step in the layout (traceProfile)');
  if (p.readOutside !== undefined && !Array.isArray(p.readOutside)) fail('traceProfile.readOutside must be a list');
  return {
    executables: (p.executables as unknown[]).map((e) => (typeof e === 'string' ? { path: e } : isObj(e) ? { path: String(e.path), ...(typeof e.sha256 === 'string' ? { sha256: e.sha256 } : {}) } : fail('traceProfile.executables: each entry is a path or { path, sha256 }'))),
    readOutside: strings(p.readOutside ?? [], 'traceProfile.readOutside'),
    writtenOutside: strings(p.writtenOutside ?? [], 'traceProfile.writtenOutside'),
    network: strings(p.network ?? [], 'traceProfile.network'),
  };
}

/**
 * A trace profile document (YAML/JSON as `custody trace learn` writes it) checked and reduced to
 * its fields; SCHEMA_INVALID names the file and the problem.
 */
export function parseTraceProfile(doc: unknown, file?: string): Record<string, unknown> {
  try {
    const p = readProfile(doc);
    const step = isObj(doc) && typeof doc.step === 'string' ? { step: doc.step } : {};
    return { ...step, executables: p.executables, readOutside: p.readOutside, writtenOutside: p.writtenOutside, network: p.network };
  } catch (e) {
    throw new CustodyError('SCHEMA_INVALID', `not a trace profile: ${(e as Error).message}`, { file });
  }
}

/**
 * The profile of a good run, for review: every executable (with its sha256), the files it read
 * and wrote outside its folder, its network peers and DNS names. `traceDrift` compares a later
 * run with it. Pure: the predicate in, the profile out.
 */
export function learnTraceProfile(predicate: unknown, step: string): Record<string, unknown> & TraceProfile {
  const t = readTrace(predicate);
  const exes = new Map<string, string | undefined>();
  for (const p of t.processes) {
    if (p.exe && !exes.has(p.exe)) exes.set(p.exe, p.sha256);
    for (const e of p.execs) if (!exes.has(e.exe)) exes.set(e.exe, e.sha256 ?? undefined);
  }
  const network: string[] = [];
  for (const n of t.network) {
    if (n.family === 'unix') network.push(`unix:${n.path ?? ''}`);
    else network.push(`${n.family === 'inet6' ? `[${n.ip}]` : n.ip}:${n.port}`);
  }
  network.push(...t.dns);
  return {
    step,
    executables: [...exes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, sha256]) => ({ path, ...(sha256 ? { sha256 } : {}) })),
    readOutside: outsidePaths(t, READ_MODES),
    writtenOutside: outsidePaths(t, WRITE_MODES),
    network: uniqueSorted(network),
  };
}

/** A profile as the YAML file `custody trace learn` writes, `header` (comment lines) first. */
export function renderTraceProfile(profile: Record<string, unknown>, header: string[]): string {
  return `${header.map((l) => `# ${l}`.trimEnd()).join('\n')}\n${yamlStringify(profile, { lineWidth: 0 })}`;
}

/** The helpers' names (a failed rule shows what each call returned). */
export const TRACE_FUNCTIONS: ReadonlySet<string> = new Set(Object.keys(fns));

/** The helpers as CEL functions for the rule environment. */
export function traceCelFunctions(): CelFunc[] {
  const one = (name: keyof typeof fns) => celFunc(name, [DYN], LIST, (a: unknown) => celList((fns[name] as (x: unknown) => string[])(a)));
  const two = (name: keyof typeof fns) => celFunc(name, [DYN, DYN], LIST, (a: unknown, b: unknown) => celList((fns[name] as (x: unknown, y: unknown) => string[])(a, b)));
  return [
    one('traceExecutables'), two('traceUnexpectedExecutables'), two('traceReadsOutside'), two('traceWritesOutside'),
    two('traceUndeclaredReads'), two('traceUndeclaredWrites'), two('traceWritesToMaterials'), one('traceCredentialReads'),
    one('traceNetwork'), two('traceNetworkOutside'), one('traceFindings'), two('traceDrift'),
  ];
}

/** The same helpers as plain functions (for `custody trace learn` and tests). */
export const traceHelpers = fns;
