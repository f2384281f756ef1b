// Group fairness metrics for a binary classifier, from labels, predictions and a privileged /
// unprivileged split per sensitive attribute. A rate whose denominator is zero, and every metric
// built on it, is reported as not computable (value null plus a reason) — never NaN.
import { CustodyError } from '@custody/core';

/** A value, or null with the reason it cannot be computed. */
export interface MaybeNumber { value: number | null; reason?: string }

export interface GroupStats {
  count: number;
  /** Rows whose label is the favorable outcome. */
  labelPositives: number;
  predictedPositives: number;
  truePositives: number;
  falsePositives: number;
  selectionRate: MaybeNumber;
  truePositiveRate: MaybeNumber;
  falsePositiveRate: MaybeNumber;
}

export interface AttributeMetrics {
  attribute: string;
  /** How the privileged group is defined, e.g. "age > 25". */
  privileged: string;
  groups: { privileged: GroupStats; unprivileged: GroupStats };
  /** Rows left out because the attribute value was missing or not a number. */
  excludedRows: number;
  /** |SR(unpriv) − SR(priv)| (fairlearn's demographic_parity_difference for two groups). */
  demographicParityDifference: MaybeNumber;
  /** min(SR)/max(SR) (fairlearn's demographic_parity_ratio). */
  demographicParityRatio: MaybeNumber;
  /** max(|ΔTPR|, |ΔFPR|) (fairlearn's equalized_odds_difference). */
  equalizedOddsDifference: MaybeNumber;
  /** TPR(unpriv) − TPR(priv) (AIF360's equal_opportunity_difference, signed). */
  equalOpportunityDifference: MaybeNumber;
  /** SR(unpriv) / SR(priv) (AIF360's disparate_impact). */
  disparateImpact: MaybeNumber;
}

export const METRIC_NAMES = ['demographicParityDifference', 'demographicParityRatio', 'equalizedOddsDifference', 'equalOpportunityDifference', 'disparateImpact'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

// ---- sensitive attribute specs ---------------------------------------------------------------

export interface SensitiveSpec {
  /** Name used in results (defaults to the column). */
  name: string;
  column: string;
  op: '=' | '^=' | '>' | '>=' | '<' | '<=';
  value: string;
}

/**
 * Parses `[name:]column OP value` where OP is `=` (equals), `^=` (starts with, for derived
 * attributes such as sex from German Credit's personal_status) or a numeric comparison
 * `>`, `>=`, `<`, `<=`. Rows matching the condition are the privileged group.
 */
export function parseSensitiveSpec(spec: string): SensitiveSpec {
  const m = /^\s*(?:([A-Za-z_][\w.-]*)\s*:\s*)?([^=<>^:]+?)\s*(\^=|>=|<=|=|>|<)\s*(.*?)\s*$/.exec(spec);
  if (!m || m[4] === '') {
    throw new CustodyError('USAGE', `bad --sensitive ${JSON.stringify(spec)}: expected [name:]column=value, column^=prefix or column>number (also >=, <, <=)`);
  }
  const op = m[3] as SensitiveSpec['op'];
  const value = m[4]!.replace(/^(['"])(.*)\1$/, '$2');
  if (['>', '>=', '<', '<='].includes(op) && !Number.isFinite(Number(value))) {
    throw new CustodyError('USAGE', `bad --sensitive ${JSON.stringify(spec)}: ${op} needs a number, got ${JSON.stringify(value)}`);
  }
  return { name: m[1] ?? m[2]!, column: m[2]!, op, value };
}

export function describeSpec(s: SensitiveSpec): string {
  const cond = s.op === '=' ? `${s.column} = ${JSON.stringify(s.value)}` : s.op === '^=' ? `${s.column} starts with ${JSON.stringify(s.value)}` : `${s.column} ${s.op} ${s.value}`;
  return cond;
}

/** true = privileged, false = unprivileged, undefined = excluded (missing / not numeric). */
export function classify(s: SensitiveSpec, raw: string | null): boolean | undefined {
  if (raw === null) return undefined;
  switch (s.op) {
    case '=':
      return raw === s.value;
    case '^=':
      return raw.startsWith(s.value);
    default: {
      const x = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(x)) return undefined;
      const t = Number(s.value);
      return s.op === '>' ? x > t : s.op === '>=' ? x >= t : s.op === '<' ? x < t : x <= t;
    }
  }
}

// ---- metrics ---------------------------------------------------------------------------------

function ratio(num: number, den: number, what: string): MaybeNumber {
  return den === 0 ? { value: null, reason: `${what}: denominator is 0` } : { value: num / den };
}

export function groupStats(labels: boolean[], predictions: boolean[], groupName: string): GroupStats {
  let labelPositives = 0, predictedPositives = 0, tp = 0, fp = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) labelPositives++;
    if (predictions[i]) {
      predictedPositives++;
      if (labels[i]) tp++;
      else fp++;
    }
  }
  const count = labels.length;
  const empty = count === 0 ? `${groupName} group has no members` : undefined;
  return {
    count, labelPositives, predictedPositives, truePositives: tp, falsePositives: fp,
    selectionRate: empty ? { value: null, reason: empty } : { value: predictedPositives / count },
    truePositiveRate: empty ? { value: null, reason: empty } : ratio(tp, labelPositives, `${groupName} true positive rate (no positive labels)`),
    falsePositiveRate: empty ? { value: null, reason: empty } : ratio(fp, count - labelPositives, `${groupName} false positive rate (no negative labels)`),
  };
}

function combine(parts: MaybeNumber[], f: (...v: number[]) => MaybeNumber): MaybeNumber {
  const missing = parts.find((p) => p.value === null);
  if (missing) return { value: null, reason: missing.reason };
  return f(...parts.map((p) => p.value!));
}

export function attributeMetrics(spec: SensitiveSpec, rows: { label: boolean; prediction: boolean; group: boolean | undefined }[]): AttributeMetrics {
  const pick = (g: boolean) => rows.filter((r) => r.group === g);
  const priv = pick(true);
  const unpriv = pick(false);
  const P = groupStats(priv.map((r) => r.label), priv.map((r) => r.prediction), 'privileged');
  const U = groupStats(unpriv.map((r) => r.label), unpriv.map((r) => r.prediction), 'unprivileged');
  return {
    attribute: spec.name,
    privileged: describeSpec(spec),
    groups: { privileged: P, unprivileged: U },
    excludedRows: rows.length - priv.length - unpriv.length,
    demographicParityDifference: combine([U.selectionRate, P.selectionRate], (u, p) => ({ value: Math.abs(u - p) })),
    demographicParityRatio: combine([U.selectionRate, P.selectionRate], (u, p) =>
      Math.max(u, p) === 0 ? { value: null, reason: 'both selection rates are 0' } : { value: Math.min(u, p) / Math.max(u, p) }),
    equalizedOddsDifference: combine([U.truePositiveRate, P.truePositiveRate, U.falsePositiveRate, P.falsePositiveRate], (ut, pt, uf, pf) => ({
      value: Math.max(Math.abs(ut - pt), Math.abs(uf - pf)),
    })),
    equalOpportunityDifference: combine([U.truePositiveRate, P.truePositiveRate], (u, p) => ({ value: u - p })),
    disparateImpact: combine([U.selectionRate, P.selectionRate], (u, p) =>
      p === 0 ? { value: null, reason: 'privileged selection rate is 0' } : { value: u / p }),
  };
}

// ---- thresholds ------------------------------------------------------------------------------

export interface Threshold {
  /** Attribute it applies to; undefined = every attribute. */
  attribute?: string;
  metric: MetricName;
  op: '<=' | '>=' | '<' | '>';
  value: number;
  /** Use the absolute value of the metric (for the signed differences): `abs(metric)<=0.1`. */
  abs: boolean;
  /** A failing check is reported as warned, not failed. */
  warn: boolean;
}

/** Parses `[attribute.]metric OP number` or `abs([attribute.]metric) OP number`. */
export function parseThreshold(text: string, warn = false): Threshold {
  const m = /^\s*(abs\()?\s*(?:([A-Za-z_][\w-]*)\.)?([A-Za-z]+)\s*(\))?\s*(<=|>=|<|>)\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$/.exec(text);
  if (!m || Boolean(m[1]) !== Boolean(m[4]) || !(METRIC_NAMES as readonly string[]).includes(m[3]!)) {
    throw new CustodyError('USAGE', `bad threshold ${JSON.stringify(text)}: expected [attribute.]metric<=number (metrics: ${METRIC_NAMES.join(', ')}; wrap in abs(...) for the absolute value)`);
  }
  return { attribute: m[2], metric: m[3] as MetricName, op: m[5] as Threshold['op'], value: Number(m[6]), abs: Boolean(m[1]), warn };
}

export function thresholdName(t: Threshold, attribute: string): string {
  const metric = `${attribute}.${t.metric}`;
  return `${t.abs ? `abs(${metric})` : metric} ${t.op} ${t.value}`;
}

export interface ThresholdOutcome { name: string; status: 'passed' | 'warned' | 'failed'; value: number | null; reason?: string }

/** Applies thresholds; a metric that is not computable fails its check (fail closed). */
export function checkThresholds(results: AttributeMetrics[], thresholds: Threshold[]): ThresholdOutcome[] {
  const out: ThresholdOutcome[] = [];
  for (const t of thresholds) {
    const targets = t.attribute === undefined ? results : results.filter((r) => r.attribute === t.attribute);
    if (t.attribute !== undefined && targets.length === 0) {
      throw new CustodyError('USAGE', `threshold names attribute "${t.attribute}", which is not one of the sensitive attributes (${results.map((r) => r.attribute).join(', ')})`);
    }
    for (const r of targets) {
      const name = thresholdName(t, r.attribute);
      const m = r[t.metric];
      if (m.value === null) {
        out.push({ name, status: t.warn ? 'warned' : 'failed', value: null, reason: `not computable: ${m.reason}` });
        continue;
      }
      const v = t.abs ? Math.abs(m.value) : m.value;
      const ok = t.op === '<=' ? v <= t.value : t.op === '>=' ? v >= t.value : t.op === '<' ? v < t.value : v > t.value;
      out.push({ name, status: ok ? 'passed' : t.warn ? 'warned' : 'failed', value: m.value });
    }
  }
  return out;
}
