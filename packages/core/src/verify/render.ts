/**
 * The verification report as a tree a person reads in ten seconds: by default a passing step is
 * one line (who signed it, how many rules and artifacts), a failing step is shown in full, and
 * the verdict ends the output where a long report's reader ends up. `verbose` shows every step
 * in full with every consumed artifact. Pure: the caller decides colours and symbols (a
 * terminal or not, NO_COLOR, FORCE_COLOR).
 */
import type { Check, VerificationReport } from './types.ts';
import { functionaryLabel } from '../identity.ts';

export interface TreeOptions {
  /** Every step in full, every consumed artifact listed (default: passing steps on one line). */
  verbose?: boolean;
  /** ANSI colours (default false). */
  color?: boolean;
  /** Unicode marks (✓ ✗ !) as on a terminal; false: ASCII words (ok, FAIL, warn) for logs and pipes. Default true. */
  symbols?: boolean;
}

const MAX_LISTED = 5;

type Mark = 'pass' | 'fail' | 'warn' | 'skip' | 'info';
const SYMBOLS: Record<Mark, string> = { pass: '✓', fail: '✗', warn: '!', skip: '–', info: '·' };
// Same width, so columns line up in a log file too.
const WORDS: Record<Mark, string> = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', skip: '-   ', info: '-   ' };
const COLOURS: Record<Mark, string> = { pass: '32', fail: '1;31', warn: '33', skip: '2', info: '2' };

class Style {
  constructor(readonly color: boolean, readonly symbols: boolean, readonly verbose: boolean) {}
  mark(m: Mark): string {
    const s = this.symbols ? SYMBOLS[m] : WORDS[m];
    return this.paint(COLOURS[m], s);
  }
  paint(code: string, s: string): string {
    return this.color && s ? `\x1b[${code}m${s}\x1b[0m` : s;
  }
  bold(s: string): string { return this.paint('1', s); }
  dim(s: string): string { return this.paint('2', s); }
  red(s: string): string { return this.paint('31', s); }
  yellow(s: string): string { return this.paint('33', s); }
}

/** Control characters shown escaped, so artifact names cannot drive the terminal. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function verdictMark(v: 'pass' | 'fail' | 'skipped'): Mark {
  return v === 'pass' ? 'pass' : v === 'skipped' ? 'skip' : 'fail';
}

const RULE_MARK: Record<string, Mark> = { pass: 'pass', fail: 'fail', warn: 'warn', 'no-claim': 'skip', skipped: 'skip' };

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

class Renderer {
  constructor(private readonly st: Style) {}

  private listed(paths: string[]): string {
    const max = this.st.verbose ? Infinity : MAX_LISTED;
    const shown = paths.slice(0, max).map(printable).join(', ');
    return paths.length > max ? `${shown} … (+${paths.length - max}; --verbose lists all)` : shown;
  }

  private rejected(c: Check, indent: string, out: string[]): void {
    for (const r of c.rejected ?? []) out.push(`${indent}    ${this.st.mark('fail')} ${printable(r.file)}  — rejected ${r.code}: ${printable(r.reason)}`);
  }

  check(c: Check, indent: string, out: string[]): void {
    const st = this.st;
    const m = st.mark(verdictMark(c.verdict));
    // In a failing step, what passed is one line: the eye goes to what failed.
    if (!st.verbose && c.verdict === 'pass') {
      const summary = this.summary(c);
      if (summary !== undefined) {
        if (summary) out.push(`${indent}${m} ${c.check === 'artifact-rules' || c.check === 'inspection-rules' ? (c.side === 'materials' ? 'materials' : 'products ') : c.check === 'threshold' ? 'signers  ' : 'links    '}    ${st.dim(summary)}`);
        return;
      }
    }
    switch (c.check) {
      case 'links':
        out.push(`${indent}${m} links        ${c.files?.length ?? 0} file(s), threshold ${c.threshold}${c.files?.length ? `: ${c.files.map(printable).join(', ')}` : ''}`);
        if (c.verdict === 'fail') out.push(`${indent}    ${st.red(printable(c.message))}`);
        this.rejected(c, indent, out);
        return;
      case 'threshold': {
        out.push(`${indent}${m} signers      ${c.counted}/${c.threshold} required`);
        if (c.verdict === 'fail') out.push(`${indent}    ${st.red(printable(c.message))}`);
        for (const s of c.signers ?? []) {
          const who = s.identity ? printable(s.identity) : s.keyid.slice(0, 8);
          out.push(`${indent}    ${st.mark(s.valid ? 'pass' : 'fail')} ${who}  ${printable(s.file)}${s.kind === 'layout' ? ' (sublayout)' : ''}${s.format !== 'metablock' ? ` [${s.format}]` : ''}${s.reason ? `  — ${printable(s.reason)}` : ''}`);
        }
        this.rejected(c, indent, out);
        return;
      }
      case 'threshold-agreement':
        out.push(`${indent}${m} agreement    ${printable(c.message)}`);
        return;
      case 'sublayout':
        out.push(`${indent}${m} sublayout    ${printable(c.message)}`);
        for (const line of this.groups(c.checks ?? [], `${indent}    `)) out.push(line);
        return;
      case 'artifact-rules':
      case 'inspection-rules': {
        if (c.verdict === 'skipped') { out.push(`${indent}${m} rules        ${printable(c.message)}`); return; }
        const rules = c.rules ?? [];
        out.push(`${indent}${m} ${c.side === 'materials' ? 'materials' : 'products '}    ${rules.length ? '' : '(no rules)'}`.trimEnd());
        for (const r of rules) {
          const consumed = r.consumed.length ? st.dim(`  consumed ${r.consumed.length}: ${this.listed(r.consumed)}`) : '';
          out.push(`${indent}    ${st.mark(verdictMark(r.verdict))} ${printable(r.rule)}${consumed}`);
          if (r.message) out.push(`${indent}        ${r.verdict === 'fail' ? st.red(printable(r.message)) : printable(r.message)}`);
        }
        if (c.verdict === 'pass' && c.unconsumed?.length) out.push(`${indent}    ${st.mark('info')} ${st.dim(`left (allowed): ${this.listed(c.unconsumed)}`)}`);
        return;
      }
      case 'predicate-rules':
        this.predicates(c, indent, out);
        return;
      case 'inspection':
        out.push(`${indent}${m} run          ${printable((c.command ?? []).join(' '))}  → ${c.verdict === 'skipped' ? printable(c.message) : `exit ${c.exitCode}`}`);
        return;
      default:
        out.push(`${indent}${m} ${c.check.padEnd(12)} ${printable(c.message)}`);
    }
  }

  /** Each expected predicate, its claims, each rule with its verdict, and the values a failed rule saw. */
  private predicates(c: Check, indent: string, out: string[]): void {
    const st = this.st;
    out.push(`${indent}${st.mark(verdictMark(c.verdict))} predicates   ${(c.predicates ?? []).length} expected`);
    for (const p of c.predicates ?? []) {
      const collapse = !st.verbose && p.verdict === 'pass' && p.claims.every((cl) => cl.rules.every((r) => r.verdict === 'pass'));
      const rules = p.claims.flatMap((cl) => cl.rules).length;
      out.push(`${indent}    ${st.mark(RULE_MARK[p.verdict])} ${printable(p.predicateType)}  ${p.accepted.length}/${p.threshold} functionar${p.threshold === 1 ? 'y' : 'ies'}${collapse ? st.dim(`, ${plural(rules, 'rule')} passed`) : ''}${p.message ? `  — ${printable(p.message)}` : ''}`);
      if (collapse) continue;
      for (const claim of p.claims) {
        out.push(`${indent}        ${st.mark(verdictMark(claim.verdict))} by ${printable(functionaryLabel(claim.functionary))}${claim.source ? st.dim(`  ${printable(claim.source)}`) : ''}`);
        for (const a of claim.artifactRules) {
          out.push(`${indent}            ${st.mark(RULE_MARK[a.verdict])} ${a.side}: ${printable(a.rule)}${a.message ? `  — ${printable(a.message)}` : ''}`);
        }
        for (const r of claim.rules) {
          const msg = r.verdict !== 'pass' && r.message ? `  — ${printable(r.message)}` : '';
          out.push(`${indent}            ${st.mark(RULE_MARK[r.verdict])} ${printable(r.rule)}${r.verdict === 'fail' ? st.red(msg) : msg}`);
          if (r.decided) out.push(`${indent}                compared: ${printable(r.decided)}`);
          for (const [path, value] of Object.entries(r.observed ?? {})) out.push(`${indent}                saw ${printable(path)} = ${shortValue(value, st.verbose)}`);
        }
      }
    }
    this.rejected(c, indent, out);
  }

  /** One line for a passing check; '' to leave it out (its summary is elsewhere), undefined to render it in full. */
  private summary(c: Check): string | undefined {
    switch (c.check) {
      case 'links':
        return c.rejected?.length ? undefined : '';
      case 'threshold': {
        if (c.rejected?.length) return undefined;
        const who = (c.signers ?? []).filter((s) => s.valid).map((s) => (s.identity ? printable(s.identity) : s.keyid.slice(0, 8)));
        return `${c.counted}/${c.threshold} required: ${who.length ? [...new Set(who)].join(', ') : '(none)'}`;
      }
      case 'artifact-rules':
      case 'inspection-rules': {
        const rules = c.rules ?? [];
        if (rules.some((r) => r.message)) return undefined;
        const consumed = rules.reduce((n, r) => n + r.consumed.length, 0);
        return rules.length ? `${plural(rules.length, 'rule')} passed${consumed ? `, ${plural(consumed, 'artifact')} consumed` : ''}` : '(no rules)';
      }
      default:
        return undefined;
    }
  }

  /**
   * A passing step on one line: who signed, how many rules and artifacts. Notes (a MATCH
   * against a step without a link) and warned predicate rules still get their own lines.
   */
  private compactStep(name: string, kind: string, list: Check[], indent: string, width: number, out: string[]): void {
    const st = this.st;
    const parts: string[] = [];
    const notes: string[] = [];
    for (const c of list) {
      switch (c.check) {
        case 'threshold': {
          const who = (c.signers ?? []).filter((s) => s.valid).map((s) => (s.identity ? printable(s.identity) : s.keyid.slice(0, 8)));
          parts.push(`signed by ${who.length ? [...new Set(who)].join(', ') : '(no signer)'}${(c.threshold ?? 1) > 1 ? ` (${c.counted}/${c.threshold})` : ''}`);
          break;
        }
        case 'artifact-rules':
        case 'inspection-rules': {
          const rules = c.rules ?? [];
          const consumed = rules.reduce((n, r) => n + r.consumed.length, 0);
          if (rules.length) parts.push(`${c.side} ${plural(rules.length, 'rule')}${consumed ? `, ${plural(consumed, 'artifact')}` : ''}`);
          for (const r of rules) if (r.message) notes.push(`${st.mark('info')} ${c.side}: ${printable(r.rule)}  — ${printable(r.message)}`);
          break;
        }
        case 'predicate-rules': {
          const preds = c.predicates ?? [];
          const rules = preds.flatMap((p) => p.claims.flatMap((cl) => cl.rules));
          parts.push(`${plural(preds.length, 'predicate')} (${plural(rules.filter((r) => r.verdict === 'pass').length, 'rule')} passed)`);
          for (const p of preds) {
            for (const cl of p.claims) for (const r of cl.rules) if (r.verdict === 'warn') notes.push(`${st.mark('warn')} ${printable(r.rule)}${r.message ? `  — ${printable(r.message)}` : ''}`);
            if (p.verdict === 'skipped' && p.message) notes.push(`${st.mark('skip')} ${printable(p.predicateType)}  — ${printable(p.message)}`);
          }
          break;
        }
        case 'inspection':
          parts.push(c.verdict === 'skipped' ? `NOT run: ${printable((c.command ?? []).join(' '))}` : `ran ${printable((c.command ?? []).join(' '))} → exit ${c.exitCode}`);
          break;
        case 'sublayout':
          parts.push(`sublayout: ${printable(c.message)}`);
          break;
        case 'links':
          if (c.rejected?.length) for (const r of c.rejected) notes.push(`${st.mark('info')} ignored ${printable(r.file)}: ${r.code}`);
          break;
        default:
          break;
      }
    }
    const label = `${kind} ${printable(name)}`;
    out.push(`${indent}${st.mark('pass')} ${st.bold(label)}${' '.repeat(Math.max(1, width - label.length + 2))}${st.dim(parts.join(st.symbols ? ' · ' : '; '))}`.trimEnd());
    for (const n of notes) out.push(`${indent}    ${n}`);
  }

  groups(checks: Check[], indent: string, unsigned = false): string[] {
    const st = this.st;
    const out: string[] = [];
    const order: string[] = [];
    const groups = new Map<string, Check[]>();
    const inspections = new Set(checks.filter((c) => c.check === 'inspection' || c.check === 'inspection-rules').map((c) => c.step));
    for (const c of checks) {
      const key = c.step === undefined ? '' : c.step;
      if (!groups.has(key)) { groups.set(key, []); order.push(key); }
      groups.get(key)!.push(c);
    }
    const kindOf = (key: string): string => (inspections.has(key) ? 'inspection' : 'step');
    const width = Math.max(0, ...order.filter((k) => k !== '').map((k) => `${kindOf(k)} ${printable(k)}`.length));
    for (const key of order) {
      const list = groups.get(key)!;
      if (key === '') {
        for (const c of list) {
          const m = c.check === 'layout-signature' && unsigned ? st.mark('warn') : st.mark(verdictMark(c.verdict));
          out.push(`${indent}${m} ${c.check === 'layout-signature' ? 'layout signature' : 'layout expiry   '}  ${printable(c.message)}`);
        }
        continue;
      }
      const passed = list.every((c) => c.verdict === 'pass');
      if (passed && !st.verbose) {
        this.compactStep(key, kindOf(key), list, indent, width, out);
        continue;
      }
      out.push(`${indent}${passed ? '' : `${st.mark('fail')} `}${st.bold(`${kindOf(key)} ${printable(key)}`)}`);
      for (const c of list) this.check(c, `${indent}  `, out);
    }
    return out;
  }
}

function shortValue(v: unknown, verbose: boolean): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return printable(!verbose && s.length > 120 ? `${s.slice(0, 117)}...` : s);
}

/** The last line of the tree: PASSED (with warnings) or FAILED CODE at check (step): message. */
export function renderVerdictLine(report: VerificationReport, opts: Pick<TreeOptions, 'color'> = {}): string {
  const st = new Style(opts.color === true, true, false);
  if (report.failure) {
    const f = report.failure;
    return `${st.paint('1;31', `FAILED ${f.code}`)} at ${f.check}${f.step ? ` (${printable(f.step)})` : ''}: ${printable(f.message)}`;
  }
  const w = report.warnings.length;
  const skipped = report.inspectionsSkipped?.length ? st.yellow(` (inspections NOT run: ${report.inspectionsSkipped.map(printable).join(', ')})`) : '';
  return `${st.paint('1;32', 'PASSED')}${w ? st.yellow(` with ${w} warning${w === 1 ? '' : 's'}`) : ''}${skipped}`;
}

export function renderVerificationTree(report: VerificationReport, title = 'custody verify', opts: TreeOptions = {}): string {
  const st = new Style(opts.color === true, opts.symbols !== false, opts.verbose === true);
  const r = new Renderer(st);
  const out: string[] = [];
  out.push(`${st.bold(printable(title))}: ${report.verdict === 'pass' ? st.paint('1;32', 'PASS') : st.paint('1;31', 'FAIL')}`);
  out.push(...r.groups(report.checks, '  ', report.layoutSigned === false));
  if (report.warnings.length) {
    out.push(st.yellow('warnings:'));
    for (const w of report.warnings) out.push(`  ${st.mark('warn')} ${printable(w)}`);
  }
  const p = report.proven;
  if (p && (p.artifacts.length || p.subjects.length)) {
    // What the verdict is about: the artifacts in hand, by digest, and the layout it held them to.
    out.push(st.bold('proven:'));
    for (const a of p.artifacts) {
      const d = a.digest?.sha256 ? `sha256:${a.digest.sha256}` : '';
      out.push(`  ${st.mark('pass')} ${printable(a.path)}  ${a.kind}, ${plural(a.files, 'file')}, ${d}${a.manifestDigest ? `, image manifest ${a.manifestDigest}` : ''} = what '${printable(a.step)}' produced`);
    }
    for (const x of p.subjects) out.push(`  ${st.mark('pass')} sha256:${x.digest.sha256} = ${printable(x.recordedAs)}, produced by '${printable(p.step)}'`);
    if (p.layout) out.push(`  layout ${printable(p.layout.file)} sha256:${p.layout.digest.sha256}${p.custodyVersion ? `, custody ${printable(p.custodyVersion)}` : ''}`);
  }
  // In the user's terms, just above the verdict (the verdict line keeps the reference's words).
  if (report.failure?.hint) out.push(`${st.symbols ? '→' : 'hint:'} ${st.yellow(printable(report.failure.hint))}`);
  // The verdict again at the bottom, where a long report's reader ends up.
  out.push(renderVerdictLine(report, opts));
  return out.join('\n') + '\n';
}
