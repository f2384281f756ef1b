// A load client in its own process: POSTs AdmissionReviews to URL over HTTPS with keep-alive,
// CONCURRENCY at a time, TOTAL in all, cycling through the cases of CASES_FILE
// ([{ review, allowed }]), and checks every answer: HTTP 200, the review's uid, and `allowed` as
// expected. Prints one JSON line: { total, errors, wrong, deniesAllowed, p50, p99, max, ms }.
//   node client.mjs URL CA_FILE CASES_FILE TOTAL CONCURRENCY
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

const [url, caFile, casesFile, totalArg, concArg] = process.argv.slice(2);
const ca = readFileSync(caFile);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const total = Number(totalArg);
const concurrency = Number(concArg);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca });
const target = new URL(url);

function post(body) {
  return new Promise((resolve, reject) => {
    const req = request({ hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const latencies = [];
let errors = 0;
let wrong = 0;
let deniesAllowed = 0;
const firstWrong = [];
let next = 0;
const bodies = cases.map((c) => JSON.stringify(c.review));
const started = performance.now();
async function worker() {
  while (true) {
    const i = next++;
    if (i >= total) return;
    const c = cases[i % cases.length];
    const t = performance.now();
    try {
      const r = await post(bodies[i % cases.length]);
      latencies.push(performance.now() - t);
      if (r.status !== 200) { errors++; continue; }
      if (c.review === null) continue; // the no-op floor: any 200 will do
      const res = JSON.parse(r.text).response;
      const ok = res && res.uid === c.review.request.uid && res.allowed === c.allowed;
      if (!ok) {
        wrong++;
        if (c.allowed === false && res?.allowed === true) deniesAllowed++;
        if (firstWrong.length < 3) firstWrong.push({ expected: c.allowed, got: res });
      }
    } catch (e) {
      errors++;
      if (firstWrong.length < 3) firstWrong.push({ error: String(e.message) });
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const ms = performance.now() - started;
latencies.sort((a, b) => a - b);
const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] : NaN);
agent.destroy();
console.log(JSON.stringify({ total, errors, wrong, deniesAllowed, p50: q(0.5), p99: q(0.99), max: latencies.at(-1), ms, firstWrong }));
