// The normalized shape every scanner format is read into, and severity helpers.

export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'NONE' | 'UNKNOWN';

export interface FindingPackage {
  name: string;
  version?: string;
  purl?: string;
  /** OSV ecosystem name when known (PyPI, npm, Debian:12, …). */
  ecosystem?: string;
}

export interface VexStatement {
  id: string;
  /** purl of the product the statement is about; without a version it covers every version. */
  purl?: string;
  /** bom-ref in the VEX document's own components, resolved to a purl when it has one. */
  state: 'not_affected' | 'affected' | 'fixed' | 'under_investigation' | 'resolved' | 'exploitable' | 'in_triage' | 'false_positive' | 'resolved_with_pedigree';
  justification?: string;
  detail?: string;
  source: string;
}

export interface Finding {
  id: string;
  aliases: string[];
  package?: FindingPackage;
  severity: Severity;
  /** Scores as the scanner states them: [{method: 'CVSS_V3', score: '7.5'}, …]. */
  scores: { method: string; score: string }[];
  fixedIn: string[];
  /** Set when the version could not be ordered against the advisory: reported as affected. */
  uncertain?: string;
  /** The VEX statement that applies, once VEX documents are applied. */
  vex?: VexStatement;
}

export interface ScannerInfo {
  name: string;
  /** in-toto vulns `scanner.uri`: a purl of the scanner where known. */
  uri: string;
  version?: string;
  db: { uri?: string; version?: string; lastUpdate?: string };
}

export interface ScanReport {
  format: 'sarif' | 'cyclonedx' | 'osv-scanner' | 'grype' | 'trivy' | 'osv-match';
  scanner: ScannerInfo;
  findings: Finding[];
  startedOn?: string;
  finishedOn?: string;
  /** VEX statements the report itself carries (CycloneDX analysis). */
  vex: VexStatement[];
}

export function qualitative(text: string | undefined): Severity {
  switch ((text ?? '').trim().toUpperCase()) {
    case 'CRITICAL':
      return 'CRITICAL';
    case 'HIGH':
    case 'IMPORTANT':
      return 'HIGH';
    case 'MEDIUM':
    case 'MODERATE':
      return 'MEDIUM';
    case 'LOW':
    case 'NEGLIGIBLE':
      return 'LOW';
    case 'NONE':
    case 'INFO':
    case 'INFORMATIONAL':
      return 'NONE';
    default:
      return 'UNKNOWN';
  }
}

/** CVSS v3 qualitative rating of a base score. */
export function ratingOfScore(score: number): Severity {
  if (!Number.isFinite(score)) return 'UNKNOWN';
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  if (score > 0) return 'LOW';
  return 'NONE';
}

const ROUNDUP = (x: number) => {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
};

/** CVSS v3.0/3.1 base score of a vector (the specification's formulas); undefined if not a v3 vector. */
export function cvss3BaseScore(vector: string): number | undefined {
  const m = /^CVSS:3\.[01]\/(.*)$/.exec(vector.trim());
  if (!m) return undefined;
  const metrics = new Map<string, string>();
  for (const part of m[1].split('/')) {
    const [k, v] = part.split(':');
    if (!k || !v || metrics.has(k)) return undefined;
    metrics.set(k, v);
  }
  const W: Record<string, Record<string, number>> = {
    AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
    AC: { L: 0.77, H: 0.44 },
    UI: { N: 0.85, R: 0.62 },
    C: { H: 0.56, L: 0.22, N: 0 },
    I: { H: 0.56, L: 0.22, N: 0 },
    A: { H: 0.56, L: 0.22, N: 0 },
  };
  const get = (k: string) => W[k]?.[metrics.get(k) ?? ''];
  const scope = metrics.get('S');
  const prText = metrics.get('PR');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const pr = prText === 'N' ? 0.85 : prText === 'L' ? (scope === 'C' ? 0.68 : 0.62) : prText === 'H' ? (scope === 'C' ? 0.5 : 0.27) : undefined;
  const [av, ac, ui, c, i, a] = ['AV', 'AC', 'UI', 'C', 'I', 'A'].map(get);
  if ([av, ac, ui, c, i, a, pr].some((x) => x === undefined)) return undefined;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av! * ac! * pr! * ui!;
  if (impact <= 0) return 0;
  return scope === 'U' ? ROUNDUP(Math.min(impact + exploitability, 10)) : ROUNDUP(Math.min(1.08 * (impact + exploitability), 10));
}
