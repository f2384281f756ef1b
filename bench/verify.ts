/**
 * Verification benchmark: a layout of 3 steps × N artifacts (default 10,000) chained with MATCH
 * rules, verified by `custody verify` and by the reference's `in-toto-verify` on the same folder
 * in the same run. Prints medians, the ratio (target: custody ≥ 10× faster) and whether both
 * reached the same verdict.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import {
  linkFileName, normalizeLayout, normalizeLink, parsePublicKeyText, parseSignedFile, publicKeyFromPem, verifySupplyChain, type PublicKey,
} from '../packages/core/src/index.ts';
import { directoryLinkSource } from '../packages/engine/src/verify-io/index.ts';
import { generateKeyPair, serializeMetablock, signMetablock, signerFromKeyObject, type Signer } from '../packages/sign/src/index.ts';

const CUSTODY_BIN = fileURLToPath(new URL('../packages/cli/bin/custody.mjs', import.meta.url));

export interface VerifyBenchResult {
  artifacts: number;
  runs: number;
  custodyMedianMs: number;
  referenceMedianMs: number;
  ratio: number;
  /** The pure verifier in this process (reading + parsing + verifying; no process start-up). */
  inProcessMedianMs: number;
  /** `node -e 0`: what any Node CLI pays before its first line runs. */
  nodeFloorMs: number;
  custodyExit: number;
  referenceExit: number;
  sameVerdict: boolean;
}

function party(): { key: PublicKey; signer: Signer } {
  const pair = generateKeyPair('ed25519');
  const key = publicKeyFromPem(pair.publicPem);
  return { key, signer: signerFromKeyObject(createPrivateKey(pair.privatePem), key) };
}

function timed(cmd: string, args: string[], cwd: string): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code: code ?? -1, stderr }));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Writes the chain into `dir`: root.layout (signed by the owner), owner.pub (sslib JSON), 3 links. */
async function writeChain(dir: string, artifacts: number, perDirectoryRules: boolean): Promise<void> {
  const owner = party();
  const fn = party();
  const files: Record<string, Record<string, string>> = {};
  for (let i = 0; i < artifacts; i++) {
    files[`src/dir${i % 100}/file${i}.py`] = { sha256: createHash('sha256').update(String(i)).digest('hex') };
  }
  const step = (name: string, materials: string[][], products: string[][]) => ({
    _type: 'step', name, threshold: 1, pubkeys: [fn.key.keyid], expected_command: [], expected_materials: materials, expected_products: products,
  });
  // One MATCH per source folder (100 rules per list) instead of one `src/*` rule: every rule
  // filters the whole remaining queue, in both implementations.
  const dirs = Array.from({ length: Math.min(100, artifacts) }, (_, i) => `src/dir${i}`);
  const match = (from: string, side = 'PRODUCTS') => (perDirectoryRules
    ? dirs.map((d) => ['MATCH', `${d}/*`, 'WITH', side, 'FROM', from])
    : [['MATCH', 'src/*', 'WITH', side, 'FROM', from]]);
  const layout = normalizeLayout({
    _type: 'layout', expires: '2099-01-01T00:00:00Z', readme: 'verify benchmark', keys: { [fn.key.keyid]: fn.key.sslib }, inspect: [],
    steps: [
      step('fetch', [], [['CREATE', 'src/*'], ['DISALLOW', '*']]),
      step('build', [...match('fetch'), ['DISALLOW', '*']],
        [['MATCH', '*', 'IN', 'src', 'WITH', 'PRODUCTS', 'IN', 'src', 'FROM', 'fetch'], ['DISALLOW', '*']]),
      step('package', [...match('build'), ['DISALLOW', '*']],
        [...match('package', 'MATERIALS'), ['DISALLOW', '*']]),
    ],
  });
  await writeFile(join(dir, 'root.layout'), serializeMetablock(await signMetablock<unknown>(layout, owner.signer)));
  const { keyid: _omit, ...ownerPub } = owner.key.sslib;
  void _omit;
  await writeFile(join(dir, 'owner.pub'), JSON.stringify(ownerPub));
  const links: [string, Record<string, Record<string, string>>, Record<string, Record<string, string>>][] = [
    ['fetch', {}, files], ['build', files, files], ['package', files, files],
  ];
  for (const [name, materials, products] of links) {
    const body = normalizeLink({ _type: 'link', name, command: [], materials, products, byproducts: {}, environment: {} });
    await writeFile(join(dir, linkFileName(name, fn.key.keyid)), serializeMetablock(await signMetablock<unknown>(body, fn.signer)));
  }
}

export async function benchVerify(opts: { artifacts?: number; runs?: number; perDirectoryRules?: boolean; log?: (line: string) => void } = {}): Promise<VerifyBenchResult> {
  const artifacts = opts.artifacts ?? 10_000;
  const runs = opts.runs ?? Number(process.env.BENCH_RUNS ?? 3);
  const log = opts.log ?? ((l: string) => console.log(l));
  const dir = process.env.CUSTODY_BENCH_KEEP ?? await mkdtemp(join(tmpdir(), 'custody-bench-verify-'));
  try {
    await writeChain(dir, artifacts, opts.perDirectoryRules ?? false);
    const ours: number[] = [];
    const ref: number[] = [];
    const floor: number[] = [];
    const loadBefore = loadavg()[0];
    let custodyExit = -1;
    let referenceExit = -1;
    for (let i = 0; i < runs; i++) {
      const c = await timed(process.execPath, [CUSTODY_BIN, 'verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--json'], dir);
      const r = await timed('in-toto-verify', ['--layout', 'root.layout', '--layout-keys', 'owner.pub', '--key-types', 'ed25519'], dir);
      ours.push(c.ms);
      ref.push(r.ms);
      floor.push((await timed(process.execPath, ['-e', '0'], dir)).ms);
      custodyExit = c.code;
      referenceExit = r.code;
      if (c.code !== 0) log(`custody verify exit ${c.code}: ${c.stderr.trim()}`);
      if (r.code !== 0) log(`in-toto-verify exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    const inProcess: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const start = process.hrtime.bigint();
      const layout = parseSignedFile(await readFile(join(dir, 'root.layout'), 'utf8'), 'root.layout');
      const key = parsePublicKeyText(await readFile(join(dir, 'owner.pub'), 'utf8'), 'owner.pub');
      const report = await verifySupplyChain({ layout, layoutKeys: [key], now: new Date(), links: await directoryLinkSource(dir) });
      if (report.verdict !== 'pass') log(`in-process verdict ${report.verdict}: ${report.failure?.message}`);
      if (i > 0) inProcess.push(Number(process.hrtime.bigint() - start) / 1e6); // first run warms up the JIT
    }
    const result: VerifyBenchResult = {
      artifacts, runs, inProcessMedianMs: median(inProcess), nodeFloorMs: median(floor),
      custodyMedianMs: median(ours), referenceMedianMs: median(ref), ratio: median(ref) / median(ours),
      custodyExit, referenceExit, sameVerdict: custodyExit === referenceExit,
    };
    log(`verify: 3 steps × ${artifacts} artifacts, ${opts.perDirectoryRules ? 'one MATCH rule per folder (100 per list)' : 'one MATCH rule per list'}, ${runs} run(s) each`);
    log(`  custody verify  median ${result.custodyMedianMs.toFixed(0)} ms  (exit ${custodyExit})`);
    log(`  in-toto-verify  median ${result.referenceMedianMs.toFixed(0)} ms  (exit ${referenceExit})`);
    log(`  ratio ${result.ratio.toFixed(1)}× (target ≥ 10×)  same verdict: ${result.sameVerdict ? 'yes' : 'NO'}`);
    log(`  custody's verifier in-process (no start-up) median ${result.inProcessMedianMs.toFixed(0)} ms: ${(result.referenceMedianMs / result.inProcessMedianMs).toFixed(1)}× the reference CLI`);
    log(`  floor: \`node -e 0\` median ${result.nodeFloorMs.toFixed(0)} ms (a 10× target leaves ${(result.referenceMedianMs / 10).toFixed(0)} ms); load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
    return result;
  } finally {
    if (!process.env.CUSTODY_BENCH_KEEP) await rm(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/verify.ts` runs it alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchVerify({ perDirectoryRules: process.argv.includes('--per-directory-rules') });
}
