// ATLAS attacks on a traced training step, caught at verify time by layouts/traced-train.yaml's
// trace rules, each with its reason (the offender by name) and its ATLAS technique.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody, REPO_ROOT } from '../../../test/helpers/cli.ts';

const TRAIN = `
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
const rows = readFileSync('data/train.csv', 'utf8').trim().split('\\n').length;
const attack = process.env.ATTACK ?? '';
if (attack === 'interpreter') execFileSync('/usr/bin/python3', ['-c', 'pass']);
if (attack === 'credentials') readFileSync(process.env.PLANTED, 'utf8');
if (attack === 'outside') writeFileSync(process.env.OUTSIDE, 'stolen weights');
if (attack === 'network') await new Promise((res) => { const s = connect(Number(process.env.PORT), '127.0.0.1', () => { s.end(); res(); }); s.on('error', res); });
mkdirSync('model', { recursive: true });
writeFileSync('model/weights.bin', String(rows));
`;

let root: string;
let template: string;
let node: string;
let server: Server;
let port: number;

before(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'custody-trace-atlas-')));
  template = join(root, 'template');
  mkdirSync(join(template, 'data'), { recursive: true });
  mkdirSync(join(template, 'keys'));
  writeFileSync(join(template, 'data', 'train.csv'), 'a,b\n1,2\n3,4\n');
  writeFileSync(join(template, 'train.mjs'), TRAIN);
  cpSync(join(REPO_ROOT, 'layouts', 'traced-train.yaml'), join(template, 'traced-train.yaml'));
  for (const k of ['owner', 'trainer']) assert.equal((await custody(['keygen', join('keys', k)], { cwd: template })).code, 0);
  const signed = await custody(['layout', 'sign', 'traced-train.yaml', '--key', 'keys/owner', '--format', 'dsse', '-o', 'root.layout'], { cwd: template });
  assert.equal(signed.code, 0, signed.stderr);
  node = execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
  // the planted credentials, in a home folder of their own (never the real one)
  mkdirSync(join(root, 'home', '.aws'), { recursive: true });
  writeFileSync(join(root, 'home', '.aws', 'credentials'), '[default]\naws_secret_access_key = planted\n');
  server = createServer((s) => s.end());
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  port = (server.address() as { port: number }).port;
});

after(() => {
  server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

let runs = 0;
type Verdict = { code: number; failure?: { code: string; check: string; step?: string; message: string }; stderr: string; ws: string };
async function trainAndVerify(attack: string, layout = 'root.layout'): Promise<Verdict> {
  const ws = join(root, `${attack || 'clean'}-${++runs}`);
  cpSync(template, ws, { recursive: true });
  const env = { ...process.env, ATTACK: attack, PLANTED: join(root, 'home', '.aws', 'credentials'), OUTSIDE: join(root, 'outside.bin'), PORT: String(port) };
  const run = await custody(['run', '--step', 'train', '--key', 'keys/trainer', '--plugin', 'trace', '--materials', 'train.mjs', 'data', '--products', 'model', '--', 'node', 'train.mjs'], { cwd: ws, env });
  assert.equal(run.code, 0, run.stderr);
  const v = await custody(['verify', '--layout', layout, '--layout-key', 'keys/owner.pub', '--param', `NODE=${node}`, '--json'], { cwd: ws });
  const report = JSON.parse(v.stdout) as { failure: { code: string; check: string; step?: string; message: string } | null };
  return { code: v.code, ...(report.failure ? { failure: report.failure } : {}), stderr: v.stderr, ws };
}

let cleanRun: string | undefined;

test('clean: the traced train step passes every trace rule', async () => {
  const r = await trainAndVerify('');
  assert.equal(r.code, 0, JSON.stringify(r.failure));
  cleanRun = r.ws;
});

test('trace learn: a profile of the clean run; a later run that does more is reported as drift', async () => {
  assert.ok(cleanRun, 'the clean run ran first');
  const trace = readdirSync(cleanRun!).find((f) => /^train\.[0-9a-f]{8}\.trace\.sigstore\.json$/.test(f))!;
  const learn = await custody(['trace', 'learn', join(cleanRun!, trace), '--key', 'keys/trainer.pub', '-o', 'train.trace-profile.yaml'], { cwd: template });
  assert.equal(learn.code, 0, learn.stderr);
  assert.match(learn.stdout, /^train\.trace-profile\.yaml: 1 executable, \d+ read and 0 written outside the step folder, 0 network peer\(s\)\n$/);
  const profile = readFileSync(join(template, 'train.trace-profile.yaml'), 'utf8');
  assert.match(profile, /^# custody trace profile of step train, learned from train\.[0-9a-f]{8}\.trace\.sigstore\.json\./);
  assert.ok(profile.includes(`- path: ${node}\n    sha256: `), profile);
  // a forged key cannot teach a profile
  const wrongKey = await custody(['trace', 'learn', join(cleanRun!, trace), '--key', 'keys/owner.pub', '-o', 'x.yaml'], { cwd: template });
  assert.equal(wrongKey.code, 1);
  writeFileSync(join(template, 'drift.yaml'), [
    'expires: "2030-01-01T00:00:00Z"',
    'keys: { owner: "./keys/owner.pub", trainer: "./keys/trainer.pub" }',
    'steps:',
    '  - name: train',
    '    pubkeys: [trainer]',
    '    traceProfile: ./train.trace-profile.yaml',
    '    expectedPredicates:',
    '      - predicateType: "https://in-toto.io/attestation/runtime-trace/v0.1"',
    '        expectedAttributes:',
    '          - rule: "traceDrift(predicate, profile) == []"',
    '            debug: "the run stays within the approved profile"',
    '            atlas: AML.T0050',
    '',
  ].join('\n'));
  const signed = await custody(['layout', 'sign', 'drift.yaml', '--key', 'keys/owner', '--format', 'dsse', '-o', 'drift.layout'], { cwd: template });
  assert.equal(signed.code, 0, signed.stderr);
  assert.equal((await trainAndVerify('', 'drift.layout')).code, 0, 'a clean run has no drift');
  const r = await trainAndVerify('interpreter', 'drift.layout');
  assert.equal(r.code, 1);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.ok(r.failure!.message.includes('traceDrift(predicate, profile) == []: the run stays within the approved profile (rule is false) [ATLAS AML.T0050] (saw {"traceDrift(predicate, profile)":["new executable /usr/bin/python3",'), r.failure!.message);
  assert.ok(r.failure!.message.includes('"new read outside the workspace /usr/bin/python3"'), r.failure!.message);
});

test('AML.T0050 Command and Scripting Interpreter: train shells out to python', async () => {
  const r = await trainAndVerify('interpreter');
  assert.equal(r.code, 1);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.equal(r.failure?.step, 'train');
  assert.match(r.failure!.message, /traceUnexpectedExecutables\(predicate, \['[^']+'\]\) == \[\]: train runs node and nothing else: no shell, no other interpreter \(rule is false\) \[ATLAS AML\.T0050\] \(saw \{"traceUnexpectedExecutables\(predicate, \[\\"[^"]+\\"\]\)":\["\/usr\/bin\/python3"\]\}\)/);
});

test('AML.T0055 Unsecured Credentials: train reads a planted ~/.aws/credentials', async () => {
  const r = await trainAndVerify('credentials');
  assert.equal(r.code, 1);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.ok(r.failure!.message.includes(`traceCredentialReads(predicate) == []: no credential file is touched (~/.ssh, ~/.aws, cloud and hub tokens) (rule is false) [ATLAS AML.T0055] (saw {"traceCredentialReads(predicate)":["${join(root, 'home', '.aws', 'credentials')}"]})`), r.failure!.message);
});

test('AML.T0025 Exfiltration via Cyber Means: train connects to a port on 127.0.0.1 that is not allowed', async () => {
  const r = await trainAndVerify('network');
  assert.equal(r.code, 1);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.ok(r.failure!.message.includes(`traceNetworkOutside(predicate, []) == []: train uses no network at all (rule is false) [ATLAS AML.T0025] (saw {"traceNetworkOutside(predicate, [])":["connect tcp 127.0.0.1:${port}"]})`), r.failure!.message);
});

test('AML.M0005: train writes outside its folder', async () => {
  const r = await trainAndVerify('outside');
  assert.equal(r.code, 1);
  assert.equal(r.failure?.code, 'PREDICATE_RULE');
  assert.ok(r.failure!.message.includes(`traceWritesOutside(predicate, []) == []: train writes nothing outside its folder (rule is false) [ATLAS AML.M0005] (saw {"traceWritesOutside(predicate, [])":["${join(root, 'outside.bin')}"]})`), r.failure!.message);
  assert.equal(readFileSync(join(root, 'outside.bin'), 'utf8'), 'stolen weights');
});
