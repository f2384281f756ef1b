// Bad scanner output through the CLI: one line on stderr naming the file and the problem, exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { custody } from '../../../test/helpers/cli.ts';

const BAD: [string, unknown, string[], RegExp][] = [
  ['grype.json', { matches: [{ vulnerability: { id: 'X' }, artifact: { name: 'a' } }], descriptor: { name: 'grype' } }, [], /grype report: matches\[0\]\.artifact\.version is not a non-empty string$/],
  ['trivy.json', { SchemaVersion: 2, ArtifactName: 'x', Results: [{ Vulnerabilities: [{ PkgName: 'a', InstalledVersion: '1' }] }] }, [], /trivy report: Results\[0\]\.Vulnerabilities\[0\]\.VulnerabilityID is not a non-empty string$/],
  ['scan.sarif', { version: '2.1.0', runs: [{ tool: { driver: {} }, results: [] }] }, [], /sarif report: runs\[0\]\.tool\.driver\.name is not a non-empty string$/],
  ['cdx.json', { bomFormat: 'CycloneDX', specVersion: '1.6', vulnerabilities: [{ id: 'CVE-1', affects: [] }] }, [], /cyclonedx report: vulnerabilities\[0\]\.affects is empty/],
  ['osv-scanner.json', { results: [{ packages: [{ package: { name: 'a' }, vulnerabilities: [{ summary: 'no id' }] }] }] }, [], /osv-scanner report: results\[0\]\.packages\[0\]\.vulnerabilities\[0\]\.id is not a non-empty string$/],
  ['osv-db.json', [{ id: 'A', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm' } }] }], ['--dir', '.'], /OSV database: \[0\]\.affected\[0\]\.package needs ecosystem and name strings$/],
  ['vex.json', { '@context': 'https://openvex.dev/ns/v0.2.0', statements: [{ vulnerability: { name: 'CVE-1' }, status: 'fine', products: [{ '@id': 'pkg:npm/a' }] }] }, [], /OpenVEX report: statements\[0\]\.status 'fine' is not an OpenVEX status$/],
];

test('custody evidence vulns: a bad report, OSV export or VEX document is one line naming the file, exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'custody-vulns-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ok-grype.json'), JSON.stringify({ matches: [], descriptor: { name: 'grype', version: '0.74.0', db: { built: '2026-11-29T00:00:00Z' } } }));
  await writeFile(join(dir, 'not-json.json'), '{"matches": [');
  for (const [file, doc, extra, re] of BAD) {
    await writeFile(join(dir, file), JSON.stringify(doc));
    const args = file === 'osv-db.json' ? ['--osv', file, ...extra] : file === 'vex.json' ? ['--report', 'ok-grype.json', '--vex', file] : ['--report', file];
    const r = await custody(['evidence', 'vulns', ...args], { cwd: dir });
    assert.equal(r.code, 2, `${file}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0].startsWith(`custody: ${join(dir, file)}: `), lines[0]);
    assert.match(lines[0], re);
  }
  const r = await custody(['evidence', 'vulns', '--report', 'not-json.json'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^custody: .*not-json\.json: plugin 'vulns' failed in postProduct: scanner report is not JSON: .*\n$/);
  const ok = await custody(['evidence', 'vulns', '--report', 'ok-grype.json', '--json'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).predicate.scanner.result, []);
});
