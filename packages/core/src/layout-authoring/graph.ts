/**
 * `custody layout graph`: the chain as Mermaid or Graphviz dot — steps and inspections as
 * nodes, and an edge from step A to item B for every `MATCH … FROM A` rule of B (labelled with
 * the pattern and which side it matches).
 */
import { isPlainObject } from '../model/layout.ts';
import { parseRule, shlexSplit } from '../rules/parse.ts';

export interface LayoutGraph {
  nodes: { id: string; name: string; kind: 'step' | 'inspection'; label: string }[];
  edges: { from: string; to: string; label: string }[];
}

function tokensOf(r: unknown): string[] | undefined {
  if (typeof r === 'string') { try { return shlexSplit(r); } catch { return undefined; } }
  return Array.isArray(r) && r.every((t) => typeof t === 'string') ? (r as string[]) : undefined;
}

/** Nodes and MATCH edges of a layout body or authoring document. */
export function layoutGraph(doc: unknown): LayoutGraph {
  const graph: LayoutGraph = { nodes: [], edges: [] };
  if (!isPlainObject(doc)) return graph;
  const ids = new Map<string, string>();
  const items: [Record<string, unknown>, 'step' | 'inspection'][] = [
    ...(Array.isArray(doc.steps) ? doc.steps : []).filter(isPlainObject).map((s) => [s, 'step'] as [Record<string, unknown>, 'step']),
    ...(Array.isArray(doc.inspect) ? doc.inspect : []).filter(isPlainObject).map((s) => [s, 'inspection'] as [Record<string, unknown>, 'inspection']),
  ];
  for (const [item, kind] of items) {
    const name = String(item.name);
    const id = `n${ids.size}`;
    ids.set(name, id);
    const threshold = typeof item.threshold === 'number' ? item.threshold : 1;
    const signers = Array.isArray(item.pubkeys) ? item.pubkeys.length : 0;
    const label = kind === 'step' ? `${name}\n${threshold} of ${signers} functionar${signers === 1 ? 'y' : 'ies'}` : `${name}\n(inspection)`;
    graph.nodes.push({ id, name, kind, label });
  }
  for (const [item] of items) {
    for (const field of ['expected_materials', 'expected_products'] as const) {
      for (const r of Array.isArray(item[field]) ? (item[field] as unknown[]) : []) {
        const tokens = tokensOf(r);
        if (!tokens) continue;
        let rule;
        try { rule = parseRule(tokens); } catch { continue; }
        if (rule.type !== 'match') continue;
        const from = ids.get(rule.destName);
        const to = ids.get(String(item.name));
        if (!from || !to) continue;
        const side = field === 'expected_materials' ? 'materials' : 'products';
        graph.edges.push({ from, to, label: `${rule.pattern} (${rule.destType} → ${side})` });
      }
    }
  }
  return graph;
}

function mermaidText(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/\n/g, '<br/>');
}

function dotText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderLayoutGraph(doc: unknown, format: 'mermaid' | 'dot'): string {
  const g = layoutGraph(doc);
  const out: string[] = [];
  if (format === 'mermaid') {
    out.push('flowchart LR');
    for (const n of g.nodes) out.push(n.kind === 'step' ? `  ${n.id}["${mermaidText(n.label)}"]` : `  ${n.id}{{"${mermaidText(n.label)}"}}`);
    for (const e of g.edges) out.push(`  ${e.from} -->|"${mermaidText(e.label)}"| ${e.to}`);
  } else {
    out.push('digraph layout {', '  rankdir=LR;', '  node [fontname="Helvetica"];');
    for (const n of g.nodes) out.push(`  ${n.id} [label="${dotText(n.label)}", shape=${n.kind === 'step' ? 'box' : 'hexagon'}];`);
    for (const e of g.edges) out.push(`  ${e.from} -> ${e.to} [label="${dotText(e.label)}"];`);
    out.push('}');
  }
  return out.join('\n') + '\n';
}
