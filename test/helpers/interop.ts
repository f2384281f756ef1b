// Helpers for the interop tests against the in-toto 1.3.1 reference (test/interop).
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, SYSTEM_PYTHON, runCommand, type RunResult } from './cli.ts';

export const CORPUS_SCRIPT = join(REPO_ROOT, 'test', 'interop', 'make_corpus.py');

export interface CorpusCase { name: string; description: string }

/** What make_corpus.py wrote to OUT/<case>/expected.json. */
export interface ExpectedVerdict {
  case: string;
  description: string;
  reference: string;
  exitCode: number;
  verdict: 'pass' | 'fail';
  errorClass: string | null;
  message: string | null;
  fullMessage: string | null;
  warnings: string[];
  expectedCode: string | null;
  expectedCheck: string | null;
  /** Step or inspection the failure is about (rule, link and threshold failures). */
  itemName: string | null;
  itemSourceType: 'materials' | 'products' | null;
  rule: string | null;
  artifacts?: string[];
  layout: string;
  /** Relative to OUT/<case>/verify. */
  layoutKeys: string[];
  keyTypes: string[] | null;
  /** Substitution parameters (`--param NAME=VALUE`), when the case uses them. */
  params: Record<string, string> | null;
}

/** Case names, cheap (no key generation); used to declare one test per case. */
export function listCorpusCases(): CorpusCase[] {
  const r = spawnSync(SYSTEM_PYTHON, [CORPUS_SCRIPT, 'list'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_corpus.py list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as CorpusCase[];
}

/** Builds the whole corpus into outDir with the reference (keys, links, expected.json). */
export async function generateCorpus(outDir: string): Promise<RunResult> {
  const r = await runCommand(SYSTEM_PYTHON, [CORPUS_SCRIPT, 'corpus', outDir]);
  if (r.code !== 0) throw new Error(`make_corpus.py corpus failed (exit ${r.code}):\n${r.stderr}`);
  return r;
}

export async function readExpected(corpusDir: string, name: string): Promise<ExpectedVerdict> {
  return JSON.parse(await readFile(join(corpusDir, name, 'expected.json'), 'utf8')) as ExpectedVerdict;
}

/** A fresh copy of a case's verify/ dir: inspections write into the working directory. */
export async function freshCopy(src: string, dest: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  await cp(src, dest, { recursive: true });
  return dest;
}

/** At most `n` of the returned function's tasks run at once (2 cores shared by many processes). */
export function limitConcurrency(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** One shared limiter for every spawned custody / reference process in a test file. */
export const limited = limitConcurrency(2);

/** Runs an in-toto reference CLI tool (in-toto-run, in-toto-verify, ...) from Debian's package. */
export function reference(tool: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
  return limited(() => runCommand(tool, args, opts));
}

/** Runs make_corpus.py's `layout` subcommand: the demo layout signed by the reference's python API. */
export async function referenceDemoLayout(opts: { owner: string; bob: string; carl: string; out: string; cwd?: string }): Promise<{ bob: string; carl: string }> {
  const r = await limited(() => runCommand(SYSTEM_PYTHON, [CORPUS_SCRIPT, 'layout', '--owner', opts.owner, '--bob', opts.bob, '--carl', opts.carl, '--out', opts.out], { cwd: opts.cwd }));
  if (r.code !== 0) throw new Error(`make_corpus.py layout failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as { bob: string; carl: string };
}

/** Text for assertion messages: what a process printed. */
export function describeRun(label: string, r: RunResult): string {
  return `${label} exited ${r.code}\n--- stdout\n${r.stdout.slice(0, 4000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`;
}

/** Checks a DSSE envelope's signature by `key` with securesystemslib, as in-toto 1.4 verifies (make_corpus.py check-dsse). */
export async function referenceCheckDsse(file: string, key: string): Promise<{ valid: boolean; payloadType: string; type: string; name: string | null; keyid: string }> {
  const r = await limited(() => runCommand(SYSTEM_PYTHON, [CORPUS_SCRIPT, 'check-dsse', file, '--key', key]));
  if (r.code !== 0) throw new Error(`make_corpus.py check-dsse ${file} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}
