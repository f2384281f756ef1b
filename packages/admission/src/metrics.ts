/** Prometheus text exposition (format 0.0.4) of the webhook's counters and latency histogram. */

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const keys = Object.keys(l).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k])}"`).join(',')}}` : '';
};

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) this.counts[i]++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

export class AdmissionMetrics {
  readonly requests = new Counter('custody_admission_requests_total', 'AdmissionReview requests received, by object kind');
  readonly decisions = new Counter('custody_admission_decisions_total', 'Admission decisions by result (allowed, denied, warned, audited) and reason');
  readonly latency = new Histogram('custody_admission_request_duration_seconds', 'Time from request to response', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  readonly cache = new Counter('custody_admission_verdict_cache_total', 'Verdict cache lookups by result (hit, miss, collapsed, vsa)');
  readonly verifications = new Counter('custody_admission_verifications_total', 'Verifications run, by result (pass, fail, error)');
  readonly inspectionsSkipped = new Counter('custody_admission_inspections_skipped_total', 'Layout inspections not run at admission (they need files a webhook does not have)');
  readonly reloads = new Counter('custody_admission_config_reloads_total', 'Configuration reloads by result (success, failure)');
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    return [this.requests, this.decisions, this.latency, this.cache, this.verifications, this.inspectionsSkipped, this.reloads, ...this.gauges]
      .map((m) => m.render()).join('\n') + '\n';
  }
}
