// Terminal output of the built CLI: colours and Unicode marks on a terminal only (NO_COLOR,
// FORCE_COLOR respected), a compact tree by default, --verbose, --quiet, and a quiet exit 0 when
// the reader closes the pipe early. The terminal is a real pseudo-terminal (util-linux `script`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CUSTODY_BIN, custody, runCommand } from '../helpers/cli.ts';
import { streamStyle } from '../../packages/cli/src/output.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-terminal-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const env = (extra: Record<string, string | undefined>): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm', ...extra };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
};

async function must(args: string[]): Promise<void> {
  const r = await custody(args, { cwd: root, env: env({}) });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
}

/** A two-step supply chain: write-code creates src/app.py, package tars it. */
const ready = (async () => {
  await must(['keygen', 'owner']);
  await must(['keygen', 'alice']);
  writeFileSync(join(root, 'app.py'), 'print("hi")\n');
  await must(['run', '--step', 'write-code', '--key', 'alice', '--products', 'app.py', '--no-command']);
  await must(['run', '--step', 'package', '--key', 'alice', '--materials', 'app.py', '--products', 'app.py', '--', 'true']);
  writeFileSync(join(root, 'layout.yaml'), [
    'expires: 30d', 'keys: [alice.pub]', 'steps:',
    '  - name: write-code', '    pubkeys: [alice]', '    expected_products: [CREATE app.py, DISALLOW *]',
    '  - name: package', '    pubkeys: [alice]', '    expected_command: "true"',
    '    expected_materials: [MATCH app.py WITH PRODUCTS FROM write-code, DISALLOW *]',
    '    expected_products: [MATCH app.py WITH PRODUCTS FROM write-code, DISALLOW *]', '',
  ].join('\n'));
  await must(['layout', 'sign', '--key', 'owner', 'layout.yaml', '-o', 'root.layout']);
})();

const VERIFY = ['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub'];

/** Runs the CLI with stdout on a pseudo-terminal; returns what the terminal showed. */
async function onTerminal(args: string[], extra: Record<string, string | undefined> = {}): Promise<{ code: number; out: string }> {
  const quoted = [process.execPath, CUSTODY_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await runCommand('script', ['-qec', `stty cols 200; ${quoted}`, '/dev/null'], { cwd: root, env: env(extra) });
  return { code: r.code, out: r.stdout.replace(/\r\n/g, '\n') };
}

test('into a pipe: no colour codes, ASCII marks, one line per passing step', async () => {
  await ready;
  const r = await custody(VERIFY, { cwd: root, env: env({}) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'custody verify root.layout: PASS',
    `  ok   layout signature  signed by ${r.stdout.match(/signed by ([0-9a-f]{8})/)![1]}`,
    r.stdout.split('\n')[2],
    `  ok   step write-code  signed by ${r.stdout.match(/step write-code  signed by ([0-9a-f]{8})/)![1]}; products 2 rules, 1 artifact`,
    `  ok   step package     signed by ${r.stdout.match(/step write-code  signed by ([0-9a-f]{8})/)![1]}; materials 2 rules, 1 artifact; products 2 rules, 1 artifact`,
    'PASSED', '',
  ].join('\n'));
  assert.match(r.stdout.split('\n')[2], /^ {2}ok {3}layout expiry {5}expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('on a terminal: colours and Unicode marks; NO_COLOR keeps the marks, drops the colours', async () => {
  await ready;
  const tty = await onTerminal(VERIFY);
  assert.equal(tty.code, 0, tty.out);
  assert.match(tty.out, /\x1b\[32m✓\x1b\[0m \x1b\[1mstep write-code\x1b\[0m/);
  assert.match(tty.out, /\x1b\[1;32mPASSED\x1b\[0m\n$/);
  const noColor = await onTerminal(VERIFY, { NO_COLOR: '1' });
  assert.equal(noColor.code, 0, noColor.out);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(noColor.out, /\x1b\[[0-9;]*m/);
  assert.match(noColor.out, /^ {2}✓ step write-code {2}signed by [0-9a-f]{8} · products 2 rules, 1 artifact$/m);
  // stripped of its colours, the terminal shows exactly what NO_COLOR shows
  // eslint-disable-next-line no-control-regex
  assert.equal(tty.out.replace(/\x1b\[[0-9;]*m/g, ''), noColor.out);
  const forcedOff = await onTerminal(VERIFY, { FORCE_COLOR: '0' });
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(forcedOff.out, /\x1b\[[0-9;]*m/);
});

test('FORCE_COLOR colours a pipe too (CI logs that render ANSI)', async () => {
  await ready;
  const r = await custody(VERIFY, { cwd: root, env: env({ FORCE_COLOR: '1', NO_COLOR: '1' }) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\x1b\[32m✓\x1b\[0m \x1b\[1mstep package\x1b\[0m/);
});

test('--verbose: every step in full with every consumed artifact; --quiet: the verdict line alone', async () => {
  await ready;
  const v = await custody([...VERIFY, '--verbose'], { cwd: root, env: env({}) });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /\n {2}step package\n {4}ok {3}links {8}1 file\(s\), threshold 1: package\.[0-9a-f]{8}\.link\n/);
  assert.match(v.stdout, /\n {8}ok {3}MATCH app\.py WITH PRODUCTS FROM write-code {2}consumed 1: app\.py\n/);
  const q = await custody([...VERIFY, '--quiet'], { cwd: root, env: env({}) });
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stdout, 'PASSED\n');
  // a failure: exit 1, the one line says what failed where
  writeFileSync(join(root, 'tampered.yaml'), 'x');
  const broken = mkdtempSync(join(root, 'broken-'));
  const r = await custody([...VERIFY.map((a) => (a === 'root.layout' || a === 'owner.pub' ? join(root, a) : a)), '--quiet'], { cwd: broken, env: env({}) });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^FAILED LINK_NOT_FOUND at links \(write-code\): .*\n$/);
  assert.equal(r.stdout.split('\n').length, 2);
});

/** The CLI with its stdout closed by the reader before it writes (what `| head -1` does to a long output). */
function closedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CUSTODY_BIN, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: env({}) });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a reader that closes the pipe early: exit 0, no EPIPE stack trace', async () => {
  await ready;
  for (const args of [['plugins', 'list'], VERIFY, ['--help']]) {
    const r = await closedPipe(args);
    assert.deepEqual(r, { code: 0, stderr: '' }, args.join(' '));
  }
  const head = await runCommand('sh', ['-c', `'${process.execPath}' '${CUSTODY_BIN}' plugins list | head -1; echo "exit $?"`], { cwd: root, env: env({}) });
  assert.equal(head.stderr, '');
  assert.match(head.stdout, /^.+\nexit 0\n$/);
});

test('colour decisions: NO_COLOR, FORCE_COLOR, TERM=dumb', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.deepEqual(streamStyle(tty, {}), { color: true, symbols: true });
  assert.deepEqual(streamStyle(pipe, {}), { color: false, symbols: false });
  assert.deepEqual(streamStyle(tty, { NO_COLOR: '1' }), { color: false, symbols: true });
  assert.deepEqual(streamStyle(tty, { NO_COLOR: '' }), { color: true, symbols: true }); // empty means unset (no-color.org)
  assert.deepEqual(streamStyle(pipe, { FORCE_COLOR: '1' }), { color: true, symbols: true });
  assert.deepEqual(streamStyle(pipe, { FORCE_COLOR: '3', NO_COLOR: '1' }), { color: true, symbols: true });
  assert.deepEqual(streamStyle(tty, { FORCE_COLOR: '0' }), { color: false, symbols: true });
  assert.deepEqual(streamStyle(tty, { FORCE_COLOR: 'false' }), { color: false, symbols: true });
  assert.deepEqual(streamStyle(tty, { TERM: 'dumb' }), { color: false, symbols: false });
});
