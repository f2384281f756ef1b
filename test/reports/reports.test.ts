// `custody verify --html` and `--sarif`: SARIF 2.1.0 (validated against the standard's
// structure), and one self-contained HTML page rendered in headless Chromium (Debian's
// `chromium`), whose screenshot shows the verdict and the layout graph. The reports are made
// from real reports of the demo pipeline (packages/core/test/fixtures/render) and, end to end,
// from the CLI on a small supply chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { REPO_ROOT, custody } from '../helpers/cli.ts';
import { parseLayoutDocument } from '../../packages/core/src/index.ts';
import type { VerificationReport } from '../../packages/core/src/index.ts';
import { layoutSvg, renderHtmlReport, renderSarif } from '../../packages/engine/src/report/index.ts';

const root = mkdtempSync(join(tmpdir(), 'custody-reports-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const fixture = (name: string): VerificationReport => JSON.parse(readFileSync(join(REPO_ROOT, `packages/core/test/fixtures/render/demo-${name}.report.json`), 'utf8'));
const demoLayout = parseLayoutDocument(readFileSync(join(REPO_ROOT, 'layouts/ml-pipeline.yaml'), 'utf8'), 'ml-pipeline.yaml');
const NOW = new Date('2026-12-01T12:00:00Z');

const req = createRequire(join(REPO_ROOT, 'packages/engine/package.json'));
const AjvModule = req('ajv');
const addFormats = req('ajv-formats');
const ajv = new (AjvModule.default ?? AjvModule)({ allErrors: true, strict: false });
(addFormats.default ?? addFormats)(ajv);
const validateSarif = ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'test/reports/sarif-2.1.0-subset.schema.json'), 'utf8')));

type Sarif = { runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: { logicalLocations?: { name: string }[] }[] }[] }[] };

test('SARIF 2.1.0: a passing verification has no results; every failed check is one result with its rule id', () => {
  const pass = renderSarif(fixture('pass'), { layoutFile: 'root.layout', toolVersion: '0.1.0' }) as unknown as Sarif;
  assert.ok(validateSarif(pass), JSON.stringify(validateSarif.errors));
  assert.deepEqual(pass.runs[0].results, []);
  for (const [name, code, step, message] of [
    ['fail', 'ARTIFACT_RULE', 'build-image', /'DISALLOW model\/\*' matched the following artifacts: \['model\/model\.safetensors'\]/],
    ['pred', 'PREDICATE_RULE', 'fetch-model', /0 of 1 required https:\/\/custody\.dev\/attestation\/model\/v0\.1 claims passed/],
  ] as const) {
    const sarif = renderSarif(fixture(name), { layoutFile: 'dir with space/root.layout', toolVersion: '0.1.0' }) as unknown as Sarif;
    assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors));
    const run = sarif.runs[0];
    const errors = run.results.filter((r) => r.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(run.results));
    assert.equal(errors[0].ruleId, code);
    assert.equal(run.tool.driver.rules[errors[0].ruleIndex].id, code);
    assert.equal(errors[0].locations[0].logicalLocations?.[0].name, step);
    assert.match(errors[0].message.text, message);
    assert.match(JSON.stringify(sarif), /"uri": ?"dir%20with%20space\/root\.layout"/);
  }
  // warnings (a command that differs from expected_command) are results of level warning
  const warned = { ...fixture('pass'), warnings: ["Step 'train' (train.bff0d62a.link): run command '['x']' differs from expected command '['y']'"] };
  const w = renderSarif(warned, { layoutFile: 'root.layout', toolVersion: '0.1.0' }) as unknown as Sarif;
  assert.ok(validateSarif(w), JSON.stringify(validateSarif.errors));
  assert.deepEqual(w.runs[0].results.map((r) => [r.ruleId, r.level, r.locations[0].logicalLocations?.[0].name]), [['COMMAND_MISMATCH', 'warning', 'train']]);
  // the structural check rejects what SARIF does not allow
  assert.equal(validateSarif({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ ruleId: 'X', level: 'fatal', message: { text: 'm' } }] }] }), false);
  assert.equal(validateSarif({ version: '2.1.0', runs: [{ tool: { driver: {} } }] }), false);
});

test('HTML: self-contained (no scripts, nothing loaded), failures first, everything escaped', async () => {
  const report = fixture('fail');
  const html = renderHtmlReport(report, { layoutFile: 'root.layout', graphSvg: await layoutSvg(demoLayout, report), now: NOW, toolVersion: '0.1.0' });
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|\bsrc=|url\(/i);
  assert.doesNotMatch(html, /href="(?!#)/, 'links only within the page');
  assert.match(html, /<h1 id="verdict">✗ FAIL<\/h1>/);
  // what failed comes before the graph, the proven facts and the steps; the failing step leads the steps
  const at = (s: string): number => html.indexOf(s);
  assert.ok(at('id="failures"') < at('id="graph"') && at('id="graph"') < at('id="proven"') && at('id="proven"') < at('id="steps"'));
  assert.ok(at('id="step-build-image"') < at('id="step-fetch-model"'));
  assert.match(html, /<details class="step fail step" id="step-build-image" open>/);
  // what was proven: the weights train created are the ones bias-test read; build-image's are not claimed
  assert.match(html, /<tr><td><code>model\/model\.safetensors<\/code><\/td><td>train<\/td><td>bias-test materials = train products<br>bias-test products = train products<\/td><\/tr>/);
  // the graph: every step, inline SVG, build-image drawn as failed
  assert.match(html, /<svg\b/);
  const svg = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
  // (Graphviz writes '-' as &#45; in SVG text)
  for (const step of ['fetch-model', 'fetch-data', 'train', 'bias-test', 'build-image', 'inspect-image']) assert.match(svg, new RegExp(`>${step.replace('-', '(-|&#45;)')}<`), step);
  assert.match(html, /fill="#f9d3cf"/);
  // an artifact name cannot inject markup
  const evil = JSON.parse(JSON.stringify(report).replaceAll('model/config.json', 'model/<script>alert(1)</script>.json')) as VerificationReport;
  const page = renderHtmlReport(evil, { layoutFile: '"><script>', now: NOW, toolVersion: '0.1.0' });
  assert.doesNotMatch(page, /<script/i);
  assert.match(page, /model\/&lt;script&gt;alert\(1\)&lt;\/script&gt;\.json/);
});

/** Width, height and RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes). */
function decodePng(buf: Buffer): { width: number; height: number; rgb: (x: number, y: number) => [number, number, number] } {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG file');
  let off = 8;
  let width = 0; let height = 0; let channels = 3;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      assert.ok(data[9] === 2 || data[9] === 6, `colour type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[y * stride + i - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) { const p = a + b - c; const pa = Math.abs(p - a); const pb = Math.abs(p - b); const pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      pixels[y * stride + i] = v & 0xff;
    }
  }
  return { width, height, rgb: (x, y) => [pixels[y * stride + x * channels], pixels[y * stride + x * channels + 1], pixels[y * stride + x * channels + 2]] };
}

function hex(c: string): [number, number, number] {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

/** Pixels of exactly this colour in a band of rows. */
function count(png: ReturnType<typeof decodePng>, colour: string, fromY = 0, toY = png.height): number {
  const [r, g, b] = hex(colour);
  let n = 0;
  for (let y = fromY; y < Math.min(toY, png.height); y++) for (let x = 0; x < png.width; x++) { const p = png.rgb(x, y); if (p[0] === r && p[1] === g && p[2] === b) n++; }
  return n;
}

/** Headless Chromium, offline, fresh profile: a screenshot of the page. */
function screenshot(htmlFile: string, name: string): ReturnType<typeof decodePng> {
  const profile = mkdtempSync(join(root, 'chromium-profile-'));
  const png = join(root, `${name}.png`);
  const r = spawnSync('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--hide-scrollbars', '--window-size=1280,1100',
    `--screenshot=${png}`, `file://${htmlFile}`,
  ], { encoding: 'utf8', timeout: 60_000 });
  assert.ok(existsSync(png), `chromium wrote no screenshot (exit ${r.status}): ${r.stderr?.slice(-1500)}`);
  return decodePng(readFileSync(png));
}

test('HTML in headless Chromium: the screenshot shows the verdict banner and the layout graph', async () => {
  const dir = join(root, 'html');
  mkdirSync(dir);
  for (const [name, banner, node] of [['pass', '#188038', '#cdebd5'], ['fail', '#c5221f', '#f9d3cf']] as const) {
    const report = fixture(name);
    const file = join(dir, `${name}.html`);
    writeFileSync(file, renderHtmlReport(report, { layoutFile: 'root.layout', graphSvg: await layoutSvg(demoLayout, report), now: NOW, toolVersion: '0.1.0' }));
    const png = screenshot(file, name);
    assert.equal(png.width, 1280);
    // the verdict banner fills the top of the page in the verdict's colour
    assert.ok(count(png, banner, 0, 60) > 1280 * 40, `${name}: no ${banner} banner at the top`);
    assert.equal(count(png, name === 'pass' ? '#c5221f' : '#188038', 0, 60), 0, `${name}: the other verdict's colour in the banner`);
    // the graph's nodes are drawn (their fill colours are used nowhere else on the page)
    const nodes = count(png, node, 60);
    assert.ok(nodes > (name === 'pass' ? 2000 : 300), `${name}: graph nodes not visible (${nodes} px of ${node})`);
    if (name === 'fail') assert.ok(count(png, '#cdebd5', 60) > 2000, 'the passing steps are drawn too');
  }
});

test('custody verify --html FILE --sarif FILE on a supply chain; bad output paths are one line, exit 2', async () => {
  const dir = join(root, 'cli');
  mkdirSync(dir);
  const run = async (args: string[]) => custody(args, { cwd: dir });
  for (const k of ['owner', 'alice']) assert.equal((await run(['keygen', k])).code, 0);
  writeFileSync(join(dir, 'app.py'), 'print(1)\n');
  assert.equal((await run(['run', '--step', 'write', '--key', 'alice', '--products', 'app.py', '--no-command'])).code, 0);
  writeFileSync(join(dir, 'layout.yaml'), 'expires: 30d\nkeys: [alice.pub]\nsteps:\n  - name: write\n    pubkeys: [alice]\n    expected_products: [CREATE app.py, DISALLOW *]\n');
  assert.equal((await run(['layout', 'sign', 'layout.yaml', '--key', 'owner', '-o', 'root.layout'])).code, 0);
  const ok = await run(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--html', 'report.html', '--sarif', 'report.sarif', '--quiet']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'PASSED\n');
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /<h1 id="verdict">✓ PASS<\/h1>/);
  assert.match(html, /<svg\b[\s\S]*write[\s\S]*<\/svg>/);
  const sarif = JSON.parse(readFileSync(join(dir, 'report.sarif'), 'utf8'));
  assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors));
  assert.deepEqual(sarif.runs[0].results, []);
  // tampered: the product is not what write created
  writeFileSync(join(dir, 'app.py'), 'print(2)\n');
  writeFileSync(join(dir, 'extra.txt'), 'x');
  assert.equal((await run(['run', '--step', 'write', '--key', 'alice', '--products', 'app.py', 'extra.txt', '--no-command'])).code, 0);
  const bad = await run(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--sarif', 'failed.sarif', '--html', 'failed.html', '--quiet']);
  assert.equal(bad.code, 1, bad.stderr);
  const failed = JSON.parse(readFileSync(join(dir, 'failed.sarif'), 'utf8'));
  assert.ok(validateSarif(failed), JSON.stringify(validateSarif.errors));
  assert.deepEqual(failed.runs[0].results.map((r: { ruleId: string; level: string }) => [r.ruleId, r.level]), [['ARTIFACT_RULE', 'error']]);
  assert.match(readFileSync(join(dir, 'failed.html'), 'utf8'), /<h1 id="verdict">✗ FAIL<\/h1>[\s\S]*DISALLOW \*/);
  const nowhere = await run(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--html', 'no/such/dir/r.html', '--quiet']);
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /^custody: no\/such\/dir\/r\.html: .+\n$/);
});

test('custody layout graph --format svg|html: functionaries, plugins, predicate rules; one edge per pair of steps; IN prefixes', async () => {
  const dir = join(root, 'graph');
  mkdirSync(dir);
  writeFileSync(join(dir, 'layout.yaml'), [
    'expires: 30d', 'keys: [alice.pub]', 'steps:',
    '  - name: build', '    pubkeys: [alice]', '    plugins: [git]', '    expected_products: [CREATE dist/*, DISALLOW *]',
    '    expectedPredicates:', '      - predicateType: https://example.com/test/v1', '        expectedAttributes: [{ rule: "predicate.passed == true" }]',
    '  - name: package', '    pubkeys: [alice]',
    '    expected_materials: [MATCH * IN dist WITH PRODUCTS IN dist FROM build, MATCH dist/a WITH PRODUCTS FROM build, DISALLOW *]',
    '    expected_products: [MATCH * IN dist WITH PRODUCTS IN dist FROM build, DISALLOW *]', '',
  ].join('\n'));
  const svg = await custody(['layout', 'graph', 'layout.yaml', '--format', 'svg'], { cwd: dir });
  assert.equal(svg.code, 0, svg.stderr);
  assert.match(svg.stdout, /^<svg\b[\s\S]*<\/svg>\n$/);
  assert.equal(svg.stdout.match(/class="edge"/g)?.length, 1, 'build → package once, however many MATCH rules');
  const text = svg.stdout.replace(/&#45;/g, '-').replace(/&gt;/g, '>').replace(/&#160;/g, ' ');
  for (const s of ['* IN dist (products IN dist → materials)', 'dist/a (products → materials)', '* IN dist (products IN dist → products)', '1 of 1: alice', 'plugins: git', 'rule: predicate.passed == true']) {
    assert.ok(text.includes(s), `${s} not in the SVG`);
  }
  const html = await custody(['layout', 'graph', 'layout.yaml', '--format', 'html'], { cwd: dir });
  assert.equal(html.code, 0, html.stderr);
  assert.match(html.stdout, /^<!doctype html>[\s\S]*<svg\b[\s\S]*<code>predicate\.passed == true<\/code>[\s\S]*<\/html>\n$/);
  assert.doesNotMatch(html.stdout, /<script|\bsrc=/i);
});
