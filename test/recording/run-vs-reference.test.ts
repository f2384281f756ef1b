// `custody run` / `custody record` against the in-toto 1.3.1 reference on identical folders:
// same materials, products, command and byproducts; links the reference accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicKeyFromSslib } from '../../packages/core/src/index.ts';
import { custody, runCommand, SYSTEM_PYTHON } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-recording-'));
const keyPath = join(root, 'func');
let keyid = '';

async function keys(): Promise<void> {
  if (keyid) return;
  const r = await runCommand('in-toto-keygen', ['-t', 'ed25519', keyPath]);
  assert.equal(r.code, 0, r.stderr);
  keyid = publicKeyFromSslib(JSON.parse(readFileSync(`${keyPath}.pub`, 'utf8'))).keyid;
}

function tree(name: string): string {
  const d = join(root, name);
  const w = (p: string, c: string) => {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), c);
  };
  w('src/main.py', 'print("hi")\n');
  w('src/lib/util.py', 'x = 1\n');
  w('src/lib/util.pyc', 'bytecode');
  w('data/train.csv', 'a,b\n1,2\n');
  w('data/notes~', 'backup');
  w('old.link', '{}');
  w('.git/HEAD', 'ref: refs/heads/main\n');
  w('build/keep', '');
  symlinkSync('data', join(d, 'data-link'));
  symlinkSync('src/main.py', join(d, 'main-link.py'));
  symlinkSync('nowhere', join(d, 'dangling'));
  return d;
}

function loadLink(dir: string, step: string): { signed: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(dir, `${step}.${keyid.slice(0, 8)}.link`), 'utf8'));
}

const CMD = ['sh', '-c', 'mkdir -p build && cp data/train.csv build/model.bin && echo trained && echo warn >&2'];

const cases: [string, string[]][] = [
  ['defaults', ['-m', '.', '-p', '.']],
  ['streams recorded', ['-m', 'src', 'data', '-p', 'build', '--record-streams']],
  ['excludes replace defaults', ['-m', '.', '-p', '.', '--exclude', '*.py', 'build/']],
  ['lstrip', ['-m', 'src', 'data', '-p', 'build', '--lstrip-paths', 'src/', 'build/']],
  ['base path', ['-m', 'lib', '-p', '.', '--base-path', 'src']],
  ['nested, symlinked and missing paths', ['-m', 'data-link', 'main-link.py', 'src/lib', '-p', 'build', 'missing-product', 'dangling']],
];

test('custody run records what in-toto-run records', async (t) => {
  await keys();
  for (const [name, args] of cases) {
    await t.test(name, async () => {
      const slug = name.replace(/\W+/g, '-');
      const a = tree(`${slug}-custody`);
      const b = tree(`${slug}-reference`);
      const ours = await custody(['run', '-n', 'step', '-k', keyPath, '--no-attest', ...args, '--', ...CMD], { cwd: a });
      assert.equal(ours.code, 0, ours.stderr);
      const ref = await runCommand('in-toto-run', ['-n', 'step', '-k', keyPath, '-t', 'ed25519', ...args, '--', ...CMD], { cwd: b });
      assert.equal(ref.code, 0, ref.stderr);
      const x = loadLink(a, 'step').signed;
      const y = loadLink(b, 'step').signed;
      assert.deepEqual(x, y);
    });
  }
});

test('the reference verifies custody links (metablock) and reads them as its model', async () => {
  await keys();
  const d = tree('verify-by-reference');
  const r = await custody(['run', '-n', 'vstep', '-k', keyPath, '-m', '.', '-p', '.', '--record-streams', '--', 'sh', '-c', 'printf "line1\\nline2\\ttab é\\n"'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  const script = `
import sys
from in_toto.models.metadata import Metablock
from securesystemslib.interface import import_ed25519_publickey_from_file
mb = Metablock.load(sys.argv[1])
mb.verify_signature(import_ed25519_publickey_from_file(sys.argv[2]))
print(mb.signed.byproducts["stdout"], end="")
`;
  const v = await runCommand(SYSTEM_PYTHON, ['-c', script, join(d, `vstep.${keyid.slice(0, 8)}.link`), `${keyPath}.pub`]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, 'line1\nline2\ttab é\n');
});

test('custody record start/stop and in-toto-record finish each other\'s steps', async () => {
  await keys();
  // custody start → reference stop
  const a = tree('record-a');
  let r = await custody(['record', 'start', '-n', 'obs', '-k', keyPath, '-m', 'src'], { cwd: a });
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(join(a, 'build/out.txt'), 'made by hand');
  r = await runCommand('in-toto-record', ['stop', '-n', 'obs', '-k', keyPath, '-t', 'ed25519', '-p', 'build'], { cwd: a });
  assert.equal(r.code, 0, r.stderr);
  // reference start → custody stop
  const b = tree('record-b');
  r = await runCommand('in-toto-record', ['start', '-n', 'obs', '-k', keyPath, '-t', 'ed25519', '-m', 'src'], { cwd: b });
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(join(b, 'build/out.txt'), 'made by hand');
  r = await custody(['record', 'stop', '-n', 'obs', '-k', keyPath, '-p', 'build', '--no-attest'], { cwd: b });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(loadLink(a, 'obs'), loadLink(b, 'obs'));
  for (const d of [a, b]) assert.ok(!readdirSync(d).some((f) => f.endsWith('.link-unfinished')));
  // stop without start
  r = await custody(['record', 'stop', '-n', 'never', '-k', keyPath, '-p', 'build'], { cwd: b });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^custody: \.never\.[0-9a-f]{8}\.link-unfinished: no preliminary link/);
});

test('the command\'s exit code is custody\'s, and the link is still written', async () => {
  await keys();
  const d = tree('exit-code');
  const r = await custody(['run', '-n', 'fails', '-k', keyPath, '--no-attest', '-p', '.', '--', 'sh', '-c', 'exit 42'], { cwd: d });
  assert.equal(r.code, 42);
  const link = loadLink(d, 'fails').signed as { byproducts: Record<string, unknown> };
  assert.equal(link.byproducts['return-value'], 42);
});

test('DSSE links with --format dsse', async () => {
  await keys();
  const d = tree('dsse');
  const r = await custody(['run', '-n', 'ds', '-k', keyPath, '--format', 'dsse', '--no-attest', '-m', 'src', '--', 'true'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  const env = JSON.parse(readFileSync(join(d, `ds.${keyid.slice(0, 8)}.link`), 'utf8'));
  assert.equal(env.payloadType, 'application/vnd.in-toto+json');
  const body = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
  assert.equal(body._type, 'link');
  assert.deepEqual(Object.keys(body.materials).sort(), ['src/lib/util.py', 'src/main.py']);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
