/** The verification report as a tree a person reads in ten seconds. */
import type { Check, VerificationReport } from './types.ts';

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
      return;
    case 'threshold': {
      out.push(`${indent}${m} signers      ${c.counted}/${c.threshold} required`);
      for (const s of c.signers ?? []) {
        out.push(`${indent}    ${s.valid ? '✓' : '✗'} ${s.keyid.slice(0, 8)}  ${s.file}${s.kind === 'layout' ? ' (sublayout)' : ''}${s.format === 'dsse' ? ' [dsse]' : ''}${s.reason ? `  — ${s.reason}` : ''}`);
      }
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
    case 'inspection':
      out.push(`${indent}${m} run          ${printable((c.command ?? []).join(' '))}  → exit ${c.exitCode}`);
      return;
    default:
      out.push(`${indent}${m} ${c.check.padEnd(12)} ${printable(c.message)}`);
  }
}

function renderGroups(checks: Check[], indent: string): string[] {
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
      for (const c of list) out.push(`${indent}${mark(c.verdict)} ${c.check === 'layout-signature' ? 'layout signature' : 'layout expiry   '}  ${printable(c.message)}`);
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
  out.push(...renderGroups(report.checks, '  '));
  if (report.warnings.length) {
    out.push('warnings:');
    for (const w of report.warnings) out.push(`  ! ${printable(w)}`);
  }
  if (report.failure) {
    const f = report.failure;
    out.push(`FAILED ${f.code} at ${f.check}${f.step ? ` (${printable(f.step)})` : ''}: ${printable(f.message)}`);
  }
  return out.join('\n') + '\n';
}
