/**
 * Tracing overhead (issue 14): the same command recorded by `custody run` untraced and with
 * `--plugin trace`, alternating, in the same run — the demo's train step and a read of 10,000
 * small files. Also times the bare command with and without strace (same flags as the plugin),
 * so the report can say what dominates: ptrace stops in the command, or custody's own work on
 * the trace (parsing, hashing the files seen, signing a larger Statement).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoEnv, runDemoPipeline, setupDemo } from '../scripts/demo.mjs';
import { TRACED_SYSCALLS } from '../plugins/trace/src/index.ts';

const CUSTODY_BIN = fileURLToPath(new URL('../packages/cli/bin/custody.mjs', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code: code ?? -1, stderr }));
  });
}

export interface TraceBenchCase {
  name: string;
  runs: number;
  untracedMs: number;
  tracedMs: number;
  ratio: number;
  commandMs: number;
  commandUnderStraceMs: number;
  commandRatio: number;
  /** traced − untraced − (strace's cost on the bare command): custody's work on the trace. */
  custodyTraceWorkMs: number;
  predicateBytes: number;
  traceLines: number;
}

async function measure(name: string, cwd: string, command: string[], key: string, runs: number, env: NodeJS.ProcessEnv): Promise<TraceBenchCase> {
  const outDir = await mkdtemp(join(tmpdir(), 'custody-bench-trace-out-'));
  const straceArgs = ['-f', '--seccomp-bpf', '-ttt', '-yy', '-X', 'raw', '-s', '65536', '-e', `trace=${TRACED_SYSCALLS.join(',')}`, '-e', 'signal=none', '-o', join(outDir, 'bare.strace')];
  const run = (plugins: string[], step: string) => timed(process.execPath, [CUSTODY_BIN, 'run', '--step', step, '--key', key, '--out-dir', outDir, ...plugins.flatMap((p) => ['--plugin', p]), '--', ...command], cwd, env);
  const u: number[] = [];
  const t: number[] = [];
  const c: number[] = [];
  const s: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      // alternate, so load on the shared machine hits both sides alike
      const a = await run(['command-run'], 'untraced');
      const b = await run(['command-run', 'trace'], 'traced');
      if (a.code !== 0 || b.code !== 0) throw new Error(`custody run failed: ${a.stderr}${b.stderr}`);
      u.push(a.ms);
      t.push(b.ms);
      const bare = await timed(command[0], command.slice(1), cwd, env);
      const traced = await timed('strace', [...straceArgs, '--', ...command], cwd, env);
      if (bare.code !== 0 || traced.code !== 0) throw new Error(`bare command failed: ${bare.stderr}${traced.stderr}`);
      c.push(bare.ms);
      s.push(traced.ms);
    }
    const { readdirSync } = await import('node:fs');
    const bundle = readdirSync(outDir).find((f) => f.startsWith('traced.') && f.endsWith('.trace.sigstore.json'))!;
    const statement = JSON.parse(Buffer.from(JSON.parse(await readFile(join(outDir, bundle), 'utf8')).dsseEnvelope.payload, 'base64').toString('utf8'));
    const predicate = statement.predicate as { stats: { traceLines: number } };
    const untracedMs = median(u);
    const tracedMs = median(t);
    const commandMs = median(c);
    const commandUnderStraceMs = median(s);
    return {
      name, runs, untracedMs, tracedMs, ratio: tracedMs / untracedMs, commandMs, commandUnderStraceMs, commandRatio: commandUnderStraceMs / commandMs,
      custodyTraceWorkMs: tracedMs - untracedMs - (commandUnderStraceMs - commandMs), predicateBytes: JSON.stringify(predicate).length, traceLines: predicate.stats.traceLines,
    };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

export async function benchTrace(opts: { runs?: number; files?: number } = {}): Promise<TraceBenchCase[]> {
  const runs = opts.runs ?? 3;
  const files = opts.files ?? 10_000;
  const root = await mkdtemp(join(tmpdir(), 'custody-bench-trace-'));
  try {
    console.log(`trace overhead (load ${loadavg()[0].toFixed(1)}; medians of ${runs} alternating runs)`);
    // the demo, run once untraced up to its working folder; then its train step again, both ways
    const demo = join(root, 'demo');
    const { params } = await setupDemo(demo);
    const env = demoEnv();
    const r = await runDemoPipeline(demo, params, ['--json'], { cwd: demo, env });
    if (r.code !== 0) throw new Error(`demo pipeline failed: ${r.stderr.slice(-2000)}`);
    const train = await measure('demo train step', join(demo, 'work'), ['custody-demo', 'train', 'data', 'model', '--base-model', 'base-model', '--seed', '42'], join(demo, 'keys', 'ml-engineer'), runs, env);

    const many = join(root, 'many');
    await mkdir(join(many, 'files'), { recursive: true });
    for (let i = 0; i < files; i++) await writeFile(join(many, 'files', `f${i}.txt`), `file ${i}\n`);
    await writeFile(join(many, 'read.mjs'), "import { readdirSync, readFileSync } from 'node:fs';\nlet n = 0;\nfor (const f of readdirSync('files')) n += readFileSync(`files/${f}`).length;\nconsole.log(n);\n");
    const keyDir = join(root, 'keys');
    await mkdir(keyDir);
    const kg = await timed(process.execPath, [CUSTODY_BIN, 'keygen', join(keyDir, 'k')], root);
    if (kg.code !== 0) throw new Error(kg.stderr);
    const read = await measure(`read of ${files.toLocaleString('en')} small files`, many, [process.execPath, 'read.mjs'], join(keyDir, 'k'), runs, env);

    for (const c of [train, read]) {
      console.log(`  ${c.name}: custody run ${c.untracedMs.toFixed(0)} ms untraced, ${c.tracedMs.toFixed(0)} ms traced → ${c.ratio.toFixed(2)}×`);
      console.log(`    the bare command: ${c.commandMs.toFixed(0)} ms, under strace ${c.commandUnderStraceMs.toFixed(0)} ms (${c.commandRatio.toFixed(2)}×: ptrace stops)`);
      console.log(`    custody's work on the trace (parse ${c.traceLines.toLocaleString('en')} lines, hash the files seen, sign ${(c.predicateBytes / 1024).toFixed(0)} KB): ≈${c.custodyTraceWorkMs.toFixed(0)} ms`);
    }
    return [train, read];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await benchTrace();
