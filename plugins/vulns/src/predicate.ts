// The in-toto vulns predicate (https://in-toto.io/attestation/vulns, v0.1): scanner (uri,
// version, db {uri, version, lastUpdate}, result[]) and metadata (scanStartedOn,
// scanFinishedOn). Each result is {id, severity: [{method, score}], annotations: [{…}]}; custody
// puts its normalized rating first as {method: "severity", score: CRITICAL|HIGH|MEDIUM|LOW|NONE|
// UNKNOWN}, then the scanner's own scores, and one annotations entry with the package (name,
// version, purl, ecosystem), fixed versions, aliases and the VEX status that applies.
import { PackageURL } from 'packageurl-js';
import { CustodyError } from '@custody/core';
import { normalizePythonName } from '@custody/plugin-sbom';
import type { Finding, ScanReport, VexStatement } from './findings.ts';

export const VULNS_PREDICATE_TYPE = 'https://in-toto.io/attestation/vulns/v0.1';

const TIMESTAMP = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' } as const;

export const VULNS_PREDICATE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['scanner', 'metadata'],
  properties: {
    invocation: { type: 'object' },
    scanner: {
      type: 'object',
      required: ['uri', 'db', 'result'],
      additionalProperties: false,
      properties: {
        uri: { type: 'string', minLength: 1 },
        version: { type: 'string' },
        db: {
          type: 'object',
          required: ['lastUpdate'],
          additionalProperties: false,
          properties: { uri: { type: 'string' }, version: { type: 'string' }, lastUpdate: TIMESTAMP },
        },
        result: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'severity'],
            additionalProperties: false,
            properties: {
              id: { type: 'string', minLength: 1 },
              severity: {
                type: 'array',
                minItems: 1,
                items: { type: 'object', required: ['method', 'score'], additionalProperties: false, properties: { method: { type: 'string' }, score: { type: 'string' } } },
              },
              annotations: { type: 'array', items: { type: 'object', additionalProperties: { type: 'string' } } },
            },
          },
        },
      },
    },
    metadata: {
      type: 'object',
      required: ['scanStartedOn', 'scanFinishedOn'],
      properties: { scanStartedOn: TIMESTAMP, scanFinishedOn: TIMESTAMP },
    },
  },
} as const;

function purlKey(purl: string): { type: string; namespace?: string; name: string; version?: string } | undefined {
  try {
    const p = PackageURL.fromString(purl);
    return { type: p.type, namespace: p.namespace ?? undefined, name: p.type === 'pypi' ? normalizePythonName(p.name) : p.name, version: p.version ?? undefined };
  } catch {
    return undefined;
  }
}

/**
 * Does a VEX statement speak about this finding? Same vulnerability (id or alias) and the same
 * package (purl type, namespace, name; the version too when the statement names one —
 * qualifiers are ignored). A statement without a purl covers nothing.
 */
export function vexApplies(s: VexStatement, f: Finding): boolean {
  const ids = new Set([f.id, ...f.aliases]);
  if (!ids.has(s.id)) return false;
  if (!s.purl || !f.package?.purl) return false;
  const a = purlKey(s.purl);
  const b = purlKey(f.package.purl);
  if (!a || !b) return false;
  if (a.type !== b.type || (a.namespace ?? '') !== (b.namespace ?? '') || a.name !== b.name) return false;
  return a.version === undefined || a.version === b.version;
}

/** Attaches the VEX statement that applies; when statements disagree the least favourable wins. */
export function applyVex(findings: Finding[], statements: VexStatement[]): Finding[] {
  const favourable = (s: VexStatement) => s.state === 'not_affected' || s.state === 'false_positive';
  return findings.map((f) => {
    const hits = statements.filter((s) => vexApplies(s, f));
    if (hits.length === 0) return f;
    const chosen = hits.find((s) => !favourable(s)) ?? hits[0];
    // CycloneDX says false_positive where OpenVEX says not_affected; policies read one word
    return { ...f, vex: { ...chosen, state: chosen.state === 'false_positive' ? 'not_affected' : chosen.state } };
  });
}

export interface PredicateTimes {
  startedOn: string;
  finishedOn: string;
}

export function vulnsPredicate(report: ScanReport, times: PredicateTimes, file?: string): Record<string, unknown> {
  const lastUpdate = report.scanner.db.lastUpdate;
  if (!lastUpdate) {
    throw new CustodyError('SCAN_REPORT_INVALID', `${report.format} report does not say when the scanner's database was last updated; give the dbUpdated option (RFC 3339)`, { file });
  }
  const iso = (s: string) => new Date(s).toISOString();
  const result = report.findings.map((f) => {
    const ann: Record<string, string> = {};
    if (f.package) {
      ann.package = f.package.name;
      if (f.package.version) ann.version = f.package.version;
      if (f.package.purl) ann.purl = f.package.purl;
      if (f.package.ecosystem) ann.ecosystem = f.package.ecosystem;
    }
    if (f.fixedIn.length) ann.fixedIn = f.fixedIn.join(', ');
    if (f.aliases.length) ann.aliases = f.aliases.join(', ');
    if (f.uncertain) ann.uncertain = f.uncertain;
    if (f.vex) {
      ann.vex = f.vex.state;
      if (f.vex.justification) ann.vexJustification = f.vex.justification;
      if (f.vex.detail) ann.vexDetail = f.vex.detail;
    }
    return { id: f.id, severity: [{ method: 'severity', score: f.severity }, ...f.scores], annotations: [ann] };
  });
  const db = report.scanner.db;
  return {
    scanner: {
      uri: report.scanner.uri,
      ...(report.scanner.version ? { version: report.scanner.version } : {}),
      db: { ...(db.uri ? { uri: db.uri } : {}), ...(db.version ? { version: db.version } : {}), lastUpdate: iso(lastUpdate) },
      result,
    },
    metadata: { scanStartedOn: iso(report.startedOn ?? times.startedOn), scanFinishedOn: iso(report.finishedOn ?? times.finishedOn) },
  };
}
