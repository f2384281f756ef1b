// The offline matcher: the packages of a CycloneDX SBOM against an OSV database export (a JSON
// file of OSV records), following the OSV schema's range semantics — events sorted by version,
// `introduced` opens, `fixed`/`limit` close (exclusive), `last_affected` closes (inclusive);
// SEMVER ranges compare as SemVer, ECOSYSTEM ranges with the ecosystem's own ordering (PEP 440,
// npm SemVer, dpkg, apk). GIT ranges need commits an SBOM does not have and are not evaluated.
import { createHash } from 'node:crypto';
import { PackageURL } from 'packageurl-js';
import { CustodyError } from '@custody/core';
import { normalizePythonName } from '@custody/plugin-sbom';
import { osvSeverity } from './formats.ts';
import type { Finding, ScanReport } from './findings.ts';
import { comparatorFor, compareSemver, VersionParseError } from './versions.ts';

type Json = Record<string, unknown>;

export interface OsvEvent { introduced?: string; fixed?: string; last_affected?: string; limit?: string }
export interface OsvRange { type: 'SEMVER' | 'ECOSYSTEM' | 'GIT'; events: OsvEvent[] }
export interface OsvAffected { package: { ecosystem: string; name: string; purl?: string }; ranges: OsvRange[]; versions: string[]; raw: Json }
export interface OsvRecord { id: string; aliases: string[]; modified: string; withdrawn?: string; affected: OsvAffected[]; raw: Json }

export interface OsvDatabase {
  records: OsvRecord[];
  /** The newest `modified` of its records: the export is at least this current. */
  lastUpdate: string;
  sha256: string;
}

function bad(file: string, path: string, problem: string): never {
  throw new CustodyError('SCAN_REPORT_INVALID', `OSV database: ${path} ${problem}`, { file });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Reads an OSV export: a list of records, `{ "vulns": [...] }` (osv.dev query output) or one record. */
export function readOsvDatabase(doc: unknown, file: string, bytes?: Uint8Array): OsvDatabase {
  const list = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && Array.isArray((doc as Json).vulns) ? ((doc as Json).vulns as unknown[]) : doc && typeof doc === 'object' && 'id' in (doc as Json) ? [doc] : undefined;
  if (!list) bad(file, '(document)', 'is not a list of OSV records, {"vulns": [...]}, or one record');
  const records = list.map((v, i): OsvRecord => {
    const at = `[${i}]`;
    if (!v || typeof v !== 'object' || Array.isArray(v)) bad(file, at, 'is not an object');
    const o = v as Json;
    if (typeof o.id !== 'string' || !o.id) bad(file, `${at}.id`, 'is not a non-empty string');
    if (typeof o.modified !== 'string' || !RFC3339.test(o.modified)) bad(file, `${at}.modified`, `is not an RFC 3339 timestamp (${o.id})`);
    if (o.withdrawn !== undefined && (typeof o.withdrawn !== 'string' || !RFC3339.test(o.withdrawn))) bad(file, `${at}.withdrawn`, 'is not an RFC 3339 timestamp');
    const aliases = o.aliases === undefined ? [] : Array.isArray(o.aliases) && o.aliases.every((x) => typeof x === 'string') ? (o.aliases as string[]) : bad(file, `${at}.aliases`, 'is not a list of strings');
    if (o.affected !== undefined && !Array.isArray(o.affected)) bad(file, `${at}.affected`, 'is not a list');
    const affected = ((o.affected as unknown[]) ?? []).map((a, j): OsvAffected => {
      const aat = `${at}.affected[${j}]`;
      if (!a || typeof a !== 'object') bad(file, aat, 'is not an object');
      const ao = a as Json;
      const pkg = ao.package as Json | undefined;
      if (!pkg || typeof pkg.ecosystem !== 'string' || typeof pkg.name !== 'string' || !pkg.name) bad(file, `${aat}.package`, 'needs ecosystem and name strings');
      if (ao.ranges !== undefined && !Array.isArray(ao.ranges)) bad(file, `${aat}.ranges`, 'is not a list');
      const ranges = ((ao.ranges as unknown[]) ?? []).map((r, k): OsvRange => {
        const rat = `${aat}.ranges[${k}]`;
        const ro = r as Json;
        if (!ro || !['SEMVER', 'ECOSYSTEM', 'GIT'].includes(ro.type as string)) bad(file, `${rat}.type`, `'${String(ro?.type)}' is not SEMVER, ECOSYSTEM or GIT`);
        if (!Array.isArray(ro.events) || ro.events.length === 0) bad(file, `${rat}.events`, 'is not a non-empty list');
        const events = (ro.events as unknown[]).map((e, n) => {
          const eo = e as Json;
          const keys = eo && typeof eo === 'object' ? Object.keys(eo) : [];
          if (keys.length !== 1 || !['introduced', 'fixed', 'last_affected', 'limit'].includes(keys[0]) || typeof eo[keys[0]] !== 'string') {
            bad(file, `${rat}.events[${n}]`, 'must have exactly one of introduced, fixed, last_affected, limit (a string)');
          }
          return eo as OsvEvent;
        });
        if (!events.some((e) => e.introduced !== undefined)) bad(file, `${rat}.events`, 'has no introduced event');
        return { type: ro.type as OsvRange['type'], events };
      });
      const versions = ao.versions === undefined ? [] : Array.isArray(ao.versions) && ao.versions.every((x) => typeof x === 'string') ? (ao.versions as string[]) : bad(file, `${aat}.versions`, 'is not a list of strings');
      return { package: { ecosystem: pkg.ecosystem as string, name: pkg.name as string, ...(typeof pkg.purl === 'string' ? { purl: pkg.purl } : {}) }, ranges, versions, raw: ao };
    });
    return { id: o.id, aliases, modified: o.modified, ...(typeof o.withdrawn === 'string' ? { withdrawn: o.withdrawn } : {}), affected, raw: o };
  });
  if (records.length === 0) bad(file, '(document)', 'holds no records');
  const lastUpdate = records.map((r) => new Date(r.modified).toISOString()).sort().pop()!;
  return { records, lastUpdate, sha256: createHash('sha256').update(bytes ?? JSON.stringify(doc)).digest('hex') };
}

/** Is `version` inside an OSV range? Throws VersionParseError when a version cannot be ordered. */
export function inRange(version: string, range: OsvRange, compare: (a: string, b: string) => number): boolean {
  const key = (e: OsvEvent) => (e.introduced ?? e.fixed ?? e.last_affected ?? e.limit)!;
  // introduced "0" is "since the beginning": it sorts first
  const sorted = [...range.events].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    if (a.introduced === '0') return b.introduced === '0' ? 0 : -1;
    if (b.introduced === '0') return 1;
    return compare(x, y);
  });
  let affected = false;
  for (const e of sorted) {
    if (e.introduced !== undefined) {
      if (e.introduced === '0' || compare(version, e.introduced) >= 0) affected = true;
    } else if (e.fixed !== undefined) {
      if (compare(version, e.fixed) >= 0) affected = false;
    } else if (e.last_affected !== undefined) {
      if (compare(version, e.last_affected) > 0) affected = false;
    } else if (e.limit !== undefined) {
      if (compare(version, e.limit) >= 0) affected = false;
    }
  }
  return affected;
}

export interface SbomPackage { name: string; version: string; purl: string; ecosystem: string; distroVersion?: string; sourceName?: string }

/** purl type → OSV ecosystem (and the distro version a Debian/Alpine record is scoped to). */
export function packageOfPurl(purl: string, sourceName?: string): SbomPackage | undefined {
  let p: PackageURL;
  try {
    p = PackageURL.fromString(purl);
  } catch {
    return undefined;
  }
  if (!p.version) return undefined;
  const distro = typeof p.qualifiers?.distro === 'string' ? p.qualifiers.distro : undefined;
  switch (p.type) {
    case 'pypi':
      return { name: p.name, version: p.version, purl, ecosystem: 'PyPI' };
    case 'npm':
      return { name: p.namespace ? `${p.namespace}/${p.name}` : p.name, version: p.version, purl, ecosystem: 'npm' };
    case 'deb': {
      const eco = p.namespace === 'ubuntu' ? 'Ubuntu' : 'Debian';
      return { name: p.name, version: p.version, purl, ecosystem: eco, ...(distro ? { distroVersion: distro.replace(/^[a-z]+-/, '') } : {}), ...(sourceName ? { sourceName } : {}) };
    }
    case 'apk':
      return { name: p.name, version: p.version, purl, ecosystem: 'Alpine', ...(distro ? { distroVersion: distro.replace(/^[a-z]+-/, '') } : {}) };
    default:
      return undefined;
  }
}

/** The packages of a CycloneDX SBOM that have a purl (nested components included). */
export function sbomPackages(bom: unknown, file: string): SbomPackage[] {
  const b = bom as Json;
  if (!b || b.bomFormat !== 'CycloneDX' || !Array.isArray(b.components)) throw new CustodyError('BOM_INVALID', 'the SBOM is not a CycloneDX document with components', { file });
  const out: SbomPackage[] = [];
  const walk = (list: unknown[]) => {
    for (const c of list) {
      const co = c as Json;
      if (typeof co?.purl === 'string') {
        const src = Array.isArray(co.properties) ? (co.properties as Json[]).find((x) => x?.name === 'custody:package:source')?.value : undefined;
        const p = packageOfPurl(co.purl, typeof src === 'string' ? src : undefined);
        // report the name as the package spells it (Jinja2), match by the purl's normalized one
        if (p && p.ecosystem === 'PyPI' && typeof co.name === 'string' && normalizePythonName(co.name) === normalizePythonName(p.name)) p.name = co.name;
        if (p) out.push(p);
      }
      if (Array.isArray(co?.components)) walk(co.components);
    }
  };
  walk(b.components as unknown[]);
  return out;
}

function sameName(ecosystem: string, a: string, b: string): boolean {
  return ecosystem === 'PyPI' ? normalizePythonName(a) === normalizePythonName(b) : a === b;
}

function ecosystemMatches(pkg: SbomPackage, recordEcosystem: string): boolean {
  const [base, suffix] = [recordEcosystem.split(':')[0], recordEcosystem.split(':').slice(1).join(':')];
  if (base !== pkg.ecosystem) return false;
  // Debian:12 / Alpine:v3.19 records apply to that release; unknown distro version → every release
  if (!suffix || !pkg.distroVersion) return true;
  return suffix.replace(/^v/, '') === pkg.distroVersion.replace(/^v/, '') || pkg.distroVersion.startsWith(`${suffix.replace(/^v/, '')}.`);
}

export interface MatchResult { findings: Finding[]; uncertain: string[] }

/** Every (record, package) pair where the package's version is affected. */
export function matchOsv(packages: SbomPackage[], db: OsvDatabase): MatchResult {
  const findings: Finding[] = [];
  const uncertain: string[] = [];
  for (const rec of db.records) {
    if (rec.withdrawn) continue;
    for (const aff of rec.affected) {
      for (const pkg of packages) {
        if (!ecosystemMatches(pkg, aff.package.ecosystem)) continue;
        if (!sameName(pkg.ecosystem, pkg.name, aff.package.name) && !(pkg.sourceName && sameName(pkg.ecosystem, pkg.sourceName, aff.package.name))) continue;
        const compare = comparatorFor(pkg.ecosystem)!;
        let hit = false;
        let unsure: string | undefined;
        try {
          hit = aff.versions.some((v) => v === pkg.version || compare(v, pkg.version) === 0);
        } catch (e) {
          if (!(e instanceof VersionParseError)) throw e;
          unsure = e.message;
        }
        for (const r of aff.ranges) {
          if (hit || r.type === 'GIT') continue;
          try {
            hit = inRange(pkg.version, r, r.type === 'SEMVER' ? compareSemver : compare);
          } catch (e) {
            if (!(e instanceof VersionParseError)) throw e;
            unsure = e.message;
          }
        }
        // a version that cannot be ordered against the advisory is reported, not waved through
        const guessed = !hit && unsure !== undefined;
        if (guessed) {
          uncertain.push(`${rec.id} ${pkg.purl}: ${unsure}`);
          hit = true;
        }
        if (!hit) continue;
        const { severity, scores } = osvSeverity(rec.raw, aff.raw);
        const fixedIn = [...new Set(aff.ranges.flatMap((r) => r.events.flatMap((e) => (e.fixed ? [e.fixed] : []))))];
        findings.push({
          id: rec.id, aliases: rec.aliases,
          package: { name: pkg.name, version: pkg.version, purl: pkg.purl, ecosystem: aff.package.ecosystem },
          severity, scores, fixedIn,
          ...(guessed ? { uncertain: unsure } : {}),
        });
      }
    }
  }
  findings.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : (a.package!.purl! < b.package!.purl! ? -1 : 1)));
  return { findings, uncertain };
}

export const MATCHER = { name: 'custody-osv-match', version: '0.1.0', uri: 'pkg:npm/%40custody/plugin-vulns@0.1.0' } as const;

export function osvMatchReport(packages: SbomPackage[], db: OsvDatabase, dbName: string, times: { startedOn: string; finishedOn: string }): ScanReport & { uncertain: string[] } {
  const { findings, uncertain } = matchOsv(packages, db);
  return {
    format: 'osv-match',
    scanner: { name: MATCHER.name, uri: MATCHER.uri, version: MATCHER.version, db: { uri: dbName, version: `sha256:${db.sha256}`, lastUpdate: db.lastUpdate } },
    findings, vex: [], uncertain, ...times,
  };
}
