/**
 * CEL predicate rules (ITE-10 `expectedAttributes[].rule`) over the three variables an
 * attestation exposes: `subject`, `predicateType`, `predicate`. JSON values are bound as plain
 * objects/arrays, so `predicate.license.spdxId == 'MIT'`, `predicate.metrics.exists(m, ...)`
 * and `size(subject) > 0` read naturally. Evaluation never throws: a CEL error becomes a failed
 * rule carrying the error text.
 */
import { celEnv, isCelError, isCelList, isCelMap, parse, plan, unparse } from '@bufbuild/cel';
import type { CelEnv } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { CustodyError } from '../errors.ts';
import { TRACE_FUNCTIONS, traceCelFunctions } from './trace.ts';

/**
 * The variables a rule may read. `now` is the verification time as a CEL timestamp (passed in
 * by the caller, never read from a clock here), so `now - timestamp(predicate.x) < duration('72h')`
 * can bound the age of evidence.
 */
export const RULE_VARIABLES = ['subject', 'predicateType', 'predicate', 'now', 'link', 'profile'] as const;

export interface RuleInput {
  subject: unknown[];
  predicateType: string;
  predicate: Record<string, unknown>;
  /** The verification time; without it a rule reading `now` errors. */
  now?: Date;
  /**
   * The step's link (materials, products, command) when the claim's subject is that link's
   * digest — run-level evidence such as a trace; null otherwise (trace helpers then error).
   */
  link?: Record<string, unknown> | null;
  /** The step's approved trace profile from the layout (`traceProfile`), or null. */
  profile?: Record<string, unknown> | null;
}

export interface RuleLocation {
  line: number;
  column: number;
}

export interface RuleProblem {
  message: string;
  location?: RuleLocation;
}

type ParsedRule = ReturnType<typeof parse>;
type CelExpr = ParsedRule['expr'];
type Evaluator = (ctx: Record<string, unknown>) => unknown;

export interface CompiledRule {
  source: string;
  /** Maximal attribute paths the rule reads (e.g. `predicate.license.spdxId`), for the report. */
  paths: string[];
  run: Evaluator;
}

let sharedEnv: CelEnv | undefined;
function env(): CelEnv {
  // the strings extension gives the usual helpers (lowerAscii, split, indexOf, ...)
  sharedEnv ??= celEnv({ funcs: [...strings, ...traceCelFunctions()] });
  return sharedEnv;
}

function syntaxProblem(e: unknown): RuleProblem {
  const err = e as { message?: string; rawMessage?: string; location?: { start?: { line: number; column: number } } };
  const start = err.location?.start;
  const message = (err.rawMessage ?? err.message ?? String(e)).replace(/^<input>:\d+:\d+:\s*/, '');
  return start ? { message, location: { line: start.line, column: start.column } } : { message };
}

/** Walks the AST: identifiers outside comprehension scope, called functions, attribute paths. */
function inspect(expr: CelExpr): { idents: Set<string>; functions: Set<string>; paths: string[] } {
  const idents = new Set<string>();
  const functions = new Set<string>();
  const paths: string[] = [];
  const visit = (e: CelExpr | undefined, bound: ReadonlySet<string>, parentIsPath: boolean): void => {
    if (!e) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr':
        if (!bound.has(k.value.name)) {
          idents.add(k.value.name);
          if (!parentIsPath) paths.push(k.value.name);
        }
        return;
      case 'selectExpr': {
        const root = pathRoot(e);
        const isPath = root !== undefined && !bound.has(root) && !k.value.testOnly;
        if (isPath && !parentIsPath) paths.push(unparse(e));
        visit(k.value.operand, bound, isPath);
        return;
      }
      case 'callExpr': {
        functions.add(k.value.function);
        if (TRACE_FUNCTIONS.has(k.value.function)) {
          // a trace helper returns the offenders: show its result, not the whole predicate
          paths.push(unparse(e));
          const before = paths.length;
          visit(k.value.target, bound, false);
          k.value.args.forEach((a) => visit(a, bound, false));
          paths.length = before;
          return;
        }
        const isIndex = k.value.function === '_[_]';
        const root = isIndex ? pathRoot(e) : undefined;
        const isPath = root !== undefined && !bound.has(root);
        if (isPath && !parentIsPath) paths.push(unparse(e));
        visit(k.value.target, bound, false);
        k.value.args.forEach((a, i) => visit(a, bound, isPath && i === 0));
        return;
      }
      case 'listExpr':
        k.value.elements.forEach((x) => visit(x, bound, false));
        return;
      case 'structExpr':
        k.value.entries.forEach((en) => {
          if (en.keyKind.case === 'mapKey') visit(en.keyKind.value, bound, false);
          visit(en.value, bound, false);
        });
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        visit(c.iterRange, bound, false);
        visit(c.accuInit, bound, false);
        const inner = new Set(bound);
        for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) inner.add(v);
        visit(c.loopCondition, inner, false);
        visit(c.loopStep, inner, false);
        visit(c.result, inner, false);
        return;
      }
      default:
        return;
    }
  };
  visit(expr, new Set(), false);
  return { idents, functions, paths: [...new Set(paths)] };
}

/** The identifier a select/index chain starts from, if it is one. */
function pathRoot(e: CelExpr): string | undefined {
  let cur: CelExpr | undefined = e;
  for (;;) {
    if (!cur) return undefined;
    const k: CelExpr['exprKind'] = cur.exprKind;
    if (k.case === 'identExpr') return k.value.name;
    if (k.case === 'selectExpr') cur = k.value.operand;
    else if (k.case === 'callExpr' && k.value.function === '_[_]') cur = k.value.args[0];
    else return undefined;
  }
}

/** CEL's built-in type identifiers (`type(x) == double`). */
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/**
 * Compile-time problems of a rule: syntax errors (with line/column), unknown variables,
 * unknown functions. Empty list = the rule compiles. Used by `layout lint`.
 */
export function lintRule(source: string): RuleProblem[] {
  let parsed: ParsedRule;
  try {
    parsed = parse(source);
  } catch (e) {
    return [syntaxProblem(e)];
  }
  const problems: RuleProblem[] = [];
  const { idents, functions } = inspect(parsed.expr);
  for (const id of idents) {
    if (!(RULE_VARIABLES as readonly string[]).includes(id) && !TYPE_NAMES.has(id)) {
      problems.push({ message: `unknown variable "${id}" (rules can read ${RULE_VARIABLES.join(', ')})` });
    }
  }
  for (const f of functions) {
    // operators and macro internals (`_&&_`, `!_`, `@in`, `@not_strictly_false`) are built in
    if (/^[_@!-]/.test(f)) continue;
    if (!env().funcs.find(f)) problems.push({ message: `unknown function "${f}"` });
  }
  return problems;
}

function formatProblem(p: RuleProblem): string {
  return p.location ? `${p.location.line}:${p.location.column}: ${p.message}` : p.message;
}

/** Compiles a rule; bad syntax or unknown names → CustodyError RULE_SYNTAX with the location. */
export function compileRule(source: string, where = 'rule'): CompiledRule {
  const problems = lintRule(source);
  if (problems.length > 0) {
    throw new CustodyError('RULE_SYNTAX', `${where} ${JSON.stringify(source)}: ${problems.map(formatProblem).join('; ')}`);
  }
  const parsed = parse(source);
  const fn = plan(env(), parsed) as unknown as Evaluator;
  return { source, paths: inspect(parsed.expr).paths, run: fn };
}

export type RuleVerdict = 'pass' | 'fail' | 'error';

export interface RuleOutcome {
  verdict: RuleVerdict;
  /** The error text when verdict is 'error' (CEL runtime error or a non-boolean result). */
  error?: string;
  /** True when the error is an absent field/key: the claim does not say anything about it. */
  missingAttribute?: boolean;
  /** On failure or error: the values of the paths the rule reads, as JSON-able data. */
  observed?: Record<string, unknown>;
}

const MISSING = /field not found|no such key|no such attribute|unresolved attribute/i;

/** Plain JSON view of a CEL value (bigint → number when safe, CEL lists/maps → arrays/objects). */
export function celToJson(v: unknown): unknown {
  // timestamps and durations are protobuf messages (reflected: the message is inside)
  const msg = v && typeof v === 'object' ? ((v as { message?: { $typeName?: unknown } }).message ?? v) : undefined;
  const typeName = (msg as { $typeName?: unknown } | undefined)?.$typeName;
  if (typeName === 'google.protobuf.Timestamp' || typeName === 'google.protobuf.Duration') {
    const { seconds, nanos } = msg as unknown as { seconds: bigint; nanos: number };
    if (typeName === 'google.protobuf.Duration') return `${Number(seconds) + nanos / 1e9}s`;
    return new Date(Number(seconds) * 1000 + Math.floor(nanos / 1e6)).toISOString().replace('.000Z', 'Z');
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (isCelList(v)) return [...v].map(celToJson);
  if (isCelMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(celToJson(k))] = celToJson(x);
    return out;
  }
  if (Array.isArray(v)) return v.map(celToJson);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = celToJson(x);
    return out;
  }
  return v;
}

function observe(rule: CompiledRule, bindings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of rule.paths.slice(0, 8)) {
    try {
      const r = plan(env(), parse(path)) as unknown as Evaluator;
      const v = r(bindings);
      const json = isCelError(v) ? `<${v.message}>` : celToJson(v);
      // a long list (a trace helper's offenders) is cut for the report
      out[path] = Array.isArray(json) && json.length > 20 ? [...json.slice(0, 20), `… and ${json.length - 20} more`] : json;
    } catch (e) {
      out[path] = `<${(e as Error).message}>`;
    }
  }
  return out;
}

const timestampOf = new Map<string, unknown>();
/** A CEL timestamp value, made by CEL's own timestamp() (the package exports no constructor). */
function celTimestamp(d: Date): unknown {
  const iso = d.toISOString();
  let v = timestampOf.get(iso);
  if (v === undefined) {
    v = (plan(env(), parse(`timestamp(${JSON.stringify(iso)})`)) as unknown as Evaluator)({});
    if (timestampOf.size > 64) timestampOf.clear();
    timestampOf.set(iso, v);
  }
  return v;
}

function bindingsOf(input: RuleInput): Record<string, unknown> {
  const bindings: Record<string, unknown> = {
    subject: input.subject ?? [],
    predicateType: input.predicateType,
    predicate: input.predicate ?? {},
  };
  if (input.now) bindings.now = celTimestamp(input.now);
  bindings.link = input.link ?? null;
  bindings.profile = input.profile ?? null;
  return bindings;
}

/**
 * The value of a CEL expression (a part of a rule) over an attestation, as JSON-able data, or
 * the error it raised. Never throws. Used to say which part of a failed rule decided it.
 */
export function evaluateExpression(source: string, input: RuleInput): { value: unknown } | { error: string } {
  try {
    const v = (plan(env(), parse(source)) as unknown as Evaluator)(bindingsOf(input));
    return isCelError(v) ? { error: v.message } : { value: celToJson(v) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Evaluates a compiled rule over one attestation. Never throws. */
export function evaluateRule(rule: CompiledRule, input: RuleInput): RuleOutcome {
  const bindings = bindingsOf(input);
  let result: unknown;
  try {
    result = rule.run(bindings);
  } catch (e) {
    return { verdict: 'error', error: (e as Error).message, observed: observe(rule, bindings) };
  }
  if (isCelError(result)) {
    return { verdict: 'error', error: result.message, missingAttribute: MISSING.test(result.message), observed: observe(rule, bindings) };
  }
  if (typeof result !== 'boolean') {
    return { verdict: 'error', error: `rule evaluated to ${JSON.stringify(celToJson(result))}, not a boolean`, observed: observe(rule, bindings) };
  }
  return result ? { verdict: 'pass' } : { verdict: 'fail', observed: observe(rule, bindings) };
}

const PARAM_NAME = /^[a-zA-Z0-9_-]+$/;

/**
 * The `{name}` placeholders left in a rule (after substitution: the parameters not given).
 * CEL has no `{name}` syntax of its own (a map literal needs `key: value`), so any left is
 * a parameter the caller forgot — also inside a string literal, where it would silently be
 * compared as text.
 */
export function unresolvedParams(text: string): string[] {
  return [...new Set([...text.matchAll(/\{([a-zA-Z0-9_-]+)\}/g)].map((m) => m[1]))];
}

/**
 * Replaces `{name}` with its value, repeating until nothing changes so that parameters may refer
 * to others (attestation-verifier's npm parameters do), with a bound against cycles.
 * Bad parameter names and self-references are input errors.
 */
export function substituteParams(text: string, params: Readonly<Record<string, string>>): string {
  const names = Object.keys(params);
  if (names.length === 0) return text;
  for (const n of names) {
    if (!PARAM_NAME.test(n)) throw new CustodyError('USAGE', `invalid parameter name "${n}" (letters, digits, _ and - only)`);
    if (typeof params[n] !== 'string') throw new CustodyError('USAGE', `parameter "${n}" must be a string`);
    if (params[n].includes(`{${n}}`)) throw new CustodyError('USAGE', `parameter "${n}" refers to itself`);
  }
  const re = new RegExp(`\\{(${names.map((n) => n.replace(/[-]/g, '\\-')).join('|')})\\}`, 'g');
  let cur = text;
  for (let i = 0; i <= names.length; i++) {
    const next = cur.replace(re, (_m, n: string) => params[n]);
    if (next === cur) return cur;
    cur = next;
  }
  throw new CustodyError('USAGE', `parameters refer to each other in a cycle while substituting ${JSON.stringify(text)}`);
}

const CEL_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** A CEL string literal (double-quoted) whose value is exactly `value`. */
export function celStringLiteral(value: string): string {
  return `"${celEscape(value, '"')}"`;
}

function celEscape(value: string, quote: string): string {
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** The CEL literal a parameter value stands for in code: a number, a boolean, null, or else a string. */
function celValueLiteral(value: string): string {
  if (CEL_NUMBER.test(value)) return value.startsWith('-') ? `(${value})` : value;
  if (value === 'true' || value === 'false' || value === 'null') return value;
  return celStringLiteral(value);
}

/**
 * `{name}` parameters of a CEL rule, substituted as values: a parameter can never change the
 * rule's structure. In code, `{name}` becomes one literal (a number, true/false/null, or a
 * quoted string); inside a string literal it becomes escaped text of that literal (a quote in
 * the value cannot end the string); in a raw string a value that would end it is refused
 * (USAGE); in a comment its line breaks are dropped. Parameters may refer to each other
 * (`substituteParams` over the values); unknown `{name}`s stay for `unresolvedParams`.
 */
export function substituteCelParams(source: string, params: Readonly<Record<string, string>>): string {
  const names = Object.keys(params);
  if (names.length === 0) return source;
  const values = new Map<string, string>();
  for (const n of names) values.set(n, substituteParams(`{${n}}`, params));
  const placeholder = /^\{([a-zA-Z0-9_-]+)\}/;
  let out = '';
  let i = 0;
  const n = source.length;
  const isIdent = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  while (i < n) {
    const c = source[i];
    if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += source.slice(i, stop).replace(/\{([a-zA-Z0-9_-]+)\}/g, (m, name: string) => (values.has(name) ? values.get(name)!.replace(/[\r\n]+/g, ' ') : m));
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      // string literal: its prefix letters (r, b, rb, br in any case) were copied as code
      let k = i - 1;
      while (k >= 0 && /[rRbB]/.test(source[k]) && i - k <= 2) k--;
      const prefix = isIdent(source[k]) ? '' : source.slice(k + 1, i);
      const raw = /[rR]/.test(prefix);
      const triple = source.startsWith(c.repeat(3), i);
      const delim = triple ? c.repeat(3) : c;
      out += delim;
      i += delim.length;
      while (i < n && !source.startsWith(delim, i)) {
        if (!raw && source[i] === '\\') { out += source.slice(i, i + 2); i += 2; continue; }
        if (!triple && source[i] === '\n') break;
        const m = source[i] === '{' ? placeholder.exec(source.slice(i, i + 80)) : null;
        if (m && values.has(m[1])) {
          const value = values.get(m[1])!;
          if (raw) {
            if (value.includes(c) || (!triple && /[\r\n]/.test(value))) {
              throw new CustodyError('USAGE', `parameter "${m[1]}" holds a ${c} or a line break, which cannot stand inside the raw string of ${JSON.stringify(source)}`);
            }
            out += value;
          } else {
            out += celEscape(value, c);
          }
          i += m[0].length;
          continue;
        }
        out += source[i];
        i++;
      }
      if (i < n && source.startsWith(delim, i)) { out += delim; i += delim.length; }
      continue;
    }
    if (c === '{') {
      const m = placeholder.exec(source.slice(i, i + 80));
      if (m && values.has(m[1])) {
        out += celValueLiteral(values.get(m[1])!);
        i += m[0].length;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}
