/** The verification report as a tree a person reads in ten seconds. */
import type { Check, VerificationReport } from './types.ts';
import { functionaryLabel } from '../identity.ts';

const MAX_LISTED = 5;

/** Control characters shown escaped, so artifact names cannot drive the terminal. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function listed(paths: string[]): string {
  const shown = paths.slice(0, MAX_LISTED).map(printable).join(', ');
  return paths.length > MAX_LISTED ? `${shown} … (+${paths.length - MAX_LISTED})` : shown;
}

function mark(v: 'pass' | 'fail'): string {
  return v === 'pass' ? '✓' : '✗';
}

function renderCheck(c: Check, indent: string, out: string[]): void {
  const m = mark(c.verdict);
  switch (c.check) {
    case 'links':
      out.push(`${indent}${m} links        ${c.files?.length ?? 0} file(s), threshold ${c.threshold}${c.files?.length ? `: ${c.files.join(', ')}` : ''}`);
      if (c.verdict === 'fail') out.push(`${indent}    ${printable(c.message)}`);
      renderRejected(c, indent, out);
      return;
    case 'threshold': {
      out.push(`${indent}${m} signers      ${c.counted}/${c.threshold} required`);
      for (const s of c.signers ?? []) {
        const who = s.identity ? printable(s.identity) : s.keyid.slice(0, 8);
        out.push(`${indent}    ${s.valid ? '✓' : '✗'} ${who}  ${printable(s.file)}${s.kind === 'layout' ? ' (sublayout)' : ''}${s.format !== 'metablock' ? ` [${s.format}]` : ''}${s.reason ? `  — ${printable(s.reason)}` : ''}`);
      }
      renderRejected(c, indent, out);
      return;
    }
    case 'threshold-agreement':
      out.push(`${indent}${m} agreement    ${printable(c.message)}`);
      return;
    case 'sublayout':
      out.push(`${indent}${m} sublayout    ${printable(c.message)}`);
      for (const line of renderGroups(c.checks ?? [], `${indent}    `)) out.push(line);
      return;
    case 'artifact-rules':
    case 'inspection-rules': {
      const rules = c.rules ?? [];
      out.push(`${indent}${m} ${c.side === 'materials' ? 'materials' : 'products '}    ${rules.length ? '' : '(no rules)'}`.trimEnd());
      for (const r of rules) {
        const consumed = r.consumed.length ? `  consumed ${r.consumed.length}: ${listed(r.consumed)}` : '';
        out.push(`${indent}    ${mark(r.verdict)} ${printable(r.rule)}${consumed}`);
        if (r.message) out.push(`${indent}        ${printable(r.message)}`);
      }
      if (c.verdict === 'pass' && c.unconsumed?.length) out.push(`${indent}    · left (allowed): ${listed(c.unconsumed)}`);
      return;
    }
    case 'predicate-rules':
      renderPredicates(c, indent, out);
      return;
    case 'inspection':
      out.push(`${indent}${m} run          ${printable((c.command ?? []).join(' '))}  → exit ${c.exitCode}`);
      return;
    default:
      out.push(`${indent}${m} ${c.check.padEnd(12)} ${printable(c.message)}`);
  }
}

function renderRejected(c: Check, indent: string, out: string[]): void {
  for (const r of c.rejected ?? []) out.push(`${indent}    ✗ ${printable(r.file)}  — rejected ${r.code}: ${printable(r.reason)}`);
}

const RULE_MARK: Record<string, string> = { pass: '✓', fail: '✗', warn: '!', 'no-claim': '–', skipped: '–' };

function shortValue(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return printable(s.length > 120 ? `${s.slice(0, 117)}...` : s);
}

/** Each expected predicate, its claims, each rule with its verdict, and the values a failed rule saw. */
function renderPredicates(c: Check, indent: string, out: string[]): void {
  out.push(`${indent}${mark(c.verdict)} predicates   ${(c.predicates ?? []).length} expected`);
  for (const p of c.predicates ?? []) {
    out.push(`${indent}    ${RULE_MARK[p.verdict]} ${printable(p.predicateType)}  ${p.accepted.length}/${p.threshold} functionar${p.threshold === 1 ? 'y' : 'ies'}${p.message ? `  — ${printable(p.message)}` : ''}`);
    for (const claim of p.claims) {
      out.push(`${indent}        ${RULE_MARK[claim.verdict]} by ${printable(functionaryLabel(claim.functionary))}${claim.source ? `  ${printable(claim.source)}` : ''}`);
      for (const a of claim.artifactRules) {
        out.push(`${indent}            ${RULE_MARK[a.verdict]} ${a.side}: ${printable(a.rule)}${a.message ? `  — ${printable(a.message)}` : ''}`);
      }
      for (const r of claim.rules) {
        out.push(`${indent}            ${RULE_MARK[r.verdict]} ${printable(r.rule)}${r.verdict !== 'pass' && r.message ? `  — ${printable(r.message)}` : ''}`);
        for (const [path, value] of Object.entries(r.observed ?? {})) out.push(`${indent}                saw ${printable(path)} = ${shortValue(value)}`);
      }
    }
  }
  renderRejected(c, indent, out);
}

function renderGroups(checks: Check[], indent: string, unsigned = false): string[] {
  const out: string[] = [];
  const order: string[] = [];
  const groups = new Map<string, Check[]>();
  const inspections = new Set(checks.filter((c) => c.check === 'inspection' || c.check === 'inspection-rules').map((c) => c.step));
  for (const c of checks) {
    const key = c.step === undefined ? '' : c.step;
    if (!groups.has(key)) { groups.set(key, []); order.push(key); }
    groups.get(key)!.push(c);
  }
  for (const key of order) {
    const list = groups.get(key)!;
    if (key === '') {
      for (const c of list) {
        const m = c.check === 'layout-signature' && unsigned ? '!' : mark(c.verdict);
        out.push(`${indent}${m} ${c.check === 'layout-signature' ? 'layout signature' : 'layout expiry   '}  ${printable(c.message)}`);
      }
      continue;
    }
    out.push(`${indent}${inspections.has(key) ? 'inspection' : 'step'} ${printable(key)}`);
    for (const c of list) renderCheck(c, `${indent}  `, out);
  }
  return out;
}

export function renderVerificationTree(report: VerificationReport, title = 'custody verify'): string {
  const out: string[] = [];
  out.push(`${title}: ${report.verdict === 'pass' ? 'PASS' : 'FAIL'}`);
  out.push(...renderGroups(report.checks, '  ', report.layoutSigned === false));
  if (report.warnings.length) {
    out.push('warnings:');
    for (const w of report.warnings) out.push(`  ! ${printable(w)}`);
  }
  if (report.failure) {
    const f = report.failure;
    out.push(`FAILED ${f.code} at ${f.check}${f.step ? ` (${printable(f.step)})` : ''}: ${printable(f.message)}`);
  } else {
    // The verdict again at the bottom, where a long report's reader ends up.
    const w = report.warnings.length;
    out.push(`PASSED${w ? ` with ${w} warning${w === 1 ? '' : 's'}` : ''}`);
  }
  return out.join('\n') + '\n';
}
