// `custody admission serve` against a real docker-registry on 127.0.0.1: AdmissionReviews for
// every workload kind, as the API server sends them, each answered over HTTPS and checked for
// allowed/denied, the message (image, digest, first failing check) and the uid. Then the same
// server under concurrent mixed load (a second process), faults, and config reloads.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAdmissionServer, type AdmissionServer } from '../src/index.ts';
import { buildFixture, type Fixture } from './fixture.ts';
import { podSpec, review, workload } from './reviews.ts';

interface Answer { status: number; body: { apiVersion?: string; kind?: string; response: { uid: string; allowed: boolean; status?: { code: number; message: string }; warnings?: string[] } } }

function post(s: AdmissionServer, ca: Buffer, body: string, path = '/validate', method = 'POST'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ hostname: '127.0.0.1', port: s.port, path, method, ca, agent: new Agent({ ca }), headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('custody admission serve against a registry', () => {
  let f: Fixture;
  let s: AdmissionServer;
  let ca: Buffer;
  const logs: Record<string, unknown>[] = [];
  let img: (repo: string, tag: string) => string;
  let d12: (d: string) => string;

  before(async () => {
    f = await buildFixture();
    ca = await readFile(join(f.dir, 'tls.crt'));
    s = await startAdmissionServer({ configFile: f.configFile, reloadIntervalMs: 0, listen: { host: '127.0.0.1', port: 0 }, log: (e) => logs.push(e) });
    img = (repo, tag) => `${f.host}/${repo}${tag.startsWith('sha256:') ? '@' : ':'}${tag}`;
    d12 = (d) => d.slice(0, 19);
  });
  after(async () => {
    await s?.close();
    await f?.stop();
  });

  const ask = async (r: Record<string, unknown> | string): Promise<Answer> => {
    const res = await post(s, ca, typeof r === 'string' ? r : JSON.stringify(r));
    return { status: res.status, body: JSON.parse(res.text) };
  };
  /** Sends the review and checks HTTP 200, the envelope, the uid and the verdict. */
  const expectAnswer = async (r: Record<string, unknown>, allowed: boolean) => {
    const a = await ask(r);
    assert.equal(a.status, 200);
    assert.equal(a.body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(a.body.kind, 'AdmissionReview');
    assert.equal(a.body.response.uid, (r.request as { uid: string }).uid);
    assert.equal(a.body.response.allowed, allowed, JSON.stringify(a.body.response));
    return a.body.response;
  };
  const pod = (images: Parameters<typeof podSpec>[0], o: { namespace?: string; operation?: string; subResource?: string } = {}) =>
    review({ kind: 'Pod', ...o, object: workload('Pod', 'credit', o.namespace ?? 'ml-prod', podSpec(images)) });
  const kind = (k: string, images: Parameters<typeof podSpec>[0], operation = 'CREATE') =>
    review({ kind: k, operation, object: workload(k, 'credit', 'ml-prod', podSpec(images)), ...(operation === 'UPDATE' ? { oldObject: workload(k, 'credit', 'ml-prod', podSpec({ containers: [img('ml/credit', 'v1')] })) } : {}) });
  const skippedWarning = (w: string[] | undefined) => assert.ok(w?.some((x) => /inspection\(s\) inspect-image NOT run at admission/.test(x)), `warnings: ${JSON.stringify(w)}`);

  // 1
  it('Pod, tag of the attested image: allowed, and the warning says the inspection was not run', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'v1')] }), true);
    skippedWarning(r.warnings);
    assert.ok(r.warnings!.some((w) => w.includes(d12(f.digests.v1))));
    assert.equal(s.metrics.inspectionsSkipped.get({ policy: 'ml-service' }) >= 1, true);
  });
  // 2
  it('Pod, digest reference of the attested image: allowed', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', f.digests.v1)] }), true);
    skippedWarning(r.warnings);
  });
  // 3
  it('Pod, image with no attestations: denied, naming the image, its digest and the missing link', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'unsigned')] }), false);
    assert.equal(r.status!.code, 403);
    assert.match(r.status!.message, new RegExp(`image ${f.host.replace(/\./g, '\\.')}/ml/credit:unsigned \\(${d12(f.digests.unsigned)}\\) denied by policy ml-service: check links \\(train\\) failed \\[LINK_NOT_FOUND\\]`));
    assert.match(r.status!.message, /no attestations are attached to this digest/);
  });
  // 4
  it('Pod, image whose build-image link was edited after signing: denied at the threshold check', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'tampered')] }), false);
    assert.match(r.status!.message, new RegExp(`ml/credit:tampered \\(${d12(f.digests.tampered)}\\) denied by policy ml-service: check threshold \\(build-image\\) failed \\[THRESHOLD\\]: Step 'build-image' requires at least '1' links validly signed`));
  });
  // 5
  it('Pod, another image carrying the attested image\'s evidence: denied (its subjects are another digest)', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'replay')] }), false);
    assert.match(r.status!.message, new RegExp(`ml/credit:replay \\(${d12(f.digests.replay)}\\) denied by policy ml-service: check artifact-rules \\(build-image\\) failed \\[SUBJECT_MISMATCH\\]: no counted link of step build-image records the image manifest ${d12(f.digests.replay)}`));
  });
  // 6
  it('Pod, unsigned init container beside an attested container: denied, naming the init image', async () => {
    const r = await expectAnswer(pod({ initContainers: [img('ml/credit', 'unsigned')], containers: [img('ml/credit', 'v1')] }), false);
    assert.match(r.status!.message, /ml\/credit:unsigned .*LINK_NOT_FOUND/);
    assert.doesNotMatch(r.status!.message, /credit:v1/);
  });
  // 7
  it('Pod UPDATE of the ephemeralcontainers subresource with an unsigned debugger: denied', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'v1')], ephemeralContainers: [img('ml/credit', 'tampered')] }, { operation: 'UPDATE', subResource: 'ephemeralcontainers' }), false);
    assert.match(r.status!.message, /ml\/credit:tampered .*\[THRESHOLD\]/);
  });
  // 8
  it('Pod with the same image three times (tag, digest, tag): allowed, verified at most once', async () => {
    const before = s.metrics.verifications.get({ result: 'pass' });
    const r = await expectAnswer(pod({ initContainers: [img('ml/credit', 'v1')], containers: [img('ml/credit', 'v1'), img('ml/credit', f.digests.v1)] }), true);
    skippedWarning(r.warnings);
    assert.ok(s.metrics.verifications.get({ result: 'pass' }) - before <= 1);
  });
  // 9
  it('Pod with several different images, one tampered: denied, naming only the failing one', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'v1'), img('ml/credit', 'tampered'), img('ml/credit', f.digests.v1)] }), false);
    assert.match(r.status!.message, /^custody: image \S+\/ml\/credit:tampered/);
  });
  // 10-17: workload kinds
  it('Deployment CREATE with the attested image: allowed', async () => {
    skippedWarning((await expectAnswer(kind('Deployment', { containers: [img('ml/credit', 'v1')] }), true)).warnings);
  });
  it('Deployment UPDATE to an unsigned image: denied', async () => {
    const r = await expectAnswer(kind('Deployment', { containers: [img('ml/credit', 'unsigned')] }, 'UPDATE'), false);
    assert.match(r.status!.message, /ml\/credit:unsigned \(sha256:[0-9a-f]{12}\) denied by policy ml-service: check links \(train\)/);
  });
  it('ReplicaSet with the attested image by digest: allowed', async () => {
    await expectAnswer(kind('ReplicaSet', { containers: [img('ml/credit', f.digests.v1)] }), true);
  });
  it('StatefulSet with the tampered image: denied', async () => {
    const r = await expectAnswer(kind('StatefulSet', { containers: [img('ml/credit', 'tampered')] }), false);
    assert.match(r.status!.message, /\[THRESHOLD\]/);
  });
  it('DaemonSet UPDATE with the attested image: allowed', async () => {
    await expectAnswer(kind('DaemonSet', { containers: [img('ml/credit', 'v1')] }, 'UPDATE'), true);
  });
  it('Job with the replayed evidence: denied', async () => {
    const r = await expectAnswer(kind('Job', { containers: [img('ml/credit', 'replay')] }), false);
    assert.match(r.status!.message, /\[SUBJECT_MISMATCH\]/);
  });
  it('CronJob with the attested image (jobTemplate pod spec): allowed', async () => {
    await expectAnswer(kind('CronJob', { containers: [img('ml/credit', 'v1')] }), true);
  });
  it('CronJob with an unsigned init container: denied', async () => {
    const r = await expectAnswer(kind('CronJob', { initContainers: [img('ml/credit', 'unsigned')], containers: [img('ml/credit', 'v1')] }), false);
    assert.match(r.status!.message, /ml\/credit:unsigned/);
  });
  // 18
  it('a namespace that is not checked (kube-system): allowed without verification', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'unsigned')] }, { namespace: 'kube-system' }), true);
    assert.equal(r.warnings, undefined);
  });
  // 19
  it('an image no policy matches (Docker Hub nginx): denied, noMatch: deny', async () => {
    const r = await expectAnswer(pod({ containers: ['nginx:1.27'] }), false);
    assert.equal(r.status!.message, 'custody: NO_MATCHING_POLICY: image nginx:1.27 (docker.io/library/nginx) matches no policy for namespace ml-prod (noMatch: deny)');
  });
  // 20
  it('a policy limited to namespaces prod-*: outside them the image matches no policy, inside it is verified', async () => {
    const out = await expectAnswer(pod({ containers: [img('prod/credit', 'v1')] }, { namespace: 'dev' }), false);
    assert.match(out.status!.message, /NO_MATCHING_POLICY: image \S+\/prod\/credit:v1 .* matches no policy for namespace dev/);
    await expectAnswer(pod({ containers: [img('prod/credit', 'v1')] }, { namespace: 'prod-eu' }), true);
  });
  // 21
  it('inspections: require: the attested image is denied because its inspection cannot run here', async () => {
    const r = await expectAnswer(pod({ containers: [img('strict/credit', 'v1')] }), false);
    assert.match(r.status!.message, new RegExp(`strict/credit:v1 \\(${d12(f.digests.v1)}\\) denied by policy strict: check inspection \\(inspect-image\\) failed \\[INSPECTIONS_NOT_RUN\\]`));
  });
  // 22
  it('warn mode: the tampered image is allowed, with a warning naming the failing check', async () => {
    const r = await expectAnswer(pod({ containers: [img('warn/credit', 'bad')] }), true);
    assert.ok(r.warnings?.some((w) => /warn\/credit:bad \(sha256:[0-9a-f]{12}\) would be denied by policy warn-only: check threshold \(build-image\) failed \[THRESHOLD\].*\(mode: warn\)$/.test(w)), JSON.stringify(r.warnings));
    assert.equal(r.status, undefined);
  });
  // 23
  it('audit mode: the tampered image is allowed silently, logged and counted', async () => {
    const before = s.metrics.decisions.get({ result: 'audited', reason: 'THRESHOLD' });
    const r = await expectAnswer(pod({ containers: [img('audit/credit', 'bad')] }), true);
    assert.equal(r.warnings, undefined);
    assert.equal(s.metrics.decisions.get({ result: 'audited', reason: 'THRESHOLD' }), before + 1);
    assert.ok(logs.some((l) => l.level === 'audit' && l.policy === 'audit-only' && /THRESHOLD/.test(String(l.message))));
  });
  // 24
  it('a malformed review (no request): HTTP 200, denied, empty uid', async () => {
    const a = await ask({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.response, { uid: '', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'custody: ADMISSION_REVIEW_INVALID: the review has no request' } });
  });
  // 25
  it('a body that is not JSON: HTTP 200, denied', async () => {
    const a = await ask('{"apiVersion": "admission.k8s.io/v1", "kind": ');
    assert.equal(a.status, 200);
    assert.equal(a.body.response.allowed, false);
    assert.equal(a.body.response.status!.message, 'custody: ADMISSION_REVIEW_INVALID: the body is not JSON');
  });
  // 26
  it('an unparsable object (a container without an image): denied with the review uid', async () => {
    const r = review({ kind: 'Deployment', object: workload('Deployment', 'x', 'ml-prod', { containers: [{ name: 'app' }] }) });
    const res = await expectAnswer(r, false);
    assert.equal(res.status!.message, 'custody: ADMISSION_REVIEW_INVALID: spec.template.spec.containers[0].image is missing');
  });
  // 27
  it('an admission.k8s.io/v1beta1 review: denied, saying which version to configure', async () => {
    const r = pod({ containers: [img('ml/credit', 'v1')] });
    r.apiVersion = 'admission.k8s.io/v1beta1';
    const a = await ask(r);
    assert.equal(a.body.response.uid, (r.request as { uid: string }).uid);
    assert.equal(a.body.response.allowed, false);
    assert.match(a.body.response.status!.message, /apiVersion is "admission.k8s.io\/v1beta1", expected "admission.k8s.io\/v1"/);
  });
  // 28
  it('an invalid image reference: denied, naming the field', async () => {
    const r = await expectAnswer(pod({ containers: [`${f.host}/ML/Credit:v1`] }), false);
    assert.match(r.status!.message, /^custody: IMAGE_REFERENCE_INVALID: spec\.containers\[0\]\.image: image reference .* path component "ML" is not lowercase/);
  });
  // 29
  it('a tag that does not exist in the registry: denied (fail closed)', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'nope')] }), false);
    assert.match(r.status!.message, /ml\/credit:nope denied by policy ml-service: failed \[REGISTRY_ERROR\]: \S+\/ml\/credit:nope not found/);
  });
  // 30
  it('the attested repository name with the unsigned image\'s digest: denied', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', f.digests.unsigned)] }), false);
    assert.match(r.status!.message, /\[LINK_NOT_FOUND\]/);
  });
  // 31
  it('KServe InferenceService with storageUri oci://…: the model is verified like an image', async () => {
    const isvc = (uri: string) => review({ kind: 'InferenceService', object: { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name: 'credit', namespace: 'ml-prod' }, spec: { predictor: { model: { modelFormat: { name: 'onnx' }, storageUri: uri } } } } });
    await expectAnswer(isvc(`oci://${img('models/credit', 'v1')}`), true);
    const tampered = await expectAnswer(isvc(`oci://${img('ml/credit', 'tampered')}`), false);
    assert.match(tampered.status!.message, /^custody: model oci:\/\/\S+\/ml\/credit:tampered \(sha256:[0-9a-f]{12}\) denied by policy ml-service: check threshold/);
    const s3 = await expectAnswer(isvc('s3://bucket/credit'), false);
    assert.match(s3.status!.message, /IMAGE_REFERENCE_INVALID: spec\.predictor\.model\.storageUri: model reference "s3:\/\/bucket\/credit" is not an oci:\/\/ reference/);
  });
  // 32
  it('a configured custom resource path: every model reference it names is verified', async () => {
    const md = (uris: string[]) => review({ kind: 'ModelDeployment', object: { apiVersion: 'ml.example.com/v1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: uris[0] }, shadows: uris.slice(1).map((uri) => ({ uri })) } } });
    await expectAnswer(md([`oci://${img('models/credit', 'v1')}`]), true);
    const r = await expectAnswer(md([`oci://${img('models/credit', 'v1')}`, `oci://${img('ml/credit', 'unsigned')}`]), false);
    assert.match(r.status!.message, /model oci:\/\/\S+\/ml\/credit:unsigned .*\[LINK_NOT_FOUND\]/);
  });
  // 34
  it('links in Sigstore bundles (custody run --format sigstore): allowed; the same bundles on another image: denied', async () => {
    const r = await expectAnswer(pod({ containers: [img('ml/credit', 'bundled')] }), true);
    skippedWarning(r.warnings);
    assert.ok(r.warnings!.some((w) => w.includes(d12(f.digests.bundled))));
    const replayed = await expectAnswer(pod({ containers: [img('ml/credit', 'bundled-replay')] }), false);
    assert.match(replayed.status!.message, /ml\/credit:bundled-replay \(sha256:[0-9a-f]{12}\) denied by policy ml-service: check artifact-rules \(build-image\) failed \[SUBJECT_MISMATCH\]/);
  });
  // 33
  it('DELETE is not checked', async () => {
    await expectAnswer(review({ kind: 'Pod', operation: 'DELETE', object: null, oldObject: workload('Pod', 'x', 'ml-prod', podSpec({ containers: [img('ml/credit', 'unsigned')] })) }), true);
  });

  it('health, readiness and metrics endpoints', async () => {
    assert.deepEqual(await post(s, ca, '', '/healthz', 'GET'), { status: 200, text: 'ok\n' });
    const ready = await post(s, ca, '', '/readyz', 'GET');
    assert.equal(ready.status, 200);
    assert.match(ready.text, /^ready: 6 policies loaded/);
    const m = await post(s, ca, '', '/metrics', 'GET');
    assert.match(m.text, /^custody_admission_requests_total\{kind="Pod"\} \d+$/m);
    assert.match(m.text, /^custody_admission_decisions_total\{reason="LINK_NOT_FOUND",result="denied"\} \d+$/m);
    assert.match(m.text, /^custody_admission_decisions_total\{reason="VERIFIED",result="warned"\} \d+$/m);
    assert.match(m.text, /^custody_admission_request_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(m.text, /^custody_admission_verdict_cache_total\{result="hit"\} [1-9]\d*$/m);
    assert.match(m.text, /^custody_admission_inspections_skipped_total\{policy="ml-service"\} [1-9]\d*$/m);
    assert.equal((await post(s, ca, '', '/validate', 'GET')).status, 405);
  });

  it('under concurrent load from another process, every answer is right (no deny becomes an allow)', async () => {
    const cases = [
      { review: pod({ containers: [img('ml/credit', 'v1')] }), allowed: true },
      { review: pod({ containers: [img('ml/credit', 'unsigned')] }), allowed: false },
      { review: kind('Deployment', { containers: [img('ml/credit', f.digests.v1)] }), allowed: true },
      { review: pod({ containers: [img('ml/credit', 'tampered')] }), allowed: false },
      { review: pod({ containers: [img('ml/credit', 'replay')] }), allowed: false },
      { review: kind('CronJob', { initContainers: [img('ml/credit', 'v1')], containers: [img('ml/credit', 'tampered')] }), allowed: false },
      { review: pod({ containers: [img('strict/credit', 'v1')] }), allowed: false },
      { review: pod({ containers: [img('warn/credit', 'bad')] }), allowed: true },
    ];
    const casesFile = join(f.dir, 'load-cases.json');
    await writeFile(casesFile, JSON.stringify(cases));
    const client = fileURLToPath(new URL('./load/client.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [client, `${s.url}/validate`, join(f.dir, 'tls.crt'), casesFile, '400', '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.setEncoding('utf8').on('data', (c) => (text += c));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`load client exited ${code}`))));
    });
    const r = JSON.parse(out);
    assert.equal(r.errors, 0, out);
    assert.equal(r.deniesAllowed, 0, out);
    assert.equal(r.wrong, 0, out);
    assert.equal(r.total, 400);
  });

  it('concurrent identical requests on a cold cache are collapsed into one verification', async () => {
    // A fresh policy key: reload with another params value (part of the trust digest).
    const cfg = await readFile(f.configFile, 'utf8');
    await writeFile(f.configFile, cfg.replace('  - name: ml-service\n', '  - name: ml-service\n    params: { COLD: "1" }\n'));
    assert.equal(await s.reload(), true);
    const before = s.metrics.verifications.get({ result: 'pass' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => expectAnswer(pod({ containers: [img('ml/credit', 'v1')] }), true)));
    assert.equal(answers.length, 8);
    assert.equal(s.metrics.verifications.get({ result: 'pass' }) - before, 1);
    assert.ok(s.metrics.cache.get({ result: 'collapsed' }) >= 1);
    await writeFile(f.configFile, cfg);
    assert.equal(await s.reload(), true);
  });

  it('every matching policy must pass: a second policy over the same images denies what the first admits', async () => {
    const cfg = await readFile(f.configFile, 'utf8');
    await writeFile(f.configFile, `${cfg}  - name: also-strict\n    images: ["${f.host}/ml/**"]\n    layout: root.layout\n    layoutKeys: [keys/owner.pub]\n    plainHttp: true\n    inspections: require\n`);
    try {
      assert.equal(await s.reload(), true);
      const r = await expectAnswer(pod({ containers: [img('ml/credit', 'v1')] }), false);
      assert.match(r.status!.message, /ml\/credit:v1 \(sha256:[0-9a-f]{12}\) denied by policy also-strict: check inspection \(inspect-image\) failed \[INSPECTIONS_NOT_RUN\]/);
      assert.doesNotMatch(r.status!.message, /policy ml-service/);
    } finally {
      await writeFile(f.configFile, cfg);
      assert.equal(await s.reload(), true);
    }
    await expectAnswer(pod({ containers: [img('ml/credit', 'v1')] }), true);
  });

  it('a reload with a broken layout keeps the old configuration, says why, and recovers', async () => {
    const layoutFile = join(f.dir, 'root.layout');
    const good = await readFile(layoutFile);
    const signed = JSON.parse(good.toString('utf8'));
    signed.payload = Buffer.from(Buffer.from(signed.payload, 'base64').toString('utf8').replace('"expires"', '"readme":"x","expires"')).toString('base64');
    await writeFile(layoutFile, JSON.stringify(signed));
    await assert.rejects(s.reload(), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /policy ml-service: layout signature does not verify/.test(e.message));
    assert.ok(logs.some((l) => l.msg === 'config reload failed; keeping the previous configuration' && /layout signature does not verify/.test(String(l.error))));
    assert.equal(s.metrics.reloads.get({ result: 'failure' }), 1);
    // the old configuration still answers, also for a verification that starts now
    s.controller.clearCaches();
    const before = s.metrics.verifications.get({ result: 'pass' });
    await expectAnswer(pod({ containers: [img('ml/credit', 'v1')] }), true);
    assert.equal(s.metrics.verifications.get({ result: 'pass' }), before + 1);
    await expectAnswer(pod({ containers: [img('ml/credit', 'unsigned')] }), false);
    assert.match((await post(s, ca, '', '/readyz', 'GET')).text, /the last reload failed: .*layout signature does not verify/);
    await writeFile(layoutFile, 'not json');
    await assert.rejects(s.reload(), (e: Error & { code?: string }) => e.code === 'ENVELOPE_MALFORMED' || e.code === 'MALFORMED_JSON');
    await writeFile(layoutFile, good);
    assert.equal(await s.reload(), false); // same files as the loaded config: nothing to change
    assert.doesNotMatch((await post(s, ca, '', '/readyz', 'GET')).text, /failed/);
  });

  it('the config is polled: an edit takes effect without a restart', async () => {
    const polled = join(f.dir, 'polled.yaml');
    const base = await readFile(f.configFile, 'utf8');
    await writeFile(polled, base);
    const p = await startAdmissionServer({ configFile: polled, reloadIntervalMs: 100, listen: { host: '127.0.0.1', port: 0 }, log: () => undefined });
    try {
      const nginx = () => post(p, ca, JSON.stringify(pod({ containers: ['nginx:1.27'] }))).then((r) => JSON.parse(r.text).response);
      assert.equal((await nginx()).allowed, false);
      await writeFile(polled, base.replace('noMatch: deny', 'noMatch: warn'));
      let r = await nginx();
      for (let i = 0; i < 50 && r.allowed === false; i++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await nginx();
      }
      assert.equal(r.allowed, true);
      assert.deepEqual(r.warnings, ['custody: image nginx:1.27 (docker.io/library/nginx) matches no policy for namespace ml-prod; admitted unverified (noMatch: warn)']);
      assert.equal(p.metrics.reloads.get({ result: 'success' }), 1);
    } finally {
      await p.close();
    }
  });

  describe('signed VSAs per decision', () => {
    let vsaServer: AdmissionServer | undefined;
    const vsaConfig = () => join(f.dir, 'vsa.yaml');
    before(async () => {
      const base = await readFile(f.configFile, 'utf8');
      await writeFile(vsaConfig(), base.replace('policies:\n', 'vsa: { key: keys/vsa, dir: vsa-out, reuseSeconds: 600 }\npolicies:\n'));
    });
    after(async () => { await vsaServer?.close(); });
    const start = async () => {
      await vsaServer?.close();
      vsaServer = await startAdmissionServer({ configFile: vsaConfig(), reloadIntervalMs: 0, listen: { host: '127.0.0.1', port: 0 }, log: () => undefined });
      return vsaServer;
    };
    const ask = async (srv: AdmissionServer, tag: string) => JSON.parse((await post(srv, ca, JSON.stringify(pod({ containers: [img('ml/credit', tag)] })))).text).response;

    it('a verification writes a signed VSA naming the digest, the policy and the attestations it read; a PASSED one is reused', async () => {
      const srv = await start();
      assert.equal((await ask(srv, 'v1')).allowed, true);
      assert.equal((await ask(srv, 'unsigned')).allowed, false);
      const { verifyFunctionaryBundle, loadPublicKey } = await import('../../sign/src/index.ts');
      const key = await loadPublicKey(join(f.dir, 'keys/vsa.pub'));
      const read = async (digest: string) => verifyFunctionaryBundle(await readFile(join(f.dir, 'vsa-out', `${digest.slice(7)}.ml-service.vsa.json`), 'utf8'), { keys: [key] }).statement as unknown as { subject: { digest: { sha256: string } }[]; predicateType: string; predicate: Record<string, any> };
      const pass = await read(f.digests.v1);
      assert.equal(pass.predicateType, 'https://slsa.dev/verification_summary/v1');
      assert.deepEqual(pass.subject.map((x) => x.digest.sha256), [f.digests.v1.slice(7)]);
      assert.equal(pass.predicate.verificationResult, 'PASSED');
      assert.match(pass.predicate.policy.uri, /^custody-admission:policy\/ml-service\?layout=sha256:[0-9a-f]{64}&trust=sha256:[0-9a-f]{64}$/);
      assert.ok(pass.predicate.inputAttestations.some((a: { uri: string }) => a.uri.startsWith(`oci://${f.host}/ml/credit@sha256:`) && a.uri.endsWith('.sigstore.json')), JSON.stringify(pass.predicate.inputAttestations));
      assert.ok(pass.predicate.inputAttestations.some((a: { uri: string }) => /build-image\.[0-9a-f]{8}\.link$/.test(a.uri)));
      assert.equal((await read(f.digests.unsigned)).predicate.verificationResult, 'FAILED');
      // a fresh server (empty cache) reuses the PASSED VSA, and verifies the FAILED one again
      const again = await start();
      assert.equal((await ask(again, 'v1')).allowed, true);
      assert.equal(again.metrics.cache.get({ result: 'vsa' }), 1);
      assert.equal(again.metrics.verifications.get({ result: 'pass' }), 0);
      assert.equal((await ask(again, 'unsigned')).allowed, false);
      assert.equal(again.metrics.verifications.get({ result: 'fail' }), 1);
    });

    it('a VSA that does not verify, or names another digest, is never reused', async () => {
      const file = join(f.dir, 'vsa-out', `${f.digests.v1.slice(7)}.ml-service.vsa.json`);
      const good = await readFile(file, 'utf8');
      // the PASSED VSA of v1 renamed to the unsigned image's name: its signed subject is v1
      const replayed = join(f.dir, 'vsa-out', `${f.digests.unsigned.slice(7)}.ml-service.vsa.json`);
      await writeFile(replayed, good);
      // and v1's own VSA with a byte of its payload changed
      const bundle = JSON.parse(good);
      const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8').replace('"PASSED"', '"PASSED" ');
      bundle.dsseEnvelope.payload = Buffer.from(payload).toString('base64');
      await writeFile(file, JSON.stringify(bundle));
      const srv = await start();
      const r = await ask(srv, 'unsigned');
      assert.equal(r.allowed, false);
      assert.match(r.status.message, /\[LINK_NOT_FOUND\]/);
      assert.equal((await ask(srv, 'v1')).allowed, true);
      assert.equal(srv.metrics.cache.get({ result: 'vsa' }), 0);
      assert.equal(srv.metrics.verifications.get({ result: 'pass' }), 1);
    });
  });

  describe('faults', () => {
    let silent: Server;
    let silentPort: number;
    let closedPort: number;
    let faulty: AdmissionServer;
    before(async () => {
      // A "registry" that accepts connections and never answers.
      silent = createServer(() => undefined);
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      silentPort = (silent.address() as { port: number }).port;
      const closed = createServer();
      closedPort = await new Promise<number>((r) => closed.listen(0, '127.0.0.1', () => r((closed.address() as { port: number }).port)));
      await new Promise((r) => closed.close(r));
      const faultsConfig = join(f.dir, 'faults.yaml');
      const base = await readFile(f.configFile, 'utf8');
      await writeFile(faultsConfig, base.replace('timeoutSeconds: 10\n', 'timeoutSeconds: 2\ndeadlineMs: 400\n').replace('policies:\n', `policies:
  - name: down
    images: ["127.0.0.1:${closedPort}/**"]
    layout: root.layout
    layoutKeys: [keys/owner.pub]
    plainHttp: true
  - name: slow
    images: ["127.0.0.1:${silentPort}/**"]
    layout: root.layout
    layoutKeys: [keys/owner.pub]
    plainHttp: true
`));
      faulty = await startAdmissionServer({ configFile: faultsConfig, reloadIntervalMs: 0, listen: { host: '127.0.0.1', port: 0 }, log: () => undefined });
    });
    after(async () => {
      await faulty?.close();
      silent?.close();
    });
    const askFaulty = async (r: Record<string, unknown>) => JSON.parse((await post(faulty, ca, JSON.stringify(r))).text).response;

    it('registry unreachable: denied with the reason', async () => {
      const r = pod({ containers: [`127.0.0.1:${closedPort}/x/y:v1`] });
      const res = await askFaulty(r);
      assert.equal(res.uid, (r.request as { uid: string }).uid);
      assert.equal(res.allowed, false);
      assert.match(res.status.message, /denied by policy down: failed \[NETWORK\]: .*ECONNREFUSED/);
    });
    it('registry slower than the deadline: denied at the deadline, well before timeoutSeconds', async () => {
      const r = pod({ containers: [`127.0.0.1:${silentPort}/x/y:v1`] });
      const t = performance.now();
      const res = await askFaulty(r);
      const ms = performance.now() - t;
      assert.equal(res.allowed, false);
      assert.match(res.status.message, /DEADLINE_EXCEEDED/);
      assert.match(res.status.message, new RegExp(`127\\.0\\.0\\.1:${silentPort}/x/y:v1`));
      assert.ok(ms < 2000, `answered after ${ms} ms`);
    });
  });
});
