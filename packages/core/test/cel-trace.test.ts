import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, evaluateRule, learnTraceProfile, parseTraceProfile, traceHelpers, tracePathMatches } from '../src/index.ts';

const access = (name: string, modes: string[], workspacePath?: string, given?: string[]) => ({ name, annotations: { modes, digests: {}, ...(workspacePath ? { workspacePath } : {}), ...(given ? { given } : {}) } });
const predicate = {
  monitorLog: {
    process: [
      { pid: 1, ppid: null, exe: '/usr/bin/node', sha256: 'a'.repeat(64), argv: ['node', 'train.mjs'], cwd: '/w', exit: { code: 0 } },
      { pid: 2, ppid: 1, exe: '/bin/cat', argv: ['cat'], cwd: '/w', exit: { code: 0 }, execs: [{ exe: '/bin/sh', sha256: null }, { exe: '/bin/cat', sha256: null }] },
    ],
    network: [
      { op: 'connect', family: 'inet', protocol: 'tcp', ip: '127.0.0.1', port: 8080, results: ['ok'], count: 1 },
      { op: 'connect', family: 'inet6', protocol: 'tcp', ip: '::1', port: 443, results: ['ok'], count: 1 },
      { op: 'connect', family: 'unix', protocol: 'unix', path: '/run/docker.sock', results: ['ok'], count: 1 },
    ],
    fileAccess: [
      access('/w/train.mjs', ['read'], 'train.mjs'),
      access('/w/data/x.csv', ['read', 'write'], 'data/x.csv'),
      access('/w/secret.csv', ['read'], 'secret.csv'),
      access('/w/model/w.bin', ['create', 'write'], 'model/w.bin'),
      access('/w/tmp.bin', ['create', 'write', 'delete'], 'tmp.bin'),
      access('/w/scratch.txt', ['create', 'write'], 'scratch.txt'),
      access('/etc/hosts', ['read']),
      access('/home/u/.aws/credentials', ['read']),
      access('/opt/link', ['read'], undefined, ['/srv/ci/.ssh/id_ed25519']),
      access('/tmp/out.bin', ['create', 'write']),
      { name: '/w/model/w.bin.tmp-1', annotations: { modes: ['create', 'write', 'rename'], workspacePath: 'model/w.bin.tmp-1', renamedTo: ['/w/model/w.bin'], digests: {} } },
      { name: '/w/model/x.tmp', annotations: { modes: ['create', 'write', 'rename'], workspacePath: 'model/x.tmp', renamedTo: ['/w/elsewhere.bin'], digests: {} } },
    ],
    summarized: [],
    dns: [{ name: 'example.com', servers: [] }],
  },
  findings: [{ kind: 'changed-during-step', path: '/w/data/x.csv' }],
};
const link = { materials: { 'train.mjs': {}, 'data/x.csv': {} }, products: { 'train.mjs': {}, 'data/x.csv': {}, 'model/w.bin': {} } };

test('trace helpers name every offender', () => {
  const h = traceHelpers;
  assert.deepEqual(h.traceExecutables(predicate), ['/bin/cat', '/bin/sh', '/usr/bin/node']);
  assert.deepEqual(h.traceUnexpectedExecutables(predicate, ['/usr/bin/node', '/bin/c*']), ['/bin/sh']);
  assert.deepEqual(h.traceReadsOutside(predicate, ['/etc/']), ['/home/u/.aws/credentials', '/opt/link']);
  assert.deepEqual(h.traceWritesOutside(predicate, []), ['/tmp/out.bin']);
  assert.deepEqual(h.traceUndeclaredReads(predicate, link), ['secret.csv']);
  assert.deepEqual(h.traceUndeclaredWrites(predicate, link), ['model/x.tmp', 'scratch.txt', 'tmp.bin'], 'an atomic write onto a product is that product');
  assert.deepEqual(h.traceWritesToMaterials(predicate, link), ['data/x.csv']);
  assert.deepEqual(h.traceCredentialReads(predicate), ['/home/u/.aws/credentials', '/srv/ci/.ssh/id_ed25519']);
  assert.deepEqual(h.traceNetwork(predicate), ['connect tcp 127.0.0.1:8080', 'connect tcp [::1]:443', 'connect unix:/run/docker.sock', 'dns example.com']);
  assert.deepEqual(h.traceNetworkOutside(predicate, ['127.0.0.1:8080', '::1', 'example.com']), ['connect unix:/run/docker.sock']);
  assert.deepEqual(h.traceFindings(predicate), ['changed-during-step /w/data/x.csv']);
  assert.ok(tracePathMatches('/usr/**/x', '/usr/a/b/x') && !tracePathMatches('/usr/*/x', '/usr/a/b/x') && tracePathMatches('/etc/', '/etc/a/b'));
});

test('learned profile: a run within it has no drift; anything more is named', () => {
  const profile = learnTraceProfile(predicate, 'train');
  assert.deepEqual(profile.network, ['127.0.0.1:8080', '[::1]:443', 'example.com', 'unix:/run/docker.sock']);
  assert.deepEqual(traceHelpers.traceDrift(predicate, parseTraceProfile(profile)), []);
  const reduced = { ...profile, executables: [{ path: '/usr/bin/node', sha256: 'b'.repeat(64) }, { path: '/bin/*' }], readOutside: ['/etc/hosts'], writtenOutside: [], network: [] };
  assert.deepEqual(traceHelpers.traceDrift(predicate, reduced), [
    'executable /usr/bin/node changed (sha256 aaaaaaaaaaaa…, approved bbbbbbbbbbbb…)',
    'new read outside the workspace /home/u/.aws/credentials',
    'new read outside the workspace /opt/link',
    'new write outside the workspace /tmp/out.bin',
    'new network peer connect tcp 127.0.0.1:8080',
    'new network peer connect tcp [::1]:443',
    'new network peer connect unix:/run/docker.sock',
    'new network peer dns example.com',
  ]);
  assert.throws(() => parseTraceProfile({ readOutside: [] }, 'p.yaml'), (e: { code: string; message: string }) => e.code === 'SCHEMA_INVALID' && e.message === 'not a trace profile: no approved trace profile for this step in the layout (traceProfile)');
});

test('in CEL: a failed rule shows what the helper returned; an unbound link or missing profile is an error, not a pass', () => {
  const rule = compileRule('traceUndeclaredReads(predicate, link) == []');
  const failed = evaluateRule(rule, { subject: [], predicateType: 't', predicate, link });
  assert.equal(failed.verdict, 'fail');
  assert.deepEqual(failed.observed, { 'traceUndeclaredReads(predicate, link)': ['secret.csv'] });
  const unbound = evaluateRule(rule, { subject: [], predicateType: 't', predicate, link: null });
  assert.equal(unbound.verdict, 'error');
  assert.equal(unbound.missingAttribute, false);
  assert.match(unbound.error!, /the trace is not bound to this step's link/);
  const drift = evaluateRule(compileRule('traceDrift(predicate, profile) == []'), { subject: [], predicateType: 't', predicate, profile: null });
  assert.equal(drift.verdict, 'error');
  assert.match(drift.error!, /no approved trace profile for this step in the layout/);
  assert.equal(evaluateRule(compileRule("traceCredentialReads(predicate) == []"), { subject: [], predicateType: 't', predicate: { other: 1 } }).verdict, 'error');
});
