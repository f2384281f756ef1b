/**
 * Registry benchmark (issue 18): push, pull and list N (default 1,000) attestations for one
 * subject against a local docker-registry 2.8 (tag fallback: no referrers API), and `skopeo
 * copy` moving the same number of blobs of the same size (an OCI layout image with N layers,
 * pushed to and pulled from the same registry). Medians over RUNS runs and the ratios.
 * Not a test: numbers depend on the machine (2 shared cores here).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTESTATION_MEDIA_TYPES, ANNOTATIONS, OCI_MEDIA_TYPES, OciRegistryStore, sha256Digest } from '../packages/store/src/index.ts';
import { startLocalRegistry } from '../packages/store/test/support/local-registry.ts';

const N = Number(process.env.BENCH_REGISTRY_N ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function attestation(run: number, i: number): Buffer {
  // a Sigstore bundle is ~2-4 KiB; this one is 3 KiB of distinct content
  return Buffer.from(JSON.stringify({ mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, run, i, pad: 'x'.repeat(3000) }));
}

function skopeoLayout(dir: string, run: number): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(blobs, hex(b)), b);
    return { digest: `sha256:${hex(b)}`, size: b.length };
  };
  const layers = Array.from({ length: N }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(attestation(run + 1000, i)) }));
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.manifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_MEDIA_TYPES.manifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
}

function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function benchRegistry(): Promise<void> {
  console.log(`registry: ${N} attestations for one subject, docker-registry 2.8 on 127.0.0.1 (tag fallback), ${RUNS} runs, load ${loadavg()[0].toFixed(1)}`);
  const registry = await startLocalRegistry();
  const work = mkdtempSync(join(tmpdir(), 'custody-bench-registry-'));
  const t = { push: [] as number[], pull: [] as number[], list: [] as number[], skopeoPush: [] as number[], skopeoPull: [] as number[] };
  try {
    for (let run = 0; run < RUNS; run++) {
      const repo = `bench/run${run}`;
      const store = new OciRegistryStore({ registry: registry.host, plainHttp: true, repository: repo, credentials: null });
      const config = Buffer.from(`{"run":${run}}`);
      await store.client.pushBlob(repo, config);
      const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.manifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length }, layers: [] }));
      const subject = (await store.client.pushManifest(repo, 'v1', m, OCI_MEDIA_TYPES.manifest)).descriptor;
      const atts = Array.from({ length: N }, (_, i) => ({ bytes: attestation(run, i), mediaType: ATTESTATION_MEDIA_TYPES.sigstoreBundle, annotations: { [ANNOTATIONS.step]: `s${i}`, [ANNOTATIONS.fileName]: `s${i}.0123abcd.sigstore.json` } }));
      let t0 = performance.now();
      await store.pushAttestations(subject, atts);
      t.push.push(performance.now() - t0);
      t0 = performance.now();
      const listed = await store.listReferrers(subject.digest);
      t.list.push(performance.now() - t0);
      t0 = performance.now();
      const pulled = await store.pullAttestations(subject.digest);
      t.pull.push(performance.now() - t0);
      if (listed.referrers.length !== N || pulled.length !== N) throw new Error(`listed ${listed.referrers.length}, pulled ${pulled.length} of ${N}`);
      store.close();

      const layout = join(work, `layout${run}`);
      skopeoLayout(layout, run);
      const skopeo = (args: string[]) => {
        const r = spawnSync('skopeo', args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
      };
      t.skopeoPush.push(timed(() => skopeo(['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${registry.host}/bench/skopeo${run}:v1`])));
      t.skopeoPull.push(timed(() => skopeo(['copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', `docker://${registry.host}/bench/skopeo${run}:v1`, `oci:${join(work, `back${run}`)}:bench`])));
    }
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const row = (name: string, ms: number, base?: number) => console.log(`  ${name.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms${base ? `   ${(ms / base).toFixed(2)}× skopeo` : ''}`);
  row(`custody push (${N} attestations)`, median(t.push), median(t.skopeoPush));
  row(`custody pull (${N})`, median(t.pull), median(t.skopeoPull));
  row('custody list referrers', median(t.list));
  row(`skopeo copy → registry (${N} blobs)`, median(t.skopeoPush));
  row(`skopeo copy ← registry (${N} blobs)`, median(t.skopeoPull));
}
