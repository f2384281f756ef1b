/**
 * Admission webhook benchmark: the demo-like fixture of packages/admission/test (images in a
 * real docker-registry on 127.0.0.1, attested by custody), `custody admission serve` in this
 * process, and a load client in a second process: 2,000 AdmissionReviews at concurrency 20
 * with a warm cache, valid and invalid images mixed, every answer checked. The same client
 * against a no-op HTTPS server gives its own floor. Also: one cold verification of the good
 * image (cache empty). Targets: p99 < 50 ms, 0 errors, no deny turned into an allow, cold < 1 s;
 * the process exits 1 when one is missed.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAdmissionServer } from '../packages/admission/src/index.ts';
import { buildFixture } from '../packages/admission/test/fixture.ts';
import { podSpec, review, workload } from '../packages/admission/test/reviews.ts';

const CLIENT = fileURLToPath(new URL('../packages/admission/test/load/client.mjs', import.meta.url));

interface LoadResult { total: number; errors: number; wrong: number; deniesAllowed: number; p50: number; p99: number; max: number; ms: number; firstWrong: unknown[] }

function runClient(url: string, ca: string, cases: string, total: number, concurrency: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLIENT, url, ca, cases, String(total), String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load client exited ${code}`))));
  });
}

export async function benchAdmission(opts: { total?: number; concurrency?: number; log?: (l: string) => void } = {}): Promise<boolean> {
  const total = opts.total ?? Number(process.env.BENCH_ADMISSION_REQUESTS ?? 2000);
  const concurrency = opts.concurrency ?? 20;
  const log = opts.log ?? ((l: string) => console.log(l));
  log(`admission: ${total} reviews at concurrency ${concurrency}, warm cache (load average ${loadavg()[0].toFixed(1)})`);
  const f = await buildFixture();
  const caFile = join(f.dir, 'tls.crt');
  const s = await startAdmissionServer({ configFile: f.configFile, reloadIntervalMs: 0, listen: { host: '127.0.0.1', port: 0 }, log: () => undefined });
  const noop = createServer({ cert: await readFile(caFile), key: await readFile(join(f.dir, 'tls.key')) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => noop.listen(0, '127.0.0.1', () => r()));
  let ok = true;
  try {
    const img = (repo: string, tag: string) => `${f.host}/${repo}${tag.startsWith('sha256:') ? '@' : ':'}${tag}`;
    const pod = (images: Parameters<typeof podSpec>[0]) => review({ kind: 'Pod', object: workload('Pod', 'credit', 'ml-prod', podSpec(images)) });
    // cold: the first verification of the good image
    const t = performance.now();
    const cold = await s.controller.review(pod({ containers: [img('ml/credit', 'v1')] }));
    const coldMs = performance.now() - t;
    const cases = [
      { review: pod({ containers: [img('ml/credit', 'v1')] }), allowed: true },
      { review: pod({ containers: [img('ml/credit', 'unsigned')] }), allowed: false },
      { review: review({ kind: 'Deployment', object: workload('Deployment', 'credit', 'ml-prod', podSpec({ containers: [img('ml/credit', f.digests.v1)] })) }), allowed: true },
      { review: pod({ containers: [img('ml/credit', 'tampered')] }), allowed: false },
      { review: pod({ containers: [img('ml/credit', 'replay')] }), allowed: false },
      { review: pod({ initContainers: [img('ml/credit', 'v1')], containers: [img('ml/credit', 'tampered')] }), allowed: false },
      { review: pod({ containers: [img('warn/credit', 'bad')] }), allowed: true },
    ];
    const casesFile = join(f.dir, 'cases.json');
    await writeFile(casesFile, JSON.stringify(cases));
    // warm every case once (fills the verdict cache), then measure
    await runClient(`${s.url}/validate`, caFile, casesFile, cases.length * 2, 1);
    const r = await runClient(`${s.url}/validate`, caFile, casesFile, total, concurrency);
    const floorFile = join(f.dir, 'floor.json');
    await writeFile(floorFile, JSON.stringify([{ review: null, allowed: true }]));
    const floor = await runClient(`https://127.0.0.1:${(noop.address() as { port: number }).port}/`, caFile, floorFile, total, concurrency);
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    log(`  cold verification of the attested image: ${ms(coldMs)} (allowed: ${cold.response.allowed}; target < 1 s)`);
    log(`  webhook   p50 ${ms(r.p50)}  p99 ${ms(r.p99)}  max ${ms(r.max)}  ${(total / (r.ms / 1000)).toFixed(0)} req/s  errors ${r.errors}  wrong ${r.wrong}  denies turned into allows ${r.deniesAllowed}`);
    log(`  no-op HTTPS server (client floor)  p50 ${ms(floor.p50)}  p99 ${ms(floor.p99)}  ${(total / (floor.ms / 1000)).toFixed(0)} req/s  errors ${floor.errors}`);
    log(`  verdict cache: ${s.metrics.cache.get({ result: 'hit' })} hits, ${s.metrics.cache.get({ result: 'miss' })} misses; verifications run: ${s.metrics.verifications.get({ result: 'pass' }) + s.metrics.verifications.get({ result: 'fail' })}`);
    const misses: string[] = [];
    if (!(r.p99 < 50)) misses.push(`p99 ${ms(r.p99)} >= 50 ms`);
    if (r.errors) misses.push(`${r.errors} errors`);
    if (r.wrong) misses.push(`${r.wrong} wrong answers ${JSON.stringify(r.firstWrong)}`);
    if (!cold.response.allowed) misses.push('the cold verification did not admit the attested image');
    if (!(coldMs < 1000)) misses.push(`cold verification ${ms(coldMs)} >= 1 s`);
    log(misses.length ? `  MISSED: ${misses.join('; ')}` : '  all targets met');
    log(`  (load average after: ${loadavg()[0].toFixed(1)})`);
    ok = misses.length === 0;
  } finally {
    noop.close();
    await s.close();
    await f.stop();
  }
  return ok;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ok = await benchAdmission();
  process.exit(ok ? 0 : 1);
}
