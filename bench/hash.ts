/**
 * Hashing benchmark (issue 2): a 1 GiB tree of 200 files (one of 512 MiB) recorded as
 * products by `custody run`, by the reference `in-toto-run`, and hashed by `openssl dgst
 * -sha256`, on a warm page cache. Prints medians over RUNS runs, ratios, peak RSS and the
 * `custody --version` cold start. Not a test: numbers depend on the machine.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH_DIR = join(ROOT, '.bench');
const TREE = join(BENCH_DIR, 'tree');
// A private copy of the built CLI: other builds swapping packages/cli/dist mid-run must not break the series.
const CLI_COPY = join(BENCH_DIR, 'cli');
const CUSTODY = join(CLI_COPY, 'bin/custody.mjs');
const PYTHON = '/usr/bin/python3';
const MiB = 1 << 20;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const BIG = 512 * MiB;
const SMALL_COUNT = 199;
const SMALL_TOTAL = 512 * MiB;

function writeFile(path: string, size: number, block: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    let left = size;
    let i = 0;
    while (left > 0) {
      const n = Math.min(left, block.length);
      block.writeUInt32LE(i++, 0); // vary content cheaply
      writeSync(fd, block, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

function treeSize(): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  if (existsSync(TREE)) walk(TREE);
  return { files, bytes };
}

export function ensureTree(): void {
  const want = { files: SMALL_COUNT + 1, bytes: BIG + SMALL_TOTAL };
  const have = treeSize();
  if (have.files === want.files && have.bytes === want.bytes) return;
  rmSync(TREE, { recursive: true, force: true });
  mkdirSync(join(TREE, 'model'), { recursive: true });
  const block = randomBytes(4 * MiB);
  writeFile(join(TREE, 'model', 'weights.safetensors'), BIG, block);
  const base = Math.floor(SMALL_TOTAL / SMALL_COUNT);
  for (let i = 0; i < SMALL_COUNT; i++) {
    const dir = join(TREE, `shard-${String(i % 10).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    const size = i === SMALL_COUNT - 1 ? SMALL_TOTAL - base * (SMALL_COUNT - 1) : base;
    writeFile(join(dir, `part-${String(i).padStart(3, '0')}.bin`), size, block);
  }
}

interface Measured { seconds: number; maxRssMiB: number }

/** Runs argv under a tiny python wrapper that reports wall time and the child's peak RSS (getrusage). */
function measure(argv: string[], cwd: string): Measured {
  const wrapper = [
    'import json,resource,subprocess,sys,time',
    't=time.perf_counter()',
    'r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)',
    'd=time.perf_counter()-t',
    'print(json.dumps({"s":d,"rss":resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"rc":r.returncode,"err":r.stderr.decode()[-300:]}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', wrapper, ...argv], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrapper failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { s: number; rss: number; rc: number; err: string };
  if (out.rc !== 0) throw new Error(`${argv.join(' ')} exited ${out.rc}: ${out.err}`);
  return { seconds: out.s, maxRssMiB: out.rss / 1024 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function series(label: string, argv: string[], cwd: string, runs = RUNS): { median: number; rss: number } {
  measure(argv, cwd); // warm-up (page cache, disk caches)
  const results = Array.from({ length: runs }, () => measure(argv, cwd));
  const med = median(results.map((r) => r.seconds));
  const rss = Math.max(...results.map((r) => r.maxRssMiB));
  console.log(`${label.padEnd(34)} median ${med.toFixed(3)} s  (runs: ${results.map((r) => r.seconds.toFixed(3)).join(' ')})  peak RSS ${rss.toFixed(0)} MiB`);
  return { median: med, rss };
}

export async function benchHash(): Promise<void> {
  console.log('# hashing: 1 GiB tree, 200 files, one of 512 MiB (warm cache)');
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${process.env.BENCH_CLI_DIST ? `CLI from ${process.env.BENCH_CLI_DIST}` : 'CLI from packages/cli/dist'})`);
  ensureTree();
  rmSync(CLI_COPY, { recursive: true, force: true });
  cpSync(process.env.BENCH_CLI_DIST ?? join(ROOT, 'packages/cli/dist'), join(CLI_COPY, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'packages/cli/bin'), join(CLI_COPY, 'bin'), { recursive: true });
  const work = join(BENCH_DIR, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const keygen = spawnSync('in-toto-keygen', ['-t', 'ed25519', join(work, 'bench')], { encoding: 'utf8' });
  if (keygen.status !== 0) throw new Error(`in-toto-keygen failed: ${keygen.stderr}`);
  const key = join(work, 'bench');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(TREE);

  const custody = series('custody run --products (no plugins)', [process.execPath, CUSTODY, 'run', '-n', 'bench', '-k', key, '--no-command', '--no-attest', '-p', TREE, '-d', work], work);
  const custodyAll = series('custody run --products (+plugins)', [process.execPath, CUSTODY, 'run', '-n', 'bench2', '-k', key, '--no-command', '-p', TREE, '-d', work], work);
  const intoto = series('in-toto-run --products', ['in-toto-run', '-n', 'bench', '-k', key, '-t', 'ed25519', '--no-command', '-p', TREE, '-d', work], work, Math.max(3, Math.min(RUNS, 3)));
  const openssl = series('openssl dgst -sha256', ['openssl', 'dgst', '-sha256', ...files], work);

  // The hashing engine alone, in this process: what custody adds on top is CLI start-up.
  const { recordArtifacts } = await import('../packages/engine/src/index.ts');
  await recordArtifacts([TREE]);
  const inproc: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await recordArtifacts([TREE]);
    inproc.push((performance.now() - t) / 1000);
  }
  const engineOnly = median(inproc);
  console.log(`${'engine recordArtifacts (in-process)'.padEnd(34)} median ${engineOnly.toFixed(3)} s  (runs: ${inproc.map((x) => x.toFixed(3)).join(' ')})`);
  const startRuns = Array.from({ length: RUNS }, () => measure([process.execPath, CUSTODY, 'run', '-n', 'startup', '-k', key, '--no-command', '--no-attest', '-d', work], work).seconds);
  console.log(`${'custody run, nothing to hash'.padEnd(34)} median ${median(startRuns).toFixed(3)} s  (CLI start-up + key + signing)`);

  // Both tools must agree on what they recorded.
  const keyid = JSON.parse(readFileSync(`${key}.pub`, 'utf8')).keyid as string | undefined;
  const links = readdirSync(work).filter((f) => f.endsWith('.link'));
  const byName = (p: string) => links.find((l) => l.startsWith(`${p}.`) && (!keyid || l.includes(keyid.slice(0, 8))));
  const a = JSON.parse(readFileSync(join(work, byName('bench')!), 'utf8')).signed.products;
  console.log(`products recorded: ${Object.keys(a).length} files`);

  const versions = Array.from({ length: 7 }, () => measure([process.execPath, CUSTODY, '--version'], work).seconds);
  const cold = median(versions);
  console.log(`${'custody --version'.padEnd(34)} median ${(cold * 1000).toFixed(0)} ms  (runs: ${versions.map((v) => (v * 1000).toFixed(0)).join(' ')})`);

  console.log('');
  console.log(`ratio custody / in-toto-run      ${(custody.median / intoto.median).toFixed(2)}x  (target <= 0.37x)`);
 console.log(`ratio engine / in-toto-run       ${(engineOnly / intoto.median).toFixed(2)}x`);
  console.log(`ratio custody / openssl dgst     ${(custody.median / openssl.median).toFixed(2)}x`);
  console.log(`ratio custody+plugins / in-toto  ${(custodyAll.median / intoto.median).toFixed(2)}x`);
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`custody median ${custody.median.toFixed(3)} s (target <= 0.40 s), peak RSS ${custody.rss.toFixed(0)} MiB (target <= 100), --version ${(cold * 1000).toFixed(0)} ms (target <= 120)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await benchHash();
