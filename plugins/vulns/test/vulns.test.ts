import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustodyError } from '@custody/core';
import {
  applyVex, compareApk, compareDpkg, comparePep440, compareSemver, cvss3BaseScore, inRange, matchOsv, packageOfPurl,
  readOsvDatabase, readScanReport, readVex, vulnsPredicate, VULNS_PREDICATE_SCHEMA, type SbomPackage,
} from '../src/index.ts';

const OSV_DEMO = fileURLToPath(new URL('../../../packages/demo/data/osv/osv-demo.json', import.meta.url));

function ordered(compare: (a: string, b: string) => number, list: string[]) {
  for (let i = 0; i < list.length; i++) {
    for (let j = 0; j < list.length; j++) {
      const want = Math.sign(i - j);
      assert.equal(Math.sign(compare(list[i], list[j])), want, `${list[i]} vs ${list[j]}`);
    }
  }
}

test('PEP 440 ordering: dev < pre < final < post, epochs, local versions, trailing zeros, spellings', () => {
  ordered(comparePep440, ['1.0.dev0', '1.0a1', '1.0a2.dev1', '1.0a2', '1.0b1', '1.0rc1', '1.0', '1.0.post1.dev0', '1.0.post1', '1.0.post1+local.1', '1.0.post1+local.2', '1.0.1', '1.1', '2.10', '2.10.1', '2.11', '10.0', '1!0.1']);
  assert.equal(comparePep440('1.0', '1.0.0'), 0);
  assert.equal(comparePep440('1.0-ALPHA-1', '1.0a1'), 0);
  assert.equal(comparePep440('1.0-1', '1.0.post1'), 0);
  assert.equal(comparePep440('v2.10', '2.10'), 0);
  assert.throws(() => comparePep440('2.x', '1'), /not a PEP 440 version/);
});

test('dpkg ordering: epochs, ~ before everything, letters before other symbols, revisions', () => {
  ordered(compareDpkg, ['1.0~rc1', '1.0', '1.0-1', '1.0-1+deb12u1', '1.0-2', '1.0a', '1.0+b1', '1.1', '1.10', '1:0.9']);
  assert.equal(compareDpkg('0:1.2-3', '1.2-3'), 0);
  assert.equal(compareDpkg('1.01', '1.1'), 0, 'numbers compare numerically');
  assert.throws(() => compareDpkg('x1.0', '1.0'), /not a Debian version/);
});

test('SemVer (npm) and apk ordering', () => {
  ordered(compareSemver, ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-beta', '1.0.0-rc.1', '1.0.0', '4.17.19', '4.17.20', '4.17.21', '10.0.0']);
  ordered(compareApk, ['1.2.3_alpha1', '1.2.3_rc1', '1.2.3', '1.2.3-r1', '1.2.3_p1', '1.2.3a', '1.2.4', '1.10']);
  assert.throws(() => compareSemver('4.17', '4.17.0'), /not a SemVer version/);
});

test('OSV ranges: introduced/fixed/last_affected/limit, unsorted events, several intervals', () => {
  const r = (events: object[]) => ({ type: 'ECOSYSTEM' as const, events });
  const c = comparePep440;
  assert.equal(inRange('2.10', r([{ introduced: '0' }, { fixed: '2.10.1' }]), c), true);
  assert.equal(inRange('2.10.1', r([{ introduced: '0' }, { fixed: '2.10.1' }]), c), false);
  assert.equal(inRange('1.5', r([{ fixed: '2.0' }, { introduced: '1.0' }, { introduced: '3.0' }, { fixed: '3.1' }]), c), true);
  assert.equal(inRange('2.5', r([{ fixed: '2.0' }, { introduced: '1.0' }, { introduced: '3.0' }, { fixed: '3.1' }]), c), false);
  assert.equal(inRange('3.0.1', r([{ fixed: '2.0' }, { introduced: '1.0' }, { introduced: '3.0' }, { fixed: '3.1' }]), c), true);
  assert.equal(inRange('1.4', r([{ introduced: '1.0' }, { last_affected: '1.4' }]), c), true);
  assert.equal(inRange('1.4.1', r([{ introduced: '1.0' }, { last_affected: '1.4' }]), c), false);
  assert.equal(inRange('0.9', r([{ introduced: '1.0' }]), c), false);
  assert.equal(inRange('5.0', r([{ introduced: '1.0' }, { limit: '5.0' }]), c), false);
});

const pkgs = (...purls: string[]) => purls.map((p) => packageOfPurl(p)!) as SbomPackage[];

test('the matcher flags the planted versions of the demo OSV export, and only those', () => {
  const db = readOsvDatabase(JSON.parse(readFileSync(OSV_DEMO, 'utf8')), OSV_DEMO);
  assert.equal(db.lastUpdate, '2026-11-30T12:00:00.000Z');
  const { findings, uncertain } = matchOsv(pkgs('pkg:pypi/jinja2@2.10', 'pkg:npm/lodash@4.17.20', 'pkg:pypi/jinja2@3.1.4', 'pkg:npm/lodash@4.17.21', 'pkg:npm/%40scope/lodash@1.0.0'), db);
  assert.deepEqual(uncertain, []);
  assert.deepEqual(findings.map((f) => `${f.id} ${f.package!.purl} ${f.severity}`), [
    'GHSA-35jh-r3h4-6jhm pkg:npm/lodash@4.17.20 HIGH',
    'GHSA-462w-v97r-4m45 pkg:pypi/jinja2@2.10 HIGH',
    'GHSA-g3rq-g295-4j3m pkg:pypi/jinja2@2.10 MEDIUM',
  ]);
  assert.deepEqual(findings.find((f) => f.id === 'GHSA-462w-v97r-4m45')!.fixedIn, ['2.10.1']);
  // PEP 503 names: the SBOM's Jinja2 is the advisory's jinja2
  assert.equal(matchOsv(pkgs('pkg:pypi/Jinja2@2.10.0'), db).findings.length, 2);
});

test('matcher: Debian records by source package and release, withdrawn records skipped, unorderable versions reported', () => {
  const db = readOsvDatabase([
    { id: 'DEBIAN-CVE-1', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }] }], database_specific: { severity: 'CRITICAL' } },
    { id: 'DEBIAN-CVE-2', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:11', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] }] },
    { id: 'GONE', modified: '2026-01-01T00:00:00Z', withdrawn: '2026-01-02T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }] },
    { id: 'ODD', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'y' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.0' }] }] }] },
  ], 'db.json');
  const libssl = packageOfPurl('pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12', 'openssl')!;
  const fixed = packageOfPurl('pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12', 'openssl')!;
  const r = matchOsv([libssl, fixed, ...pkgs('pkg:npm/x@1.0.0', 'pkg:npm/y@1.0')], db);
  assert.deepEqual(r.findings.map((f) => `${f.id} ${f.package!.version}`), ['DEBIAN-CVE-1 3.0.11-1~deb12u1', 'ODD 1.0']);
  assert.match(r.findings[1].uncertain!, /'1.0' is not a SemVer version/);
  assert.deepEqual(r.uncertain, ["ODD pkg:npm/y@1.0: '1.0' is not a SemVer version"]);
});

function invalid(fn: () => unknown, code: string, re: RegExp, file: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CustodyError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  });
}

test('OSV database: bad records are one clear error naming the path', () => {
  invalid(() => readOsvDatabase({ nope: 1 }, 'db.json'), 'SCAN_REPORT_INVALID', /OSV database: \(document\) is not a list of OSV records/, 'db.json');
  invalid(() => readOsvDatabase([{ id: 'A', modified: 'yesterday' }], 'db.json'), 'SCAN_REPORT_INVALID', /\[0\]\.modified is not an RFC 3339 timestamp \(A\)/, 'db.json');
  invalid(() => readOsvDatabase([{ id: 'A', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'RANGE', events: [] }] }] }], 'db.json'), 'SCAN_REPORT_INVALID', /\[0\]\.affected\[0\]\.ranges\[0\]\.type 'RANGE' is not SEMVER, ECOSYSTEM or GIT/, 'db.json');
  invalid(() => readOsvDatabase([{ id: 'A', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events: [{ fixed: '1.0.0', introduced: '0' }] }] }] }], 'db.json'), 'SCAN_REPORT_INVALID', /must have exactly one of introduced, fixed/, 'db.json');
});

const GRYPE = {
  matches: [{
    vulnerability: { id: 'GHSA-35jh-r3h4-6jhm', severity: 'High', cvss: [{ version: '3.1', vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', metrics: { baseScore: 7.2 } }], fix: { versions: ['4.17.21'], state: 'fixed' } },
    relatedVulnerabilities: [{ id: 'CVE-2021-23337' }],
    artifact: { name: 'lodash', version: '4.17.20', type: 'npm', purl: 'pkg:npm/lodash@4.17.20' },
  }],
  descriptor: { name: 'grype', version: '0.74.0', timestamp: '2026-11-30T10:00:00Z', db: { built: '2026-11-29T01:02:03Z', schemaVersion: 5, location: '/root/.cache/grype/db/5' } },
};
const TRIVY = {
  SchemaVersion: 2, CreatedAt: '2026-11-30T10:00:00.123456789Z', ArtifactName: 'image', ArtifactType: 'container_image',
  Results: [{ Target: 'Python', Class: 'lang-pkgs', Type: 'python-pkg', Vulnerabilities: [{ VulnerabilityID: 'CVE-2019-10906', PkgName: 'Jinja2', PkgIdentifier: { PURL: 'pkg:pypi/jinja2@2.10' }, InstalledVersion: '2.10', FixedVersion: '2.10.1', Severity: 'HIGH', CVSS: { nvd: { V3Score: 8.6 } } }] }, { Target: 'os', Class: 'os-pkgs' }],
};
const SARIF = {
  version: '2.1.0', $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
  runs: [{
    tool: { driver: { name: 'Trivy', version: '0.56.2', informationUri: 'https://github.com/aquasecurity/trivy', rules: [{ id: 'CVE-2019-10906', properties: { 'security-severity': '8.6' } }] } },
    results: [{ ruleId: 'CVE-2019-10906', level: 'error', message: { text: 'Package: Jinja2\nInstalled Version: 2.10\nVulnerability CVE-2019-10906\nSeverity: HIGH\nFixed Version: 2.10.1' } }],
  }],
};
const CDX = {
  bomFormat: 'CycloneDX', specVersion: '1.6', metadata: { timestamp: '2026-11-30T10:00:00Z', tools: { components: [{ type: 'application', name: 'cdxgen', version: '11.0.0' }] } },
  components: [{ type: 'library', 'bom-ref': 'pkg:pypi/jinja2@2.10', name: 'jinja2', version: '2.10', purl: 'pkg:pypi/jinja2@2.10' }],
  vulnerabilities: [{ id: 'GHSA-462w-v97r-4m45', ratings: [{ severity: 'high', score: 8.6, method: 'CVSSv3' }], affects: [{ ref: 'pkg:pypi/jinja2@2.10' }], analysis: { state: 'not_affected', justification: 'code_not_reachable' } }],
};
const OSV_SCANNER = {
  results: [{ source: { path: '/app/requirements.txt', type: 'lockfile' }, packages: [{ package: { name: 'jinja2', version: '2.10', ecosystem: 'PyPI' }, vulnerabilities: [JSON.parse(readFileSync(OSV_DEMO, 'utf8'))[0]] }] }],
};

test('each scanner format reads into the same findings', () => {
  const g = readScanReport(GRYPE, 'g.json');
  assert.equal(g.format, 'grype');
  assert.deepEqual([g.scanner.uri, g.scanner.version, g.scanner.db.lastUpdate, g.scanner.db.version], ['pkg:github/anchore/grype@0.74.0', '0.74.0', '2026-11-29T01:02:03.000Z', '5']);
  assert.deepEqual(g.findings.map((f) => [f.id, f.package?.purl, f.severity, f.aliases, f.fixedIn]), [['GHSA-35jh-r3h4-6jhm', 'pkg:npm/lodash@4.17.20', 'HIGH', ['CVE-2021-23337'], ['4.17.21']]]);
  const t = readScanReport(TRIVY, 't.json');
  assert.deepEqual([t.format, t.scanner.db.lastUpdate, t.finishedOn], ['trivy', undefined, '2026-11-30T10:00:00.123Z']);
  assert.deepEqual(t.findings.map((f) => [f.id, f.package?.name, f.package?.version, f.severity, f.fixedIn]), [['CVE-2019-10906', 'Jinja2', '2.10', 'HIGH', ['2.10.1']]]);
  const s = readScanReport(SARIF, 's.sarif');
  assert.deepEqual(s.findings.map((f) => [f.id, f.package?.name, f.package?.version, f.severity]), [['CVE-2019-10906', 'Jinja2', '2.10', 'HIGH']]);
  assert.equal(s.scanner.version, '0.56.2');
  const c = readScanReport(CDX, 'c.json');
  assert.deepEqual(c.findings.map((f) => [f.id, f.package?.purl, f.severity]), [['GHSA-462w-v97r-4m45', 'pkg:pypi/jinja2@2.10', 'HIGH']]);
  assert.deepEqual(c.vex.map((v) => [v.id, v.purl, v.state]), [['GHSA-462w-v97r-4m45', 'pkg:pypi/jinja2@2.10', 'not_affected']]);
  const o = readScanReport(OSV_SCANNER, 'o.json');
  assert.deepEqual(o.findings.map((f) => [f.id, f.package?.ecosystem, f.severity, f.aliases]), [['GHSA-462w-v97r-4m45', 'PyPI', 'HIGH', ['CVE-2019-10906']]]);
});

test('bad input for each format: one SCAN_REPORT_INVALID naming the file, the format and the field', () => {
  invalid(() => readScanReport({ hello: 'world' }, 'x.json'), 'SCAN_REPORT_INVALID', /not a scanner report custody reads/, 'x.json');
  invalid(() => readScanReport({ ...GRYPE, matches: [{ ...GRYPE.matches[0], artifact: { name: 'lodash' } }] }, 'g.json'), 'SCAN_REPORT_INVALID', /^grype report: matches\[0\]\.artifact\.version is not a non-empty string$/, 'g.json');
  invalid(() => readScanReport({ ...GRYPE, descriptor: { ...GRYPE.descriptor, db: { built: 'last tuesday' } } }, 'g.json'), 'SCAN_REPORT_INVALID', /grype report: descriptor\.db\.built 'last tuesday' is not an RFC 3339 timestamp/, 'g.json');
  invalid(() => readScanReport({ ...TRIVY, SchemaVersion: 1 }, 't.json'), 'SCAN_REPORT_INVALID', /trivy report: SchemaVersion is 1, only 2 is understood/, 't.json');
  invalid(() => readScanReport({ ...TRIVY, Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-1', PkgName: 'x' }] }] }, 't.json'), 'SCAN_REPORT_INVALID', /trivy report: Results\[0\]\.Vulnerabilities\[0\]\.InstalledVersion is not a non-empty string/, 't.json');
  invalid(() => readScanReport({ ...SARIF, runs: [{ ...SARIF.runs[0], results: [{ level: 'error', message: { text: 'x' } }] }] }, 's.sarif'), 'SCAN_REPORT_INVALID', /sarif report: runs\[0\]\.results\[0\]\.ruleId is missing/, 's.sarif');
  invalid(() => readScanReport({ ...SARIF, version: '2.0.0' }, 's.sarif', 'sarif'), 'SCAN_REPORT_INVALID', /sarif report: version is "2.0.0", not "2.1.0"/, 's.sarif');
  invalid(() => readScanReport({ ...CDX, vulnerabilities: [{ ...CDX.vulnerabilities[0], affects: [{ ref: 'nowhere' }] }] }, 'c.json'), 'SCAN_REPORT_INVALID', /cyclonedx report: vulnerabilities\[0\]\.affects\[0\]\.ref 'nowhere' names no component/, 'c.json');
  invalid(() => readScanReport({ ...CDX, vulnerabilities: [{ ...CDX.vulnerabilities[0], analysis: { state: 'fine' } }] }, 'c.json'), 'SCAN_REPORT_INVALID', /analysis\.state 'fine' is not a CycloneDX impact analysis state/, 'c.json');
  invalid(() => readScanReport({ results: [{ packages: [{ package: { version: '1' } }] }] }, 'o.json'), 'SCAN_REPORT_INVALID', /osv-scanner report: results\[0\]\.packages\[0\]\.package\.name is not a non-empty string/, 'o.json');
  invalid(() => readVex({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [{ vulnerability: { name: 'CVE-1' }, status: 'not_affected', products: [] }] }, 'v.json'), 'SCAN_REPORT_INVALID', /OpenVEX report: statements\[0\]\.products is empty/, 'v.json');
  invalid(() => readVex({ hello: 1 }, 'v.json'), 'SCAN_REPORT_INVALID', /OpenVEX report: @context is not a non-empty string/, 'v.json');
});

test('VEX: a statement applies to the same vulnerability (or alias) and package only; disagreeing statements → the unfavourable one', () => {
  const [f] = readScanReport(GRYPE, 'g.json').findings;
  const vex = (id: string, purl: string, status = 'not_affected') => readVex({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [{ vulnerability: { name: id }, status, justification: 'vulnerable_code_not_in_execute_path', products: [{ '@id': purl }] }] }, 'v.json');
  assert.equal(applyVex([f], vex('CVE-2021-23337', 'pkg:npm/lodash@4.17.20'))[0].vex?.state, 'not_affected', 'by alias');
  assert.equal(applyVex([f], vex('GHSA-35jh-r3h4-6jhm', 'pkg:npm/lodash'))[0].vex?.state, 'not_affected', 'a versionless purl covers every version');
  assert.equal(applyVex([f], vex('GHSA-35jh-r3h4-6jhm', 'pkg:npm/lodash@4.17.19'))[0].vex, undefined, 'another version');
  assert.equal(applyVex([f], vex('GHSA-35jh-r3h4-6jhm', 'pkg:npm/underscore@4.17.20'))[0].vex, undefined, 'another package');
  assert.equal(applyVex([f], vex('GHSA-other', 'pkg:npm/lodash@4.17.20'))[0].vex, undefined, 'another vulnerability');
  assert.equal(applyVex([f], [...vex('GHSA-35jh-r3h4-6jhm', 'pkg:npm/lodash@4.17.20'), ...vex('GHSA-35jh-r3h4-6jhm', 'pkg:npm/lodash', 'affected')])[0].vex?.state, 'affected');
});

test('the predicate: in-toto vulns v0.1, normalized severity first, package and VEX in annotations; no DB time is an error', async () => {
  const Ajv = (await import('ajv')).default as unknown as new (o: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } };
  const validate = new Ajv({ strict: false, allErrors: true }).compile(VULNS_PREDICATE_SCHEMA);
  const g = readScanReport(GRYPE, 'g.json');
  const p = vulnsPredicate(g, { startedOn: '2026-11-30T09:00:00Z', finishedOn: '2026-11-30T09:01:00Z' });
  assert.ok(validate(p), JSON.stringify(validate.errors));
  assert.deepEqual(p, {
    scanner: {
      uri: 'pkg:github/anchore/grype@0.74.0', version: '0.74.0',
      db: { uri: '/root/.cache/grype/db/5', version: '5', lastUpdate: '2026-11-29T01:02:03.000Z' },
      result: [{
        id: 'GHSA-35jh-r3h4-6jhm',
        severity: [{ method: 'severity', score: 'HIGH' }, { method: 'CVSS_V3', score: '7.2' }],
        annotations: [{ package: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', fixedIn: '4.17.21', aliases: 'CVE-2021-23337' }],
      }],
    },
    metadata: { scanStartedOn: '2026-11-30T09:00:00.000Z', scanFinishedOn: '2026-11-30T10:00:00.000Z' },
  });
  invalid(() => vulnsPredicate(readScanReport(TRIVY, 't.json'), { startedOn: '2026-11-30T09:00:00Z', finishedOn: '2026-11-30T09:01:00Z' }, 't.json'), 'SCAN_REPORT_INVALID', /does not say when the scanner's database was last updated; give the dbUpdated option/, 't.json');
  assert.equal(cvss3BaseScore('CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N'), 8.6);
  assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H'), 7.2);
  assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L'), 5.3);
  assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H'), 7.4);
  assert.equal(cvss3BaseScore('CVSS:3.1/AV:N'), undefined);
});
