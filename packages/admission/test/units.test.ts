// The pure parts of the admission webhook: image references and policy globs, finding the
// artifacts of every workload kind, the verdict cache and request collapsing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCustodyError } from '../../core/src/errors.ts';
import { SingleFlight, TtlCache } from '../src/cache.ts';
import { globMatch, parseImageReference, parseOciUri } from '../src/reference.ts';
import { findArtifacts, parseReview, splitPath } from '../src/review.ts';
import { podSpec, review, workload } from './reviews.ts';

const D = `sha256:${'ab'.repeat(32)}`;
const code = (c: string, m?: RegExp) => (e: unknown) => isCustodyError(e) && e.code === c && (!m || m.test(e.message));

describe('image references', () => {
  it('reads host:port, repository, tag and digest as the runtime does', () => {
    assert.deepEqual(parseImageReference('127.0.0.1:5000/ml/credit:v1'), { original: '127.0.0.1:5000/ml/credit:v1', host: '127.0.0.1:5000', repository: 'ml/credit', tag: 'v1', name: '127.0.0.1:5000/ml/credit' });
    assert.equal(parseImageReference(`localhost:5000/ml/credit@${D}`).digest, D);
    assert.equal(parseImageReference(`registry.example/ml/credit:v2@${D}`).tag, 'v2');
    assert.equal(parseImageReference('nginx').name, 'docker.io/library/nginx');
    assert.equal(parseImageReference('nginx').tag, 'latest');
    assert.equal(parseImageReference('team/app:1').name, 'docker.io/team/app');
    assert.equal(parseImageReference('index.docker.io/library/nginx').name, 'docker.io/library/nginx');
  });
  it('other spellings of one registry have one name (case, :443, Docker Hub aliases)', () => {
    assert.equal(parseImageReference('Registry.Example/ml/x:1').name, 'registry.example/ml/x');
    assert.equal(parseImageReference('registry.example:443/ml/x:1').name, 'registry.example/ml/x');
    assert.equal(parseImageReference('registry.example:5000/ml/x:1').name, 'registry.example:5000/ml/x');
    assert.equal(parseImageReference('registry-1.docker.io/library/nginx').name, 'docker.io/library/nginx');
    assert.throws(() => parseImageReference('registry.example./ml/x'), code('IMAGE_REFERENCE_INVALID', /registry host/));
  });
  it('refuses what a runtime would not pull, with the reason', () => {
    assert.throws(() => parseImageReference('Registry.example/ML/x'), code('IMAGE_REFERENCE_INVALID', /path component "ML"/));
    assert.throws(() => parseImageReference('x@sha256:abc'), code('IMAGE_REFERENCE_INVALID', /is not sha256:<64 lowercase hex>/));
    assert.throws(() => parseImageReference(`x@sha512:${'a'.repeat(128)}`), code('IMAGE_REFERENCE_INVALID'));
    assert.throws(() => parseImageReference('x:'), code('IMAGE_REFERENCE_INVALID', /tag "" is not a valid tag/));
    assert.throws(() => parseImageReference('a b'), code('IMAGE_REFERENCE_INVALID', /white space/));
    assert.throws(() => parseImageReference(''), code('IMAGE_REFERENCE_INVALID', /empty/));
  });
  it('oci:// model URIs always name their registry', () => {
    assert.equal(parseOciUri('oci://127.0.0.1:5000/models/credit:v1').name, '127.0.0.1:5000/models/credit');
    assert.equal(parseOciUri('oci://127.0.0.1:5000/models/credit:v1').original, 'oci://127.0.0.1:5000/models/credit:v1');
    assert.throws(() => parseOciUri('oci://models/credit:v1'), code('IMAGE_REFERENCE_INVALID', /does not name a registry host/));
    assert.throws(() => parseOciUri('gs://bucket/model'), code('IMAGE_REFERENCE_INVALID', /not an oci:\/\/ reference/));
  });
  it('globs: * stays in one path component, ** crosses them, the rest is literal', () => {
    assert.equal(globMatch('127.0.0.1:5000/ml/*', '127.0.0.1:5000/ml/credit'), true);
    assert.equal(globMatch('127.0.0.1:5000/ml/*', '127.0.0.1:5000/ml/team/credit'), false);
    assert.equal(globMatch('127.0.0.1:5000/ml/**', '127.0.0.1:5000/ml/team/credit'), true);
    assert.equal(globMatch('127.0.0.1:5000/ml/*', '127.0.0.1:5001/ml/credit'), false);
    // '.' is literal: registry.example does not match registryXexample
    assert.equal(globMatch('registry.example/ml/*', 'registryXexample/ml/x'), false);
    // a glob for one registry never matches a Docker Hub image of the same path
    assert.equal(globMatch('registry.example/ml/*', parseImageReference('ml/x').name), false);
    assert.equal(globMatch('prod-*', 'prod-eu'), true);
    assert.equal(globMatch('prod-*', 'preprod-eu'), false);
  });
});

describe('artifacts of an object', () => {
  const spec = podSpec({ initContainers: ['i:1'], containers: ['a:1', 'b:1'], ephemeralContainers: ['e:1'] });
  it('finds containers, init and ephemeral containers of every workload kind', () => {
    const paths: Record<string, string> = {
      Pod: 'spec', Deployment: 'spec.template.spec', ReplicaSet: 'spec.template.spec', StatefulSet: 'spec.template.spec',
      DaemonSet: 'spec.template.spec', Job: 'spec.template.spec', CronJob: 'spec.jobTemplate.spec.template.spec',
    };
    for (const [kind, at] of Object.entries(paths)) {
      const found = findArtifacts(parseReview(review({ kind, object: workload(kind, 'x', 'ns', spec) })));
      assert.deepEqual(found.map((f) => [f.reference, f.field]), [
        ['i:1', `${at}.initContainers[0].image`], ['a:1', `${at}.containers[0].image`], ['b:1', `${at}.containers[1].image`], ['e:1', `${at}.ephemeralContainers[0].image`],
      ], kind);
    }
  });
  it('a kind in another group is not a workload (apps/Pod is not a Pod)', () => {
    const r = parseReview(review({ kind: 'Pod', object: workload('Pod', 'x', 'ns', spec) }));
    assert.equal(findArtifacts({ ...r, kind: { group: 'evil.example', version: 'v1', kind: 'Pod' } }).length, 0);
  });
  it('KServe: every storageUri and predictor container', () => {
    const r = parseReview(review({ kind: 'InferenceService', object: { spec: { predictor: { model: { storageUri: 'oci://h:1/m:v1' }, containers: [{ name: 'x', image: 'h:1/srv:v1' }] }, transformer: { containers: [{ name: 't', image: 'h:1/t:v1' }] } } } }));
    assert.deepEqual(findArtifacts(r).map((f) => [f.reference, f.field, f.kind]), [
      ['oci://h:1/m:v1', 'spec.predictor.model.storageUri', 'model'], ['h:1/srv:v1', 'spec.predictor.containers[0].image', 'image'], ['h:1/t:v1', 'spec.transformer.containers[0].image', 'image'],
    ]);
  });
  it('custom resource paths with [*]', () => {
    assert.deepEqual(splitPath('spec.models[*].uri'), ['spec', 'models', '[*]', 'uri']);
    const r = parseReview(review({ kind: 'ModelDeployment', object: { spec: { models: [{ uri: 'oci://h:1/a:1' }, { uri: 'oci://h:1/b:1' }] } } }));
    const found = findArtifacts(r, [{ group: 'ml.example.com', kind: 'ModelDeployment', paths: ['spec.models[*].uri'] }]);
    assert.deepEqual(found.map((f) => f.field), ['spec.models[0].uri', 'spec.models[1].uri']);
    assert.throws(() => findArtifacts(parseReview(review({ kind: 'ModelDeployment', object: { spec: { models: [{ uri: 7 }] } } })), [{ group: 'ml.example.com', kind: 'ModelDeployment', paths: ['spec.models[*].uri'] }]), code('ADMISSION_REVIEW_INVALID', /spec\.models\[0\]\.uri is not a reference string/));
  });
  it('unreadable shapes are errors, never "no images"', () => {
    const bad = (object: unknown, kind = 'Pod') => () => findArtifacts(parseReview(review({ kind, object })));
    assert.throws(bad({ spec: { containers: 'x' } }), code('ADMISSION_REVIEW_INVALID', /spec\.containers is not a list/));
    assert.throws(bad({}), code('ADMISSION_REVIEW_INVALID', /spec is missing/));
    assert.throws(bad({ spec: { template: 'x' } }, 'Deployment'), code('ADMISSION_REVIEW_INVALID'));
    assert.throws(bad({ spec: { containers: [{ name: 'a', image: '' }] } }), code('ADMISSION_REVIEW_INVALID', /containers\[0\]\.image is missing/));
    assert.throws(bad(null), code('ADMISSION_REVIEW_INVALID', /request\.object is missing/));
  });
});

describe('verdict cache and single flight', () => {
  it('entries expire at their TTL; a zero TTL stores nothing; the oldest go first', () => {
    let now = 1000;
    const c = new TtlCache<string>({ maxEntries: 2, now: () => now });
    c.set('a', 'A', 100);
    c.set('z', 'Z', 0);
    assert.equal(c.get('a'), 'A');
    assert.equal(c.get('z'), undefined);
    now = 1100;
    assert.equal(c.get('a'), undefined);
    c.set('a', 'A', 100);
    c.set('b', 'B', 100);
    c.set('c', 'C', 100);
    assert.equal(c.get('a'), undefined);
    assert.equal(c.get('c'), 'C');
  });
  it('concurrent calls of one key run once; a failure is not kept', async () => {
    const f = new SingleFlight<number>();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls = Array.from({ length: 5 }, () => f.run('k', async () => { runs++; await gate; return 42; }));
    release();
    assert.deepEqual(await Promise.all(calls), [42, 42, 42, 42, 42]);
    assert.equal(runs, 1);
    assert.equal(f.collapsed, 4);
    await assert.rejects(f.run('k', async () => { throw new Error('down'); }), /down/);
    assert.equal(await f.run('k', async () => 7), 7);
  });
});

describe('tag resolution', () => {
  it('a tag is re-resolved in the background past half its TTL and never used past it', async () => {
    const { AdmissionController } = await import('../src/decide.ts');
    const { AdmissionMetrics } = await import('../src/metrics.ts');
    let now = 0;
    let resolves = 0;
    let current = `sha256:${'1'.repeat(64)}`;
    const verified: string[] = [];
    const policy = { name: 'p', images: ['r.example/**'], mode: 'enforce', plainHttp: false, inspections: 'skip', layoutDigest: 'sha256:l', trustDigest: 'sha256:t', inspectionNames: [], layoutKeys: [] };
    const config = { policies: [policy], excludeNamespaces: [], customResources: [], noMatch: 'deny', deadlineMs: 1000, timeoutSeconds: 10, cache: { ttlSeconds: 300, failureTtlSeconds: 10, tagTtlSeconds: 10, maxEntries: 100 } };
    const c = new AdmissionController(config as never, {
      metrics: new AdmissionMetrics(),
      now: () => new Date(now),
      log: () => undefined,
      registry: {
        resolve: async () => { resolves++; return { mediaType: 'x', digest: current, size: 1 }; },
        attestations: async () => [],
      },
      verify: async (req) => {
        verified.push(req.subjectDigest);
        return { report: { verdict: 'pass', failure: null, warnings: [], checks: [] }, inputsRead: [], inspectionsSkipped: [] };
      },
    });
    const ask = async () => (await c.review(review({ kind: 'Pod', object: workload('Pod', 'x', 'ns', podSpec({ containers: ['r.example/app:v1'] })) }))).response;
    assert.equal((await ask()).allowed, true);
    assert.equal(resolves, 1);
    now = 4000;
    await ask();
    assert.equal(resolves, 1); // fresh: no registry call
    current = `sha256:${'2'.repeat(64)}`; // the tag moves
    now = 6000;
    await ask(); // past half the TTL: answered from the cache, refreshed in the background
    await new Promise((r) => setImmediate(r));
    assert.equal(resolves, 2);
    await ask();
    assert.deepEqual(verified, [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`]);
    now = 17_000; // past the TTL of the refreshed entry: resolved again before answering
    current = `sha256:${'3'.repeat(64)}`;
    await ask();
    assert.equal(resolves, 3);
    assert.equal(verified.at(-1), `sha256:${'3'.repeat(64)}`);
  });
});
