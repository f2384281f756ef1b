/**
 * `custody layout graph`: the chain as Mermaid or Graphviz dot — steps and inspections as
 * nodes (with their functionaries, plugins and predicate rules), and one edge from step A to
 * item B for all `MATCH … FROM A` rules of B (one label line per rule: pattern with its IN
 * prefixes, and which side it matches).
 */
import { isPlainObject } from '../model/layout.ts';
import { parseRule, shlexSplit } from '../rules/parse.ts';

export interface LayoutGraphNode {
  id: string;
  name: string;
  kind: 'step' | 'inspection';
  label: string;
  /** Key names, key files or keyids, and keyless identities (`subject (issuer …)`). */
  functionaries: string[];
  threshold: number;
  plugins: string[];
  /** Predicate rules (CEL), by predicate type, as written (parameters not substituted). */
  predicateRules: { predicateType: string; rule: string }[];
  /** An inspection's command. */
  run?: string;
}

export interface LayoutGraph {
  nodes: LayoutGraphNode[];
  /** One edge per (from, to) pair: every MATCH of `to` that reads `from`, one label line each. */
  edges: { from: string; to: string; label: string; rules: string[] }[];
}

function tokensOf(r: unknown): string[] | undefined {
  if (typeof r === 'string') { try { return shlexSplit(r); } catch { return undefined; } }
  return Array.isArray(r) && r.every((t) => typeof t === 'string') ? (r as string[]) : undefined;
}

function functionaryName(f: unknown): string {
  if (typeof f === 'string') return f.length === 64 && /^[0-9a-f]+$/.test(f) ? f.slice(0, 8) : f;
  if (isPlainObject(f)) {
    const who = typeof f.subject === 'string' ? f.subject : typeof f.subjectPattern === 'string' ? `/${f.subjectPattern}/` : '?';
    return `${who} (issuer ${String(f.issuer)})`;
  }
  return String(f);
}

const MAX_RULE = 70;
function shortRule(rule: string): string {
  return rule.length > MAX_RULE ? `${rule.slice(0, MAX_RULE - 1)}…` : rule;
}

/** `base-model/* (products → materials)`; IN prefixes as written: `* IN dist (products IN dist → materials)`. */
function matchLabel(rule: { pattern: string; sourcePrefix: string; destPrefix: string; destType: string }, side: string): string {
  const src = rule.sourcePrefix ? ` IN ${rule.sourcePrefix}` : '';
  const dst = rule.destPrefix ? ` IN ${rule.destPrefix}` : '';
  return `${rule.pattern}${src} (${rule.destType}${dst} → ${side})`;
}

/** Nodes (functionaries, plugins, predicate rules) and MATCH edges of a layout body or authoring document. */
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
    const functionaries = [...(Array.isArray(item.pubkeys) ? item.pubkeys : []), ...(Array.isArray(item.functionaries) ? item.functionaries : [])].map(functionaryName);
    const plugins = (Array.isArray(item.plugins) ? item.plugins : []).map((p) => (isPlainObject(p) ? String(p.name) : String(p)));
    const predicateRules: LayoutGraphNode['predicateRules'] = [];
    for (const ep of Array.isArray(item.expectedPredicates) ? item.expectedPredicates : []) {
      if (!isPlainObject(ep)) continue;
      for (const a of Array.isArray(ep.expectedAttributes) ? ep.expectedAttributes : []) {
        if (isPlainObject(a) && typeof a.rule === 'string') predicateRules.push({ predicateType: String(ep.predicateType), rule: a.rule });
      }
    }
    const run = kind === 'inspection' ? (Array.isArray(item.run) ? item.run.join(' ') : typeof item.run === 'string' ? item.run : undefined) : undefined;
    const lines = [name];
    if (kind === 'step') lines.push(`${threshold} of ${functionaries.length}: ${functionaries.join(', ') || '(no functionaries)'}`);
    else lines.push(`(inspection)${run ? ` ${run}` : ''}`);
    if (plugins.length) lines.push(`plugins: ${plugins.join(', ')}`);
    for (const r of predicateRules) lines.push(`rule: ${shortRule(r.rule)}`);
    graph.nodes.push({ id, name, kind, label: lines.join('\n'), functionaries, threshold, plugins, predicateRules, ...(run !== undefined ? { run } : {}) });
  }
  const edges = new Map<string, LayoutGraph['edges'][number]>();
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
        const key = `${from}>${to}`;
        let edge = edges.get(key);
        if (!edge) { edge = { from, to, label: '', rules: [] }; edges.set(key, edge); graph.edges.push(edge); }
        const line = matchLabel(rule, side);
        if (!edge.rules.includes(line)) edge.rules.push(line);
        edge.label = edge.rules.join('\n');
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
