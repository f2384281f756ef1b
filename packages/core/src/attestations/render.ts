/** Plain-text tree of the predicate-rule part of a verify report (the CLI indents and colours it). */
import type { AttestationStepsReport } from './evaluate.ts';

const MARK: Record<string, string> = { pass: '✔', fail: '✘', warn: '!', 'no-claim': '–', skipped: '–' };

function short(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export function renderAttestationReport(report: AttestationStepsReport): string[] {
  const out: string[] = [];
  for (const step of report.steps) {
    out.push(`${MARK[step.verdict]} step ${step.step}${step.message ? `: ${step.message}` : ''}`);
    for (const ep of step.predicates) {
      out.push(`  ${MARK[ep.verdict]} ${ep.predicateType} — ${ep.accepted.length}/${ep.threshold} functionaries${ep.message ? `: ${ep.message}` : ''}`);
      for (const c of ep.claims) {
        out.push(`    ${MARK[c.verdict]} by ${c.functionary.slice(0, 8)}${c.source ? ` (${c.source})` : ''}`);
        for (const a of c.artifactRules) {
          out.push(`      ${MARK[a.verdict]} ${a.side}: ${a.rule}${a.consumed.length ? ` → ${a.consumed.length} consumed` : ''}${a.message ? ` — ${a.message}` : ''}`);
        }
        for (const r of c.rules) {
          out.push(`      ${MARK[r.verdict]} ${r.rule}${r.message && r.verdict !== 'pass' ? ` — ${r.message}` : ''}`);
          for (const [path, value] of Object.entries(r.observed ?? {})) out.push(`          ${path} = ${short(value)}`);
        }
      }
    }
  }
  return out;
}
