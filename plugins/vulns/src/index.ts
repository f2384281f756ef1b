/**
 * vulns: vulnerability-scan evidence as the in-toto vulns predicate
 * (https://in-toto.io/attestation/vulns/v0.1). Two sources, one predicate each:
 * - `report`: what a scanner run in the step wrote (SARIF 2.1.0, CycloneDX vulnerabilities/VEX,
 *   OSV-Scanner, grype or trivy JSON), normalized;
 * - `osv` + an SBOM (`sbom` file, or `image`/`dir` catalogued by the sbom plugin's library): the
 *   offline matcher against an OSV database export, so a pipeline without a scanner still has a
 *   result.
 * VEX documents (`vex`: CycloneDX or OpenVEX) mark findings not_affected (or affected, fixed, …);
 * policies read the status from each result's annotations.
 */
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { definePlugin, type ResourceDescriptor } from '@custody/engine';
import { readJsonFile, SBOM_PREDICATE_TYPE, sbomOf, unwrapPredicate } from '@custody/plugin-sbom';
import type { ScanReport, VexStatement } from './findings.ts';
import { readScanReport, readVex, REPORT_FORMATS, type ReportFormat } from './formats.ts';
import { osvMatchReport, readOsvDatabase, sbomPackages } from './osv.ts';
import { applyVex, VULNS_PREDICATE_SCHEMA, VULNS_PREDICATE_TYPE, vulnsPredicate } from './predicate.ts';

export * from './findings.ts';
export * from './formats.ts';
export * from './osv.ts';
export * from './predicate.ts';
export * from './versions.ts';

const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));

async function readBytesJson(path: string, what: string): Promise<{ doc: unknown; bytes: Buffer }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `cannot read ${what}: ${(e as Error).message}`, { file: path });
  }
  try {
    return { doc: JSON.parse(bytes.toString('utf8')), bytes };
  } catch (e) {
    throw new CustodyError('SCAN_REPORT_INVALID', `${what} is not JSON: ${(e as Error).message}`, { file: path });
  }
}

export interface VulnsOptions {
  workdir: string;
  report?: string[];
  format?: ReportFormat;
  osv?: string;
  sbom?: string;
  image?: string;
  dir?: string;
  ref?: string;
  vex?: string[];
  /** Fill in what a report does not say (trivy's JSON has no DB time). */
  scannerVersion?: string;
  dbUpdated?: string;
  dbVersion?: string;
  startedAt: Date;
  finishedAt: Date;
}

/** The predicates the options ask for, each with the subject it is about (undefined = products). */
export async function vulnsPredicates(o: VulnsOptions): Promise<{ predicate: Record<string, unknown>; subject?: ResourceDescriptor[]; findings: number; uncertain: string[] }[]> {
  const at = (p: string) => (isAbsolute(p) ? p : join(o.workdir, p));
  if (o.format !== undefined && !(REPORT_FORMATS as readonly string[]).includes(o.format)) throw new CustodyError('USAGE', `vulns: format '${o.format}' is not one of ${REPORT_FORMATS.join(', ')}`);
  if (o.dbUpdated !== undefined && Number.isNaN(Date.parse(o.dbUpdated))) throw new CustodyError('USAGE', `vulns: dbUpdated '${o.dbUpdated}' is not an RFC 3339 timestamp`);
  const reports = o.report ?? [];
  if (reports.length === 0 && !o.osv) throw new CustodyError('USAGE', 'vulns: give report (a scanner output file) or osv (an OSV database export) with sbom, image or dir');
  if ([o.sbom, o.image, o.dir].filter(Boolean).length > 1) throw new CustodyError('USAGE', 'vulns: give one of sbom, image, dir');
  const vex: VexStatement[] = [];
  for (const f of o.vex ?? []) vex.push(...readVex((await readBytesJson(at(f), 'VEX document')).doc, at(f)));
  const times = { startedOn: o.startedAt.toISOString(), finishedOn: o.finishedAt.toISOString() };

  let subject: ResourceDescriptor[] | undefined;
  let sbom: unknown;
  let sbomFile = '';
  if (o.image || o.dir) {
    const made = await sbomOf({ target: (o.image ?? o.dir)!, workdir: o.workdir, ref: o.ref, timestamp: o.finishedAt });
    sbom = made.bom;
    subject = made.subject;
    sbomFile = at((o.image ?? o.dir)!);
  } else if (o.sbom) {
    sbomFile = at(o.sbom);
    sbom = unwrapPredicate(await readJsonFile(sbomFile, 'SBOM'), SBOM_PREDICATE_TYPE, sbomFile);
    const component = (sbom as { metadata?: { component?: { type?: string; version?: string; hashes?: { alg?: string; content?: string }[] } } })?.metadata?.component;
    // an image SBOM (the sbom plugin's) names the manifest digest: the scan is about that image
    if (component?.type === 'container' && typeof component.version === 'string' && /^sha256:[0-9a-f]{64}$/.test(component.version)) {
      subject = [{ name: component.version, digest: { sha256: component.version.slice(7) } }];
    }
  }

  const out: { predicate: Record<string, unknown>; subject?: ResourceDescriptor[]; findings: number; uncertain: string[] }[] = [];
  const finish = (report: ScanReport, file: string, uncertain: string[] = []) => {
    if (o.scannerVersion) report.scanner.version = o.scannerVersion;
    if (o.dbUpdated) report.scanner.db.lastUpdate = o.dbUpdated;
    if (o.dbVersion) report.scanner.db.version = o.dbVersion;
    const withVex: ScanReport = { ...report, findings: applyVex(report.findings, [...report.vex, ...vex]) };
    out.push({ predicate: vulnsPredicate(withVex, times, file), subject, findings: withVex.findings.length, uncertain });
  };
  for (const f of reports) {
    const { doc } = await readBytesJson(at(f), 'scanner report');
    finish(readScanReport(doc, at(f), o.format), at(f));
  }
  if (o.osv) {
    if (!sbom) throw new CustodyError('USAGE', 'vulns: osv needs the SBOM to match: give sbom (a file), image or dir');
    const { doc, bytes } = await readBytesJson(at(o.osv), 'OSV database');
    const db = readOsvDatabase(doc, at(o.osv), bytes);
    const packages = sbomPackages(sbom, sbomFile);
    const report = osvMatchReport(packages, db, `file:${basename(o.osv)}`, times);
    finish(report, at(o.osv), report.uncertain);
  }
  return out;
}

export default definePlugin({
  name: 'vulns',
  apiVersion: 1,
  description: 'Vulnerability scan evidence (in-toto vulns v0.1): scanner reports normalized, or an offline OSV match of the image SBOM; VEX applied',
  predicateTypes: [VULNS_PREDICATE_TYPE],
  schemas: { [VULNS_PREDICATE_TYPE]: VULNS_PREDICATE_SCHEMA },
  cliOptions: {
    report: { type: 'array', describe: 'scanner output file(s): SARIF 2.1.0, CycloneDX with vulnerabilities, OSV-Scanner, grype or trivy JSON' },
    format: { type: 'string', describe: `the report format when its shape does not say (${REPORT_FORMATS.join(', ')})` },
    osv: { type: 'string', describe: 'an OSV database export (JSON list of OSV records) to match the SBOM against, offline' },
    sbom: { type: 'string', describe: 'the SBOM to match (CycloneDX JSON, or a Statement/bundle carrying it)' },
    image: { type: 'string', describe: 'an OCI image-layout folder or oci:// reference: catalogued, matched, and the subject' },
    dir: { type: 'string', describe: 'a folder to catalogue and match' },
    ref: { type: 'string', describe: 'the tag to read when the image layout holds several' },
    vex: { type: 'array', describe: 'VEX document(s), CycloneDX or OpenVEX, whose statements apply to the findings' },
    scannerVersion: { type: 'string', describe: 'the scanner version when the report does not state it' },
    dbUpdated: { type: 'string', describe: "when the scanner's database was last updated (RFC 3339), when the report does not state it" },
    dbVersion: { type: 'string', describe: "the scanner database's version" },
  },
  apply(hooks) {
    hooks.postProduct.tapPromise('vulns', async (ctx) => {
      const o = ctx.options as Record<string, unknown>;
      const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
      const results = await vulnsPredicates({
        workdir: ctx.workdir,
        report: list(o.report), format: str('format') as ReportFormat | undefined,
        osv: str('osv'), sbom: str('sbom'), image: str('image'), dir: str('dir'), ref: str('ref'), vex: list(o.vex),
        scannerVersion: str('scannerVersion'), dbUpdated: str('dbUpdated'), dbVersion: str('dbVersion'),
        startedAt: ctx.execution?.startedAt ?? new Date(),
        finishedAt: ctx.execution?.finishedAt ?? new Date(),
      });
      for (const r of results) {
        for (const u of r.uncertain) ctx.logger.warn(`vulns: counted as affected, version not comparable: ${u}`);
        ctx.logger.info(`vulns: ${r.findings} findings`);
        ctx.emit({ predicateType: VULNS_PREDICATE_TYPE, predicate: r.predicate, ...(r.subject ? { subject: r.subject } : {}) });
      }
    });
  },
});

