// kill -9 / SIGTERM at several points of `run`, `layout sign` and `pipeline run` (issue 12):
// never a partial file under a real name; SIGTERM leaves no temp file; what kill -9 leaves is a
// dotfile readers skip, and the next run removes it. The process is held at its renames with
// strace (test/helpers/stall.ts), so each kill lands exactly where the test says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../packages/sign/src/index.ts';
import { isTempFileName, parseAttestationFileName } from '../../packages/store/src/index.ts';
import { CUSTODY_BIN, custody } from '../helpers/cli.ts';
import { processTree } from '../../packages/engine/src/process-tree.ts';
import { alive, spawnStalledAtRenames, waitForTempFile, waitGone } from '../helpers/stall.ts';

function project(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'custody-kill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['owner', 'func']) {
    const pair = generateKeyPair('ed25519');
    writeFileSync(join(dir, name), pair.privatePem, { mode: 0o600 });
    writeFileSync(join(dir, `${name}.pub`), pair.publicPem);
  }
  writeFileSync(join(dir, 'in.txt'), 'hello\n');
  writeFileSync(join(dir, 'layout.yaml'), [
    'expires: 1y', 'keys:', '  func: func.pub', 'steps:',
    '  - name: build', '    pubkeys: [func]', '    run: [sh, -c, "cp in.txt mid.txt"]', '    expected_command: [sh, -c, "cp in.txt mid.txt"]',
    '    expected_products: ["CREATE mid.txt", "ALLOW *"]',
    '  - name: package', '    pubkeys: [func]', '    run: [sh, -c, "cp mid.txt out.txt"]', '    expected_command: [sh, -c, "cp mid.txt out.txt"]',
    '    expected_materials: ["MATCH mid.txt WITH PRODUCTS FROM build", "ALLOW *"]', 'inspect: []', '',
  ].join('\n'));
  writeFileSync(join(dir, 'custody.config.json'), JSON.stringify({ functionaries: { build: 'func', package: 'func' } }));
  return dir;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Every file under a real custody name is whole: it parses as the JSON it was written as. */
function assertNoPartialFile(dir: string): void {
  for (const f of allFiles(dir)) {
    const base = f.replace(/^.*\//, '');
    if (isTempFileName(base)) continue;
    if (parseAttestationFileName(base) || base.endsWith('.layout')) assert.doesNotThrow(() => JSON.parse(readFileSync(f, 'utf8')), f);
  }
}

const temps = (dir: string) => allFiles(dir).filter((f) => isTempFileName(f.replace(/^.*\//, '')));

async function stopAt(args: string[], cwd: string, tempIn: string, match: (n: string) => boolean, signal: NodeJS.Signals, delayMs = 800) {
  const run = spawnStalledAtRenames(process.execPath, [CUSTODY_BIN, ...args], { cwd, delayMs });
  const { name, pid } = await waitForTempFile(tempIn, match);
  process.kill(pid, signal);
  const exit = await run.exited;
  await waitGone(pid);
  return { name, exit, stderr: run.stderr() };
}

const RUN = ['run', '--step', 'build', '--key', 'func', '--materials', 'in.txt', '--products', 'mid.txt', '--', 'sh', '-c', 'cp in.txt mid.txt'];

test('custody run: kill -9 as the link is renamed leaves no link and a temp file the next run removes', async (t) => {
  const dir = project(t);
  const { name } = await stopAt(RUN, dir, dir, (n) => n.includes('.link.'), 'SIGKILL');
  assert.deepEqual(readdirSync(dir).filter((n) => parseAttestationFileName(n)), [], 'no file under a real name');
  assert.ok(existsSync(join(dir, name)));
  assertNoPartialFile(dir);
  // readers skip it: verify's attestation listing and push's filter use the naming module
  assert.equal(parseAttestationFileName(name), undefined);
  const again = await custody(RUN, { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(temps(dir), []);
  const link = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.link'))!), 'utf8'));
  assert.deepEqual(Object.keys(link.signed.materials), ['in.txt']);
  assertNoPartialFile(dir);
});

test('custody run: SIGTERM as an attestation is renamed, and while the command runs: no temp file, no half set', async (t) => {
  const dir = project(t);
  const r = await stopAt(RUN, dir, dir, (n) => n.includes('.sigstore.json.'), 'SIGTERM');
  assert.ok(r.exit.signal === 'SIGTERM' || r.exit.code === 143, JSON.stringify(r.exit));
  assert.deepEqual(temps(dir), []);
  // the link written just before is removed with the rest of its set
  assert.deepEqual(readdirSync(dir).filter((n) => parseAttestationFileName(n)), []);

  const sleeping = spawnStalledAtRenames(process.execPath, [CUSTODY_BIN, 'run', '--step', 's', '--key', 'func', '--', 'sh', '-c', 'echo started > started.txt; sleep 30'], { cwd: dir });
  const deadline = Date.now() + 20_000;
  while (!existsSync(join(dir, 'started.txt')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  // strace → custody → sh → sleep: SIGTERM to custody alone stops the command's whole tree
  let tree = processTree(sleeping.child.pid!);
  while (tree.length < 4 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 10));
    tree = processTree(sleeping.child.pid!);
  }
  const [, custodyPid, ...command] = tree;
  assert.ok(command.length >= 2, `sh and sleep under custody: ${command.join(', ')}`);
  const started = Date.now();
  process.kill(custodyPid, 'SIGTERM');
  await sleeping.exited;
  assert.ok(Date.now() - started < 10_000, `the command ran on to its end (tree ${tree.join(' ')}; ${sleeping.stderr()})`);
  for (const pid of [custodyPid, ...command]) assert.equal(alive(pid), false, `process ${pid} still runs`);
  assert.deepEqual(temps(dir), []);
  assert.deepEqual(readdirSync(dir).filter((n) => parseAttestationFileName(n)), []);
});

test('custody layout sign: kill -9 and SIGTERM before the rename never leave a partial root.layout', async (t) => {
  const dir = project(t);
  const args = ['layout', 'sign', '--key', 'owner', '--format', 'dsse', 'layout.yaml', '-o', 'root.layout'];
  const term = await stopAt(args, dir, dir, (n) => n.startsWith('.root.layout.'), 'SIGTERM');
  assert.ok(term.exit.signal === 'SIGTERM' || term.exit.code === 143, JSON.stringify(term.exit));
  assert.equal(existsSync(join(dir, 'root.layout')), false);
  assert.deepEqual(temps(dir), []);
  await stopAt(args, dir, dir, (n) => n.startsWith('.root.layout.'), 'SIGKILL');
  assert.equal(existsSync(join(dir, 'root.layout')), false);
  assert.equal(temps(dir).length, 1);
  const again = await custody(args, { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(temps(dir), []);
  assertNoPartialFile(dir);
});

test('custody pipeline run: kill -9 in the second step, SIGTERM in the first; the next run completes and verifies', async (t) => {
  const dir = project(t);
  const signed = await custody(['layout', 'sign', '--key', 'owner', '--format', 'dsse', 'layout.yaml', '-o', 'root.layout'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  const store = join(dir, '.custody');
  const args = ['pipeline', 'run', 'root.layout', '--layout-key', 'owner.pub'];

  const term = await stopAt(args, dir, store, (n) => n.startsWith('.build.'), 'SIGTERM', 400);
  assert.ok(term.exit.signal === 'SIGTERM' || term.exit.code === 143, JSON.stringify(term.exit));
  assert.deepEqual(temps(dir), []);
  assert.deepEqual(readdirSync(store).filter((n) => n.startsWith('build.')), []);

  await stopAt(args, dir, store, (n) => n.startsWith('.package.'), 'SIGKILL', 400);
  assertNoPartialFile(dir);
  assert.equal(readdirSync(store).filter((n) => n.startsWith('package.')).length, 0, readdirSync(store).join(', '));
  assert.ok(readdirSync(store).includes(readdirSync(store).find((n) => /^build\.[0-9a-f]{8}\.link$/.test(n)) ?? 'missing build link'));
  assert.equal(temps(dir).length, 1);

  const again = await custody(args, { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /PASS/);
  assert.deepEqual(temps(dir), []);
  assertNoPartialFile(dir);
});
