/**
 * The verification report as SARIF 2.1.0 (OASIS), for code-scanning dashboards: one result per
 * failed or warned check, each with a rule id (the failure code: ARTIFACT_RULE, PREDICATE_RULE,
 * …), the step as its logical location and the layout file as its physical location. A passing
 * verification is a run with no results.
 */
import type { Check, VerificationReport } from '@custody/core';

export interface SarifOptions {
  /** The layout file, as the user named it (a relative path stays relative). */
  layoutFile: string;
  toolVersion: string;
}

/** What each rule id means, for the dashboard's rule list. */
const RULES: Record<string, string> = {
  LAYOUT_SIGNATURE: 'The layout is signed by every layout key given',
  LAYOUT_EXPIRED: 'The layout has not expired',
  LINK_NOT_FOUND: 'Every step has the links its threshold requires',
  SIGNATURE_INVALID: 'Every link is signed by a functionary of its step',
  UNAUTHORIZED_SIGNER: 'Every link is signed by a functionary of its step',
  THRESHOLD: 'Enough distinct functionaries signed each step',
  LINKS_DISAGREE: 'A step\'s links agree on materials and products',
  SUBLAYOUT: 'Sublayouts verify',
  COMMAND_MISMATCH: 'A step ran its expected command',
  ARTIFACT_RULE: 'Every artifact rule of every step and inspection holds',
  PREDICATE_RULE: 'Every predicate rule (CEL) over the step\'s attestations holds',
  PREDICATE_RULE_WARNING: 'A predicate rule marked warn: true did not hold',
  INSPECTION_FAILED: 'Every inspection command exits 0',
  VERIFICATION_WARNING: 'The verifier reported a warning',
};

const CHECK_CODE: Record<string, string> = {
  'layout-signature': 'LAYOUT_SIGNATURE', 'layout-expiry': 'LAYOUT_EXPIRED', links: 'LINK_NOT_FOUND',
  threshold: 'THRESHOLD', 'threshold-agreement': 'LINKS_DISAGREE', sublayout: 'SUBLAYOUT',
  'command-alignment': 'COMMAND_MISMATCH', 'artifact-rules': 'ARTIFACT_RULE', 'inspection-rules': 'ARTIFACT_RULE',
  'predicate-rules': 'PREDICATE_RULE', inspection: 'INSPECTION_FAILED',
};

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: 'error' | 'warning';
  message: { text: string };
  locations: { physicalLocation: { artifactLocation: { uri: string } }; logicalLocations?: { name: string; kind: string }[] }[];
  properties?: { check?: string; step?: string };
}

function uriOf(path: string): string {
  return encodeURI(path.replace(/\\/g, '/'));
}

export function renderSarif(report: VerificationReport, opts: SarifOptions): Record<string, unknown> {
  const ruleIds: string[] = [];
  const indexOf = (id: string): number => {
    let i = ruleIds.indexOf(id);
    if (i < 0) { ruleIds.push(id); i = ruleIds.length - 1; }
    return i;
  };
  const results: SarifResult[] = [];
  const add = (ruleId: string, level: 'error' | 'warning', text: string, step?: string, check?: string): void => {
    results.push({
      ruleId, ruleIndex: indexOf(ruleId), level, message: { text },
      locations: [{
        physicalLocation: { artifactLocation: { uri: uriOf(opts.layoutFile) } },
        ...(step !== undefined ? { logicalLocations: [{ name: step, kind: 'module' }] } : {}),
      }],
      properties: { ...(check ? { check } : {}), ...(step !== undefined ? { step } : {}) },
    });
  };
  const f = report.failure;
  const visit = (checks: Check[]): void => {
    for (const c of checks) {
      if (c.check === 'sublayout' && c.checks) visit(c.checks);
      if (c.verdict === 'fail') {
        const isFailure = f && f.check === c.check && f.step === c.step;
        add(isFailure ? f.code : CHECK_CODE[c.check] ?? 'VERIFICATION_FAILED', 'error', isFailure ? `${f.message}${f.hint ? `. ${f.hint}` : ''}` : c.message, c.step, c.check);
      }
      for (const p of c.predicates ?? []) {
        for (const claim of p.claims) {
          for (const r of claim.rules) {
            if (r.verdict === 'warn') add('PREDICATE_RULE_WARNING', 'warning', `${r.rule}${r.message ? `: ${r.message}` : ''}`, c.step, c.check);
          }
        }
      }
    }
  };
  visit(report.checks);
  // a failure the checks do not carry (e.g. bad evidence found before any check) still gets its result
  if (f && !results.some((r) => r.level === 'error')) add(f.code, 'error', f.message, f.step, f.check);
  for (const w of report.warnings) add(/differs from expected command/.test(w) ? 'COMMAND_MISMATCH' : 'VERIFICATION_WARNING', 'warning', w, /^Step '([^']+)'/.exec(w)?.[1]);
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: 'custody',
          version: opts.toolVersion,
          informationUri: 'https://custody.dev',
          rules: ruleIds.map((id) => ({
            id,
            shortDescription: { text: RULES[id] ?? id },
            defaultConfiguration: { level: id.endsWith('WARNING') || id === 'COMMAND_MISMATCH' ? 'warning' : 'error' },
          })),
        },
      },
      invocations: [{ executionSuccessful: true, exitCode: report.verdict === 'pass' ? 0 : 1 }],
      results,
      properties: { verdict: report.verdict },
    }],
  };
}
