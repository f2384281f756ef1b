/**
 * `custody verify --html FILE`: the verification as one self-contained page a release manager
 * reads — the verdict, failures first, what was proven about which artifact, the layout as a
 * graph (inline SVG), and every step's signers, rules, consumed artifacts and predicate values.
 * No scripts, no network: a Content-Security-Policy forbids loading anything.
 */
import type { Check, VerificationReport } from '@custody/core';
import { functionaryLabel } from '@custody/core/identity';

export interface HtmlReportOptions {
  /** The layout file as the user named it. */
  layoutFile: string;
  /** The graph of the layout, as inline SVG (layoutSvg), if the layout could be drawn. */
  graphSvg?: string;
  /** When the verification ran (shown; the caller's clock). */
  now: Date;
  toolVersion: string;
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const MARK: Record<string, string> = { pass: '✓', fail: '✗', warn: '!', 'no-claim': '–', skipped: '–' };
function badge(v: string): string {
  return `<span class="badge ${esc(v)}">${MARK[v] ?? '·'} ${esc(v)}</span>`;
}

function value(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return esc(s.length > 2000 ? `${s.slice(0, 1997)}...` : s);
}

/** Steps in the report's order, each with its checks. */
function groups(checks: Check[]): { layout: Check[]; steps: [string, Check[]][] } {
  const layout: Check[] = [];
  const steps = new Map<string, Check[]>();
  for (const c of checks) {
    if (c.step === undefined) { layout.push(c); continue; }
    if (!steps.has(c.step)) steps.set(c.step, []);
    steps.get(c.step)!.push(c);
  }
  return { layout, steps: [...steps] };
}

interface ArtifactFact { step: string; side: string; rule: string; from?: string; fromSide?: string }

/**
 * What the verification proved about each artifact: which rule of which step consumed it, and
 * for a MATCH, whose products (or materials) it matched exactly (same digest).
 */
function artifactFacts(checks: Check[]): Map<string, ArtifactFact[]> {
  const out = new Map<string, ArtifactFact[]>();
  for (const c of checks) {
    if ((c.check !== 'artifact-rules' && c.check !== 'inspection-rules') || c.step === undefined) continue;
    for (const r of c.rules ?? []) {
      if (r.verdict !== 'pass' || !r.consumed.length) continue;
      const m = /^MATCH\s.*\bWITH\s+(MATERIALS|PRODUCTS)\b.*\bFROM\s+(\S+)\s*$/i.exec(r.rule);
      for (const path of r.consumed) {
        if (!out.has(path)) out.set(path, []);
        out.get(path)!.push({ step: c.step, side: c.side ?? '', rule: r.rule, ...(m ? { from: m[2], fromSide: m[1].toLowerCase() } : {}) });
      }
    }
  }
  return out;
}

function provenSection(report: VerificationReport): string {
  const facts = artifactFacts(report.checks);
  const rows = [...facts].filter(([, fs]) => fs.some((f) => f.from || /^CREATE\b/i.test(f.rule)));
  if (!rows.length) return '<section id="proven"><h2>What was proven about which artifact</h2><p>No artifact was matched between steps.</p></section>';
  const scope = report.verdict === 'pass' ? '' : '<p class="note">The verification failed: these facts hold, but the chain as a whole is not proven.</p>';
  const body = rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, fs]) => {
    const created = fs.filter((f) => /^CREATE\b/i.test(f.rule) && f.side === 'products').map((f) => esc(f.step));
    const matched = fs.filter((f) => f.from).map((f) => `${esc(f.step)} ${esc(f.side)} = ${esc(f.from)} ${esc(f.fromSide)}`);
    return `<tr><td><code>${esc(path)}</code></td><td>${created.join(', ') || '–'}</td><td>${matched.join('<br>') || '–'}</td></tr>`;
  }).join('\n');
  return `<section id="proven"><h2>What was proven about which artifact</h2>${scope}
<p>Each artifact below was recorded, with its digest, in signed links; “=” means the digests are identical.</p>
<table><thead><tr><th>artifact</th><th>created by</th><th>the same file (same digest) in</th></tr></thead><tbody>
${body}
</tbody></table></section>`;
}

function checkRows(c: Check): string {
  const parts: string[] = [];
  switch (c.check) {
    case 'links':
    case 'threshold': {
      if (c.check === 'links' && c.verdict === 'pass') return '';
      parts.push(`<h4>${badge(c.verdict)} ${c.check === 'links' ? 'links' : `signers (${c.counted ?? 0}/${c.threshold ?? 1} required)`}</h4>`);
      if (c.verdict === 'fail' || c.check === 'links') parts.push(`<p class="msg">${esc(c.message)}</p>`);
      if (c.signers?.length) {
        parts.push('<table><thead><tr><th></th><th>signer</th><th>file</th><th>format</th><th>reason</th></tr></thead><tbody>');
        for (const s of c.signers) parts.push(`<tr><td>${badge(s.valid ? 'pass' : 'fail')}</td><td><code>${esc(s.identity ?? s.keyid)}</code></td><td><code>${esc(s.file)}</code></td><td>${esc(s.format)}${s.kind === 'layout' ? ' (sublayout)' : ''}</td><td>${esc(s.reason ?? '')}</td></tr>`);
        parts.push('</tbody></table>');
      }
      break;
    }
    case 'artifact-rules':
    case 'inspection-rules': {
      parts.push(`<h4>${badge(c.verdict)} ${esc(c.side ?? '')}</h4>`);
      parts.push('<table class="rules"><thead><tr><th></th><th>rule</th><th>consumed artifacts</th></tr></thead><tbody>');
      for (const r of c.rules ?? []) {
        parts.push(`<tr class="${esc(r.verdict)}"><td>${badge(r.verdict)}</td><td><code>${esc(r.rule)}</code>${r.message ? `<div class="msg">${esc(r.message)}</div>` : ''}${r.hint ? `<div class="hint">${esc(r.hint)}</div>` : ''}</td><td>${r.consumed.map((p) => `<code>${esc(p)}</code>`).join(' ') || '–'}</td></tr>`);
      }
      if (c.unconsumed?.length) parts.push(`<tr><td>·</td><td>left, allowed by the implicit ALLOW *</td><td>${c.unconsumed.map((p) => `<code>${esc(p)}</code>`).join(' ')}</td></tr>`);
      parts.push('</tbody></table>');
      break;
    }
    case 'predicate-rules': {
      parts.push(`<h4>${badge(c.verdict)} predicates</h4>`);
      for (const p of c.predicates ?? []) {
        parts.push(`<div class="predicate"><p>${badge(p.verdict)} <code>${esc(p.predicateType)}</code> — ${p.accepted.length}/${p.threshold} functionar${p.threshold === 1 ? 'y' : 'ies'}${p.message ? `<br><span class="msg">${esc(p.message)}</span>` : ''}</p>`);
        for (const claim of p.claims) {
          parts.push(`<p class="claim">${badge(claim.verdict)} by <code>${esc(functionaryLabel(claim.functionary))}</code>${claim.source ? ` in <code>${esc(claim.source)}</code>` : ''}</p>`);
          parts.push('<table class="rules"><thead><tr><th></th><th>rule</th><th>values it read</th></tr></thead><tbody>');
          for (const a of claim.artifactRules) parts.push(`<tr class="${esc(a.verdict)}"><td>${badge(a.verdict)}</td><td>${esc(a.side)}: <code>${esc(a.rule)}</code>${a.message ? `<div class="msg">${esc(a.message)}</div>` : ''}</td><td></td></tr>`);
          for (const r of claim.rules) {
            const observed = (r.decided ? `<div class="hint">compared: <code>${esc(r.decided)}</code></div>` : '') + Object.entries(r.observed ?? {}).map(([k, v]) => `<div><code>${esc(k)}</code> = <code>${value(v)}</code></div>`).join('');
            parts.push(`<tr class="${esc(r.verdict)}"><td>${badge(r.verdict)}</td><td><code>${esc(r.rule)}</code>${r.verdict !== 'pass' && r.message ? `<div class="msg">${esc(r.message)}</div>` : ''}</td><td>${observed}</td></tr>`);
          }
          parts.push('</tbody></table>');
        }
        parts.push('</div>');
      }
      break;
    }
    case 'inspection':
      parts.push(`<h4>${badge(c.verdict)} ran <code>${esc((c.command ?? []).join(' '))}</code> → exit ${esc(c.exitCode)}</h4>`);
      if (c.verdict === 'fail') parts.push(`<p class="msg">${esc(c.message)}</p>`);
      break;
    case 'sublayout':
      parts.push(`<h4>${badge(c.verdict)} sublayout</h4><p class="msg">${esc(c.message)}</p>`);
      for (const [step, list] of groups(c.checks ?? []).steps) parts.push(stepSection(step, list, 'sub'));
      break;
    default:
      parts.push(`<h4>${badge(c.verdict)} ${esc(c.check)}</h4><p class="msg">${esc(c.message)}</p>`);
  }
  for (const r of c.rejected ?? []) parts.push(`<p class="msg">${badge('fail')} rejected <code>${esc(r.file)}</code>: ${esc(r.code)}: ${esc(r.reason)}</p>`);
  return parts.join('\n');
}

function stepSection(step: string, list: Check[], kind = 'step'): string {
  const failed = list.some((c) => c.verdict === 'fail');
  const inspection = list.some((c) => c.check === 'inspection' || c.check === 'inspection-rules');
  const signers = list.find((c) => c.check === 'threshold')?.signers?.filter((s) => s.valid).map((s) => s.identity ?? s.keyid.slice(0, 8)) ?? [];
  return `<details class="step ${failed ? 'fail' : 'pass'} ${kind}" id="step-${esc(step)}"${failed ? ' open' : ''}>
<summary>${badge(failed ? 'fail' : list.some((c) => c.verdict === 'skipped') ? 'skipped' : 'pass')} <strong>${inspection ? 'inspection' : 'step'} ${esc(step)}</strong>${signers.length ? ` <span class="dim">signed by ${esc([...new Set(signers)].join(', '))}</span>` : ''}</summary>
${list.map(checkRows).join('\n')}
</details>`;
}

function failuresSection(report: VerificationReport): string {
  if (report.verdict === 'pass') return '';
  const f = report.failure;
  const failed: string[] = [];
  const visit = (checks: Check[]): void => {
    for (const c of checks) {
      if (c.checks) visit(c.checks);
      if (c.verdict !== 'fail') continue;
      failed.push(`<li><a href="#step-${esc(c.step ?? '')}">${esc(c.step ?? 'layout')}</a> — ${esc(c.check)}: ${esc(c.message)}</li>`);
    }
  };
  visit(report.checks);
  return `<section id="failures"><h2>What failed</h2>
${f ? `<p class="failure"><strong>${esc(f.code)}</strong> at ${esc(f.check)}${f.step ? ` (${esc(f.step)})` : ''}: ${esc(f.message)}</p>` : ''}
${f?.hint ? `<p class="hint">${esc(f.hint)}</p>` : ''}
<ul>${failed.join('\n')}</ul></section>`;
}

const STYLE = `
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#202124;background:#fff}
main{max-width:1200px;margin:0 auto;padding:0 24px 48px}
header.verdict{padding:20px 24px;color:#fff}
header.verdict.pass{background:#188038} header.verdict.fail{background:#c5221f}
header h1{margin:0;font-size:40px;letter-spacing:1px} header p{margin:4px 0 0} header code{background:rgba(255,255,255,.2);color:#fff}
h2{border-bottom:1px solid #dadce0;padding-bottom:4px;margin-top:32px}
h4{margin:12px 0 4px}
code{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f1f3f4;padding:0 3px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:4px 0 8px} th,td{text-align:left;vertical-align:top;padding:3px 6px;border-bottom:1px solid #eee}
th{font-weight:600;color:#5f6368;font-size:12px}
.badge{display:inline-block;min-width:46px;font-size:11px;font-weight:600;padding:0 5px;border-radius:8px;text-align:center}
.badge.pass{background:#e6f4ea;color:#137333} .badge.fail{background:#fce8e6;color:#a50e0e}
.badge.warn{background:#fef7e0;color:#b06000} .badge.no-claim,.badge.skipped{background:#f1f3f4;color:#5f6368}
tr.fail td{background:#fff4f3}
.msg{color:#a50e0e} .dim{color:#5f6368;font-weight:normal} .note{color:#b06000}
details.step{border:1px solid #dadce0;border-radius:6px;margin:8px 0;padding:6px 12px}
details.step.fail{border-color:#c5221f}
summary{cursor:pointer;font-size:15px}
#failures .failure{font-size:16px;color:#a50e0e} .hint{background:#fef7e0;padding:4px 8px;border-radius:4px}
#graph svg{max-width:100%;height:auto}
`;

export function renderHtmlReport(report: VerificationReport, opts: HtmlReportOptions): string {
  const pass = report.verdict === 'pass';
  const { layout, steps } = groups(report.checks);
  // failures first: failing steps lead the list
  const ordered = [...steps.filter(([, l]) => l.some((c) => c.verdict === 'fail')), ...steps.filter(([, l]) => !l.some((c) => c.verdict === 'fail'))];
  const w = report.warnings.length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>custody verify: ${pass ? 'PASS' : 'FAIL'} — ${esc(opts.layoutFile)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="verdict ${pass ? 'pass' : 'fail'}">
<h1 id="verdict">${pass ? '✓ PASS' : '✗ FAIL'}</h1>
<p>custody verify <code>${esc(opts.layoutFile)}</code> — ${esc(opts.now.toISOString())}, custody ${esc(opts.toolVersion)}${w ? ` — ${w} warning${w === 1 ? '' : 's'}` : ''}</p>
${report.failure ? `<p>${esc(report.failure.code)} at ${esc(report.failure.check)}${report.failure.step ? ` (${esc(report.failure.step)})` : ''}</p>` : ''}
</header>
<main>
${failuresSection(report)}
<section id="graph"><h2>The layout</h2>
${opts.graphSvg ?? '<p>(the layout could not be drawn)</p>'}
</section>
${provenSection(report)}
<section id="layout-checks"><h2>Layout</h2><ul>
${layout.map((c) => `<li>${badge(c.check === 'layout-signature' && report.layoutSigned === false ? 'warn' : c.verdict)} ${esc(c.check)}: ${esc(c.message)}</li>`).join('\n')}
</ul></section>
<section id="steps"><h2>Steps</h2>
${ordered.map(([step, list]) => stepSection(step, list)).join('\n')}
</section>
${w ? `<section id="warnings"><h2>Warnings</h2><ul>${report.warnings.map((x) => `<li>${badge('warn')} ${esc(x)}</li>`).join('\n')}</ul></section>` : ''}
${report.inspectionsSkipped?.length ? `<section id="skipped"><h2>Not checked</h2><p>Inspections not run: ${report.inspectionsSkipped.map((s) => `<code>${esc(s)}</code>`).join(', ')}</p></section>` : ''}
</main>
</body>
</html>
`;
}
