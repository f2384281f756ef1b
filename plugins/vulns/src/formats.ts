// Readers for what scanners write: SARIF 2.1.0, CycloneDX (vulnerabilities / VEX), OSV-Scanner
// JSON, grype JSON and trivy JSON. Each checks the fields it relies on and reports the first
// problem as SCAN_REPORT_INVALID naming the file, the format and the JSON path — a report read
// wrongly would be a false "no vulnerabilities".
import { CustodyError } from '@custody/core';
import { cvss3BaseScore, qualitative, ratingOfScore, type Finding, type ScanReport, type Severity, type VexStatement } from './findings.ts';

export const REPORT_FORMATS = ['sarif', 'cyclonedx', 'osv-scanner', 'grype', 'trivy'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

type Json = Record<string, unknown>;

class Reader {
  constructor(readonly file: string, readonly format: string) {}
  fail(path: string, problem: string): never {
    throw new CustodyError('SCAN_REPORT_INVALID', `${this.format} report: ${path} ${problem}`, { file: this.file });
  }
  obj(v: unknown, path: string): Json {
    if (!v || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'is not an object');
    return v as Json;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'is not a list');
    return v;
  }
  /** A list that may be absent (null/undefined) — grype and trivy omit empty lists. */
  optArr(v: unknown, path: string): unknown[] {
    return v === undefined || v === null ? [] : this.arr(v, path);
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') this.fail(path, 'is not a non-empty string');
    return v;
  }
  optStr(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') this.fail(path, 'is not a string');
    return v;
  }
  time(v: unknown, path: string): string | undefined {
    const s = this.optStr(v, path);
    if (s === undefined) return undefined;
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) || Number.isNaN(Date.parse(s))) this.fail(path, `'${s}' is not an RFC 3339 timestamp`);
    return new Date(s).toISOString();
  }
}

/** Which format a parsed document is, from its shape. */
export function detectFormat(doc: unknown): ReportFormat | undefined {
  const o = doc as Json;
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  if (o.version === '2.1.0' && Array.isArray(o.runs)) return 'sarif';
  if (o.bomFormat === 'CycloneDX') return 'cyclonedx';
  if ('matches' in o && o.descriptor && typeof o.descriptor === 'object') return 'grype';
  if ('SchemaVersion' in o && ('Results' in o || 'ArtifactName' in o)) return 'trivy';
  if (Array.isArray(o.results) && (o.results as Json[]).every((r) => r && typeof r === 'object' && 'packages' in r)) return 'osv-scanner';
  return undefined;
}

function worst(list: Severity[]): Severity {
  const order: Severity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'NONE'];
  for (const s of order) if (list.includes(s)) return s;
  return 'UNKNOWN';
}

// ---------------------------------------------------------------------------------------------
// grype

function readGrype(doc: unknown, r: Reader): ScanReport {
  const o = r.obj(doc, '(document)');
  const d = r.obj(o.descriptor, 'descriptor');
  const db = d.db === undefined || d.db === null ? {} : r.obj(d.db, 'descriptor.db');
  const status = db.status === undefined ? undefined : r.obj(db.status, 'descriptor.db.status');
  const findings = r.optArr(o.matches, 'matches').map((m, i): Finding => {
    const at = `matches[${i}]`;
    const mo = r.obj(m, at);
    const v = r.obj(mo.vulnerability, `${at}.vulnerability`);
    const a = r.obj(mo.artifact, `${at}.artifact`);
    const scores = r.optArr(v.cvss, `${at}.vulnerability.cvss`).flatMap((c, j) => {
      const co = r.obj(c, `${at}.vulnerability.cvss[${j}]`);
      const base = (co.metrics as Json | undefined)?.baseScore;
      return typeof base === 'number' ? [{ method: `CVSS_V${String(co.version ?? '3').split('.')[0]}`, score: String(base) }] : [];
    });
    const fix = v.fix === undefined || v.fix === null ? {} : r.obj(v.fix, `${at}.vulnerability.fix`);
    return {
      id: r.str(v.id, `${at}.vulnerability.id`),
      aliases: r.optArr(mo.relatedVulnerabilities, `${at}.relatedVulnerabilities`).map((x, j) => r.str(r.obj(x, `${at}.relatedVulnerabilities[${j}]`).id, `${at}.relatedVulnerabilities[${j}].id`)),
      package: { name: r.str(a.name, `${at}.artifact.name`), version: r.str(a.version, `${at}.artifact.version`), purl: r.optStr(a.purl, `${at}.artifact.purl`) },
      severity: qualitative(r.optStr(v.severity, `${at}.vulnerability.severity`)),
      scores,
      fixedIn: r.optArr(fix.versions, `${at}.vulnerability.fix.versions`).map((x, j) => r.str(x, `${at}.vulnerability.fix.versions[${j}]`)),
    };
  });
  const version = r.optStr(d.version, 'descriptor.version');
  return {
    format: 'grype',
    scanner: {
      name: r.str(d.name, 'descriptor.name'),
      uri: `pkg:github/anchore/grype${version ? `@${version}` : ''}`,
      version,
      db: {
        lastUpdate: r.time(status?.built ?? db.built, status ? 'descriptor.db.status.built' : 'descriptor.db.built'),
        version: status?.schemaVersion !== undefined ? String(status.schemaVersion) : db.schemaVersion !== undefined ? String(db.schemaVersion) : undefined,
        uri: r.optStr(status?.from ?? db.location, 'descriptor.db.location'),
      },
    },
    findings,
    finishedOn: r.time(d.timestamp, 'descriptor.timestamp'),
    vex: [],
  };
}

// ---------------------------------------------------------------------------------------------
// trivy (JSON, SchemaVersion 2)

function readTrivy(doc: unknown, r: Reader): ScanReport {
  const o = r.obj(doc, '(document)');
  if (o.SchemaVersion !== 2) r.fail('SchemaVersion', `is ${JSON.stringify(o.SchemaVersion)}, only 2 is understood`);
  const findings: Finding[] = [];
  r.optArr(o.Results, 'Results').forEach((res, i) => {
    const ro = r.obj(res, `Results[${i}]`);
    r.optArr(ro.Vulnerabilities, `Results[${i}].Vulnerabilities`).forEach((v, j) => {
      const at = `Results[${i}].Vulnerabilities[${j}]`;
      const vo = r.obj(v, at);
      const cvss = vo.CVSS === undefined || vo.CVSS === null ? {} : r.obj(vo.CVSS, `${at}.CVSS`);
      const scores = Object.entries(cvss).flatMap(([src, c]) => {
        const co = r.obj(c, `${at}.CVSS.${src}`);
        return typeof co.V3Score === 'number' ? [{ method: `CVSS_V3 (${src})`, score: String(co.V3Score) }] : [];
      });
      const fixed = r.optStr(vo.FixedVersion, `${at}.FixedVersion`);
      findings.push({
        id: r.str(vo.VulnerabilityID, `${at}.VulnerabilityID`),
        aliases: [],
        package: {
          name: r.str(vo.PkgName, `${at}.PkgName`),
          version: r.str(vo.InstalledVersion, `${at}.InstalledVersion`),
          purl: vo.PkgIdentifier && typeof vo.PkgIdentifier === 'object' ? r.optStr((vo.PkgIdentifier as Json).PURL, `${at}.PkgIdentifier.PURL`) : undefined,
        },
        severity: qualitative(r.optStr(vo.Severity, `${at}.Severity`)),
        scores,
        fixedIn: fixed ? fixed.split(/,\s*/) : [],
      });
    });
  });
  const trivy = o.Trivy && typeof o.Trivy === 'object' ? (o.Trivy as Json) : undefined;
  const version = r.optStr(trivy?.Version, 'Trivy.Version');
  return {
    format: 'trivy',
    // trivy's JSON names neither its version (before 0.5x) nor its database's age: options supply them
    scanner: { name: 'trivy', uri: `pkg:github/aquasecurity/trivy${version ? `@${version}` : ''}`, version, db: {} },
    findings,
    finishedOn: r.time(o.CreatedAt, 'CreatedAt'),
    vex: [],
  };
}

// ---------------------------------------------------------------------------------------------
// SARIF 2.1.0 (as grype, trivy and others write it for code scanning)

function readSarif(doc: unknown, r: Reader): ScanReport {
  const o = r.obj(doc, '(document)');
  if (o.version !== '2.1.0') r.fail('version', `is ${JSON.stringify(o.version)}, not "2.1.0"`);
  const runs = r.arr(o.runs, 'runs');
  if (runs.length === 0) r.fail('runs', 'is empty');
  const findings: Finding[] = [];
  let scanner: ScanReport['scanner'] | undefined;
  let startedOn: string | undefined;
  let finishedOn: string | undefined;
  runs.forEach((run, i) => {
    const ro = r.obj(run, `runs[${i}]`);
    const driver = r.obj(r.obj(ro.tool, `runs[${i}].tool`).driver, `runs[${i}].tool.driver`);
    const name = r.str(driver.name, `runs[${i}].tool.driver.name`);
    const version = r.optStr(driver.semanticVersion ?? driver.version, `runs[${i}].tool.driver.version`);
    scanner ??= { name, uri: r.optStr(driver.informationUri, `runs[${i}].tool.driver.informationUri`) ?? `pkg:generic/${encodeURIComponent(name)}${version ? `@${version}` : ''}`, version, db: {} };
    const rules = new Map<string, Json>();
    r.optArr(driver.rules, `runs[${i}].tool.driver.rules`).forEach((rule, j) => {
      const ru = r.obj(rule, `runs[${i}].tool.driver.rules[${j}]`);
      rules.set(r.str(ru.id, `runs[${i}].tool.driver.rules[${j}].id`), ru);
    });
    for (const [k, inv] of r.optArr(ro.invocations, `runs[${i}].invocations`).entries()) {
      const io = r.obj(inv, `runs[${i}].invocations[${k}]`);
      startedOn ??= r.time(io.startTimeUtc, `runs[${i}].invocations[${k}].startTimeUtc`);
      finishedOn ??= r.time(io.endTimeUtc, `runs[${i}].invocations[${k}].endTimeUtc`);
    }
    r.arr(ro.results, `runs[${i}].results`).forEach((res, j) => {
      const at = `runs[${i}].results[${j}]`;
      const x = r.obj(res, at);
      const ruleId = r.optStr(x.ruleId, `${at}.ruleId`) ?? r.optStr((x.rule as Json | undefined)?.id, `${at}.rule.id`);
      if (!ruleId) r.fail(`${at}.ruleId`, 'is missing (a result must name its rule)');
      const rule = rules.get(ruleId);
      const text = r.optStr(r.obj(x.message, `${at}.message`).text, `${at}.message.text`) ?? '';
      const props = (x.properties && typeof x.properties === 'object' ? x.properties : {}) as Json;
      const ruleProps = (rule?.properties && typeof rule.properties === 'object' ? rule.properties : {}) as Json;
      // GitHub code scanning's convention: properties["security-severity"] is a CVSS score
      const secSev = props['security-severity'] ?? ruleProps['security-severity'];
      const score = secSev === undefined ? undefined : Number(secSev);
      if (secSev !== undefined && !Number.isFinite(score)) r.fail(`${at}.properties.security-severity`, `'${String(secSev)}' is not a number`);
      const level = r.optStr(x.level ?? (rule?.defaultConfiguration as Json | undefined)?.level, `${at}.level`);
      // trivy and grype put the package in the message text ("Package: x\nInstalled Version: y")
      const pkgName = /(?:^|\n)\s*Package:\s*(\S+)/i.exec(text)?.[1] ?? r.optStr(props.package ?? props.packageName, `${at}.properties.package`);
      const pkgVersion = /Installed Version:\s*(\S+)/i.exec(text)?.[1] ?? r.optStr(props.installedVersion ?? props.version, `${at}.properties.version`);
      const fixed = /Fixed Version:\s*(\S+)/i.exec(text)?.[1];
      const stated = /(?:^|\n)\s*Severity:\s*(\w+)/i.exec(text)?.[1];
      const severity: Severity = score !== undefined ? ratingOfScore(score) : stated ? qualitative(stated) : level === 'error' ? 'HIGH' : level === 'warning' ? 'MEDIUM' : level === 'note' ? 'LOW' : 'UNKNOWN';
      findings.push({
        id: ruleId,
        aliases: [],
        ...(pkgName ? { package: { name: pkgName, ...(pkgVersion ? { version: pkgVersion } : {}), ...(typeof props.purl === 'string' ? { purl: props.purl } : {}) } } : {}),
        severity,
        scores: [...(score !== undefined ? [{ method: 'security-severity', score: String(score) }] : []), ...(level ? [{ method: 'sarif-level', score: level }] : [])],
        fixedIn: fixed ? [fixed] : [],
      });
    });
  });
  return { format: 'sarif', scanner: scanner!, findings, startedOn, finishedOn, vex: [] };
}

// ---------------------------------------------------------------------------------------------
// CycloneDX vulnerabilities (a BOM with vulnerabilities[], or a VEX document)

const CDX_STATES = new Set(['resolved', 'resolved_with_pedigree', 'exploitable', 'in_triage', 'false_positive', 'not_affected']);

function readCycloneDx(doc: unknown, r: Reader): ScanReport {
  const o = r.obj(doc, '(document)');
  if (o.bomFormat !== 'CycloneDX') r.fail('bomFormat', 'is not "CycloneDX"');
  const spec = r.str(o.specVersion, 'specVersion');
  if (!/^1\.[4-7]$/.test(spec)) r.fail('specVersion', `is ${spec}; vulnerabilities need CycloneDX 1.4 or later`);
  const refToPurl = new Map<string, { name: string; version?: string; purl?: string }>();
  const walk = (list: unknown, path: string) => {
    r.optArr(list, path).forEach((c, i) => {
      const co = r.obj(c, `${path}[${i}]`);
      const ref = r.optStr(co['bom-ref'], `${path}[${i}].bom-ref`);
      if (ref) refToPurl.set(ref, { name: r.str(co.name, `${path}[${i}].name`), version: r.optStr(co.version, `${path}[${i}].version`), purl: r.optStr(co.purl, `${path}[${i}].purl`) });
      walk(co.components, `${path}[${i}].components`);
    });
  };
  walk(o.components, 'components');
  const meta = o.metadata === undefined ? {} : r.obj(o.metadata, 'metadata');
  const tools = meta.tools;
  const toolList = Array.isArray(tools) ? tools : tools && typeof tools === 'object' ? r.optArr((tools as Json).components, 'metadata.tools.components') : [];
  const tool = toolList[0] as Json | undefined;
  const name = tool ? r.str(tool.name, 'metadata.tools[0].name') : 'cyclonedx';
  const version = tool ? r.optStr(tool.version, 'metadata.tools[0].version') : undefined;
  const findings: Finding[] = [];
  const vex: VexStatement[] = [];
  r.arr(o.vulnerabilities, 'vulnerabilities').forEach((v, i) => {
    const at = `vulnerabilities[${i}]`;
    const vo = r.obj(v, at);
    const id = r.str(vo.id, `${at}.id`);
    const ratings = r.optArr(vo.ratings, `${at}.ratings`).map((x, j) => r.obj(x, `${at}.ratings[${j}]`));
    const severities = ratings.map((x) => (typeof x.severity === 'string' ? qualitative(x.severity) : typeof x.score === 'number' ? ratingOfScore(x.score) : 'UNKNOWN'));
    const scores = ratings.flatMap((x) => (typeof x.score === 'number' ? [{ method: String(x.method ?? 'other'), score: String(x.score) }] : []));
    const affects = r.arr(vo.affects, `${at}.affects`);
    if (affects.length === 0) r.fail(`${at}.affects`, 'is empty (a vulnerability must name what it affects)');
    const analysis = vo.analysis === undefined ? undefined : r.obj(vo.analysis, `${at}.analysis`);
    const state = analysis ? r.optStr(analysis.state, `${at}.analysis.state`) : undefined;
    if (state !== undefined && !CDX_STATES.has(state)) r.fail(`${at}.analysis.state`, `'${state}' is not a CycloneDX impact analysis state`);
    affects.forEach((a, j) => {
      const ref = r.str(r.obj(a, `${at}.affects[${j}]`).ref, `${at}.affects[${j}].ref`);
      const comp = refToPurl.get(ref) ?? (ref.startsWith('pkg:') ? { name: ref, purl: ref } : undefined);
      if (!comp) r.fail(`${at}.affects[${j}].ref`, `'${ref}' names no component of the document and is not a purl`);
      const pkg = { name: comp.name, ...(comp.version ? { version: comp.version } : {}), ...(comp.purl ? { purl: comp.purl } : {}) };
      findings.push({ id, aliases: [], package: pkg, severity: worst(severities), scores, fixedIn: [] });
      if (state) {
        vex.push({
          id, ...(comp.purl ? { purl: comp.purl } : {}), state: state as VexStatement['state'],
          ...(typeof analysis!.justification === 'string' ? { justification: analysis!.justification } : {}),
          ...(typeof analysis!.detail === 'string' ? { detail: analysis!.detail } : {}),
          source: r.file,
        });
      }
    });
  });
  return { format: 'cyclonedx', scanner: { name, uri: `pkg:generic/${encodeURIComponent(name)}${version ? `@${version}` : ''}`, version, db: {} }, findings, finishedOn: r.time(meta.timestamp, 'metadata.timestamp'), vex };
}

// ---------------------------------------------------------------------------------------------
// OSV-Scanner JSON (results[].packages[].vulnerabilities[] are OSV records)

export function osvSeverity(v: Json, affected?: Json): { severity: Severity; scores: { method: string; score: string }[] } {
  const scores: { method: string; score: string }[] = [];
  const rated: Severity[] = [];
  for (const s of Array.isArray(v.severity) ? (v.severity as Json[]) : []) {
    if (typeof s?.type !== 'string' || typeof s.score !== 'string') continue;
    scores.push({ method: s.type, score: s.score });
    const base = s.type === 'CVSS_V3' ? cvss3BaseScore(s.score) : undefined;
    if (base !== undefined) {
      scores.push({ method: 'CVSS_V3 base score', score: String(base) });
      rated.push(ratingOfScore(base));
    }
  }
  const stated = (v.database_specific as Json | undefined)?.severity ?? (affected?.ecosystem_specific as Json | undefined)?.severity;
  if (typeof stated === 'string') rated.push(qualitative(stated));
  return { severity: worst(rated), scores };
}

function readOsvScanner(doc: unknown, r: Reader): ScanReport {
  const o = r.obj(doc, '(document)');
  const findings: Finding[] = [];
  r.arr(o.results, 'results').forEach((res, i) => {
    r.optArr(r.obj(res, `results[${i}]`).packages, `results[${i}].packages`).forEach((p, j) => {
      const at = `results[${i}].packages[${j}]`;
      const po = r.obj(p, at);
      const pkg = r.obj(po.package, `${at}.package`);
      const fp = { name: r.str(pkg.name, `${at}.package.name`), version: r.optStr(pkg.version, `${at}.package.version`), ecosystem: r.optStr(pkg.ecosystem, `${at}.package.ecosystem`) };
      r.optArr(po.vulnerabilities, `${at}.vulnerabilities`).forEach((v, k) => {
        const vo = r.obj(v, `${at}.vulnerabilities[${k}]`);
        const { severity, scores } = osvSeverity(vo);
        findings.push({
          id: r.str(vo.id, `${at}.vulnerabilities[${k}].id`),
          aliases: r.optArr(vo.aliases, `${at}.vulnerabilities[${k}].aliases`).map((x, n) => r.str(x, `${at}.vulnerabilities[${k}].aliases[${n}]`)),
          package: fp, severity, scores, fixedIn: [],
        });
      });
    });
  });
  return { format: 'osv-scanner', scanner: { name: 'osv-scanner', uri: 'pkg:github/google/osv-scanner', db: { uri: 'https://osv.dev' } }, findings, vex: [] };
}

/** Reads a parsed scanner report; `format` forces a reader, otherwise the shape decides. */
export function readScanReport(doc: unknown, file: string, format?: ReportFormat): ScanReport {
  const f = format ?? detectFormat(doc);
  if (!f) throw new CustodyError('SCAN_REPORT_INVALID', `not a scanner report custody reads (SARIF 2.1.0, CycloneDX with vulnerabilities, OSV-Scanner, grype or trivy JSON)`, { file });
  const r = new Reader(file, f);
  switch (f) {
    case 'sarif':
      return readSarif(doc, r);
    case 'cyclonedx':
      return readCycloneDx(doc, r);
    case 'osv-scanner':
      return readOsvScanner(doc, r);
    case 'grype':
      return readGrype(doc, r);
    case 'trivy':
      return readTrivy(doc, r);
  }
}

// ---------------------------------------------------------------------------------------------
// VEX documents: CycloneDX (analysis.state) and OpenVEX (statements[].status)

const OPENVEX_STATUS = new Set(['not_affected', 'affected', 'fixed', 'under_investigation']);

export function readVex(doc: unknown, file: string): VexStatement[] {
  const o = doc as Json;
  if (o && typeof o === 'object' && o.bomFormat === 'CycloneDX') return readCycloneDx(doc, new Reader(file, 'CycloneDX VEX')).vex;
  const r = new Reader(file, 'OpenVEX');
  const d = r.obj(doc, '(document)');
  const ctx = r.str(d['@context'], '@context');
  if (!ctx.startsWith('https://openvex.dev/ns')) r.fail('@context', `'${ctx}' is not an OpenVEX context (nor is this a CycloneDX VEX document)`);
  const out: VexStatement[] = [];
  r.arr(d.statements, 'statements').forEach((s, i) => {
    const at = `statements[${i}]`;
    const so = r.obj(s, at);
    const vuln = r.obj(so.vulnerability, `${at}.vulnerability`);
    const id = r.str(vuln.name ?? vuln['@id'], `${at}.vulnerability.name`);
    const status = r.str(so.status, `${at}.status`);
    if (!OPENVEX_STATUS.has(status)) r.fail(`${at}.status`, `'${status}' is not an OpenVEX status`);
    const products = r.arr(so.products, `${at}.products`);
    if (products.length === 0) r.fail(`${at}.products`, 'is empty (a statement must name its products)');
    products.forEach((p, j) => {
      const po = r.obj(p, `${at}.products[${j}]`);
      const pid = r.str(po['@id'] ?? (po.identifiers as Json | undefined)?.purl, `${at}.products[${j}].@id`);
      out.push({
        id, purl: pid, state: status as VexStatement['state'],
        ...(typeof so.justification === 'string' ? { justification: so.justification } : {}),
        ...(typeof so.impact_statement === 'string' ? { detail: so.impact_statement } : {}),
        source: file,
      });
    });
  });
  return out;
}
