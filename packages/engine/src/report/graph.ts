/**
 * The layout drawn as a graph, as inline SVG: Graphviz compiled to WebAssembly (@viz-js/viz),
 * in-process, no network. Steps are boxes (functionaries, plugins, predicate rules), inspections
 * hexagons, one edge per pair of steps with every MATCH between them; with a report, each node
 * is coloured by its verdict.
 */
import { layoutGraph } from '@custody/core';
import type { VerificationReport } from '@custody/core';

export type StepVerdicts = Map<string, 'pass' | 'fail' | 'skipped'>;

/** The verdict of every step and inspection the report checked. */
export function stepVerdicts(report: VerificationReport | undefined): StepVerdicts {
  const out: StepVerdicts = new Map();
  for (const c of report?.checks ?? []) {
    if (c.step === undefined) continue;
    if (c.verdict === 'fail' || !out.has(c.step)) out.set(c.step, c.verdict);
  }
  return out;
}

function dotString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\l').replace(/[\u0000-\u001f]/g, ' ');
}

// colours used nowhere else on the page, so a screenshot shows where the graph is
const FILL = { pass: '#cdebd5', fail: '#f9d3cf', none: '#e8eaed' };
const STROKE = { pass: '#188038', fail: '#c5221f', none: '#80868b' };

/** Graphviz dot of a layout, nodes coloured by `verdicts` (grey: not checked). */
export function layoutDot(doc: unknown, verdicts: StepVerdicts = new Map()): string {
  const g = layoutGraph(doc);
  const out = ['digraph layout {', '  rankdir=LR;', '  bgcolor="transparent";',
    '  node [fontname="Helvetica", fontsize=11, style="filled,rounded", margin="0.15,0.08"];', '  edge [fontname="Helvetica", fontsize=9, color="#5f6368"];'];
  for (const n of g.nodes) {
    const verdict = verdicts.get(n.name);
    const v = verdict === 'pass' || verdict === 'fail' ? verdict : 'none';
    // \l: left-justified lines, the last one too
    const label = `${dotString(n.label)}\\l`;
    out.push(`  ${n.id} [label="${label}", shape=${n.kind === 'step' ? 'box' : 'hexagon'}, fillcolor="${FILL[v]}", color="${STROKE[v]}", penwidth=${v === 'fail' ? 2.5 : 1.2}, tooltip="${dotString(n.name)}: ${v === 'none' ? 'not checked' : v}"];`);
  }
  for (const e of g.edges) out.push(`  ${e.from} -> ${e.to} [label="${dotString(e.label)}\\l"];`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

let vizInstance: Promise<{ renderString(src: string, o: { format: string }): string }> | undefined;

/** SVG markup (no XML prolog or doctype: it goes inline into HTML) of a dot graph. */
export async function dotToSvg(dot: string): Promise<string> {
  vizInstance ??= import('@viz-js/viz').then((m) => m.instance());
  const svg = (await vizInstance).renderString(dot, { format: 'svg' });
  return svg.replace(/^[\s\S]*?(<svg\b)/, '$1').trim();
}

export async function layoutSvg(doc: unknown, report?: VerificationReport): Promise<string> {
  return dotToSvg(layoutDot(doc, stepVerdicts(report)));
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `custody layout graph --format html`: the drawn layout and, per step, its functionaries, plugins and rules. Self-contained. */
export async function layoutGraphHtml(doc: unknown, title: string): Promise<string> {
  const g = layoutGraph(doc);
  const svg = await layoutSvg(doc);
  const rows = g.nodes.map((n) => `<tr><td><strong>${esc(n.name)}</strong><br><span class="dim">${n.kind}</span></td>
<td>${n.kind === 'step' ? `${n.threshold} of ${esc(n.functionaries.join(', ') || '(none)')}` : esc(n.run ?? '')}</td>
<td>${esc(n.plugins.join(', '))}</td>
<td>${n.predicateRules.map((r) => `<div><code>${esc(r.rule)}</code> <span class="dim">${esc(r.predicateType)}</span></div>`).join('')}</td>
<td>${g.edges.filter((e) => e.to === n.id).map((e) => `<div>from <strong>${esc(g.nodes.find((x) => x.id === e.from)?.name)}</strong>: ${e.rules.map((r) => `<code>${esc(r)}</code>`).join(' ')}</div>`).join('')}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#202124}
svg{max-width:100%;height:auto} table{border-collapse:collapse;width:100%} th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #eee}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f1f3f4;padding:0 3px;word-break:break-all} .dim{color:#5f6368}</style>
</head><body>
<h1>${esc(title)}</h1>
${svg}
<table><thead><tr><th>step</th><th>functionaries</th><th>plugins</th><th>predicate rules</th><th>MATCH rules (what it consumes from whom)</th></tr></thead><tbody>
${rows}
</tbody></table>
</body></html>
`;
}
