// Golden outputs of the verify tree, from real reports of the demo pipeline (`custody verify
// --json`): the clean run, the weights replaced before build-image (ATLAS AML.T0018), and a base
// model that is not the approved one (a failed predicate rule). UPDATE_GOLDEN=1 rewrites them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderVerdictLine, renderVerificationTree } from '../src/verify/index.ts';
import type { TreeOptions, VerificationReport } from '../src/verify/index.ts';

const dir = new URL('./fixtures/render/', import.meta.url);
const report = (name: string): VerificationReport => JSON.parse(readFileSync(new URL(`demo-${name}.report.json`, dir), 'utf8'));

const TERMINAL: TreeOptions = { color: true, symbols: true };
const LOG: TreeOptions = { color: false, symbols: false };

function golden(file: string, actual: string): void {
  const url = new URL(file, dir);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(url, actual);
  assert.equal(actual, readFileSync(url, 'utf8'), `${file} differs (UPDATE_GOLDEN=1 rewrites it after review)`);
}

const cases: [string, string, TreeOptions][] = [
  ['pass', 'tty', TERMINAL], ['pass', 'log', LOG], ['pass', 'verbose', { ...LOG, verbose: true }],
  ['fail', 'tty', TERMINAL], ['fail', 'log', LOG], ['pred', 'log', LOG], ['pred', 'verbose', { ...LOG, verbose: true }],
];
for (const [name, kind, opts] of cases) {
  test(`golden tree: demo-${name}, ${kind}`, () => {
    golden(`demo-${name}.${kind}.txt`, renderVerificationTree(report(name), 'custody verify root.layout', opts));
  });
}

test('the compact tree of a passing 5-step demo fits a screen: one line per step', () => {
  const lines = renderVerificationTree(report('pass'), 'custody verify root.layout', LOG).trimEnd().split('\n');
  // title, layout signature, layout expiry, 5 steps, 1 inspection, verdict
  assert.equal(lines.length, 10, lines.join('\n'));
  assert.equal(lines.at(-1), 'PASSED');
  assert.ok(lines.every((l) => !/consumed \d+:/.test(l)), 'no artifact lists for passing steps');
  const verbose = renderVerificationTree(report('pass'), 'custody verify root.layout', { ...LOG, verbose: true });
  // --verbose lists every consumed artifact: the three image blobs are all there, untruncated
  assert.match(verbose, /CREATE image\/blobs\/sha256\/\*  consumed 3: image\/blobs\/sha256\/[0-9a-f]{64}, image\/blobs\/sha256\/[0-9a-f]{64}, image\/blobs\/sha256\/[0-9a-f]{64}\n/);
  assert.ok(verbose.split('\n').length > 100);
});

test('a failing step is shown in full; what passed in it is one line each', () => {
  const tree = renderVerificationTree(report('fail'), 'custody verify root.layout', LOG);
  assert.match(tree, /\n {2}FAIL step build-image\n {4}ok {3}signers {6}1\/1 required: [0-9a-f]{8}\n {4}FAIL materials\n/);
  assert.match(tree, /\n {8}FAIL DISALLOW model\/\*\n {12}'DISALLOW model\/\*' matched the following artifacts: \['model\/model\.safetensors'\]/);
  assert.match(tree, /\nFAILED ARTIFACT_RULE at artifact-rules \(build-image\): /);
});

test('no colour codes unless asked; ASCII marks for logs, Unicode for a terminal', () => {
  const log = renderVerificationTree(report('fail'), 't', LOG);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(log, /\x1b\[/);
  assert.doesNotMatch(log, /[✓✗]/);
  const plainTerminal = renderVerificationTree(report('fail'), 't', { symbols: true });
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(plainTerminal, /\x1b\[/);
  assert.match(plainTerminal, /✗ step build-image/);
  const tty = renderVerificationTree(report('fail'), 't', TERMINAL);
  assert.match(tty, /\x1b\[1;31m✗\x1b\[0m \x1b\[1mstep build-image\x1b\[0m/);
  // stripped of colour codes, the terminal tree is the plain-symbols tree
  // eslint-disable-next-line no-control-regex
  assert.equal(tty.replace(/\x1b\[[0-9;]*m/g, ''), plainTerminal);
});

test('the verdict line alone (--quiet)', () => {
  assert.equal(renderVerdictLine(report('pass')), 'PASSED');
  assert.match(renderVerdictLine(report('fail')), /^FAILED ARTIFACT_RULE at artifact-rules \(build-image\): 'DISALLOW model\/\*' matched/);
  const warned: VerificationReport = { ...report('pass'), warnings: ['a', 'b'] };
  assert.equal(renderVerdictLine(warned), 'PASSED with 2 warnings');
  assert.equal(renderVerdictLine(warned, { color: true }), '\x1b[1;32mPASSED\x1b[0m\x1b[33m with 2 warnings\x1b[0m');
});

test('artifact names cannot drive the terminal, in the compact tree too', () => {
  const r = report('fail');
  const evil = JSON.parse(JSON.stringify(r).replaceAll('build-image', 'build\\u001b[2Jimage')) as VerificationReport;
  const tree = renderVerificationTree(evil, 't', TERMINAL);
  assert.doesNotMatch(tree, /\x1b\[2J/);
  assert.match(tree, /build\\x1b\[2Jimage/);
});
