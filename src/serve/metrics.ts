/**
 * The few Prometheus metrics the server keeps, written by hand in the text exposition
 * format (version 0.0.4): `# HELP`, `# TYPE`, then `name{label="value"} number` lines;
 * a histogram is cumulative `_bucket{le=…}` lines ending at `+Inf`, then `_sum` and `_count`.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  // Label values escape backslash, double quote and newline.
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function numberText(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${numberText(value)}`);
    return lines.join('\n');
  }
}

/** A value read when scraped: a gauge, or a counter kept elsewhere; one series, or one per label set. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | Array<{ labels: Labels; value: number }>,
    private readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}

  render(): string {
    const value = this.read();
    const series = typeof value === 'number' ? [{ labels: {}, value }] : value;
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...series.map((s) => `${this.name}${labelText(s.labels)} ${numberText(s.value)}`)].join('\n');
  }
}

interface Series {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** upper bounds, increasing; +Inf is added */
    readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Observations so far and their sum, for one label set. */
  stats(labels: Labels = {}): { count: number; sum: number } {
    const s = this.series.get(labelText(labels));
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: numberText(bound) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${numberText(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LAG_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Everything /metrics reports. */
export class ServerMetrics {
  readonly requests = new Counter('digits_http_requests_total', 'HTTP requests answered, by route, method and status code.');
  readonly latency = new Histogram('digits_http_request_duration_seconds', 'Time from request received to response sent, by route.', LATENCY_BUCKETS);
  readonly errors = new Counter('digits_http_errors_total', 'Requests answered with an error (4xx: the client can fix it; 5xx: ours), by route and kind.');
  readonly batchSize = new Histogram('digits_batch_size_images', 'Images per inference batch (requests gathered by the batching window).', BATCH_BUCKETS);
  readonly batchRequests = new Histogram('digits_batch_requests', 'Requests merged into one inference batch.', BATCH_BUCKETS);
  readonly batchInfer = new Histogram('digits_batch_infer_seconds', 'Time one inference batch takes, all its member calls (the members run side by side in the worker pool).', LATENCY_BUCKETS);
  readonly stage = new Histogram('digits_predict_stage_seconds', 'Where a prediction request spends its time: parse (body to pixels), wait (in the batching queue), infer (its batch on the members).', LATENCY_BUCKETS);
  readonly images = new Counter('digits_images_predicted_total', 'Images predicted.');
  readonly corrections = new Counter('digits_corrections_total', 'Corrections appended to the store.');
  readonly eventLoopDelay = new Histogram('digits_event_loop_delay_seconds', 'How late a 10 ms timer on the server thread fires: time the event loop could not read or answer requests.', LAG_BUCKETS);
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number | Array<{ labels: Labels; value: number }>, type: 'gauge' | 'counter' = 'gauge'): void {
    this.gauges.push(new Gauge(name, help, read, type));
  }

  render(): string {
    const all: Metric[] = [this.requests, this.latency, this.errors, this.batchSize, this.batchRequests, this.batchInfer, this.stage, this.images, this.corrections, this.eventLoopDelay, ...this.gauges];
    return `${all.map((m) => m.render()).join('\n')}\n`;
  }
}
