/**
 * What /metrics reports, through prom-client: the server's own counters and histograms
 * (names unchanged: bench/serve.ts and the tests read them), gauges read when scraped, and
 * prom-client's default process metrics (CPU, resident memory, heap, event-loop lag, GC),
 * each server with its own registry.
 */
import client from 'prom-client';

type Labels = Record<string, string>;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LAG_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Everything /metrics reports. */
export class ServerMetrics {
  readonly registry = new client.Registry();
  private readonly registers = [this.registry];
  readonly requests = new client.Counter({ name: 'digits_http_requests_total', help: 'HTTP requests answered, by route, method and status code.', labelNames: ['route', 'method', 'status'], registers: this.registers });
  readonly latency = new client.Histogram({ name: 'digits_http_request_duration_seconds', help: 'Time from request received to response sent, by route.', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers: this.registers });
  readonly errors = new client.Counter({ name: 'digits_http_errors_total', help: 'Requests answered with an error (4xx: the client can fix it; 5xx: ours), by route and kind.', labelNames: ['route', 'kind'], registers: this.registers });
  readonly batchSize = new client.Histogram({ name: 'digits_batch_size_images', help: 'Images per inference batch (requests gathered by the batching window).', buckets: BATCH_BUCKETS, registers: this.registers });
  readonly batchRequests = new client.Histogram({ name: 'digits_batch_requests', help: 'Requests merged into one inference batch.', buckets: BATCH_BUCKETS, registers: this.registers });
  readonly batchInfer = new client.Histogram({ name: 'digits_batch_infer_seconds', help: 'Time one inference batch takes, all its member calls (the members run side by side in the worker pool).', buckets: LATENCY_BUCKETS, registers: this.registers });
  readonly stage = new client.Histogram({ name: 'digits_predict_stage_seconds', help: 'Where a prediction request spends its time: parse (body to pixels, image decoding included), wait (in the batching queue), infer (its batch on the members).', labelNames: ['stage'], buckets: LATENCY_BUCKETS, registers: this.registers });
  readonly images = new client.Counter({ name: 'digits_images_predicted_total', help: 'Images predicted.', registers: this.registers });
  readonly corrections = new client.Counter({ name: 'digits_corrections_total', help: 'Corrections appended to the store.', registers: this.registers });
  readonly eventLoopDelay = new client.Histogram({ name: 'digits_event_loop_delay_seconds', help: 'How late a 10 ms timer on the server thread fires: time the event loop could not read or answer requests.', buckets: LAG_BUCKETS, registers: this.registers });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  /** A value read when scraped: a gauge, or a counter kept elsewhere; one series, or one per label set. */
  gauge(name: string, help: string, read: () => number | Array<{ labels: Labels; value: number }>, type: 'gauge' | 'counter' = 'gauge', labelNames: string[] = []): void {
    const set = (metric: client.Gauge | client.Counter) => {
      metric.reset();
      const value = read();
      for (const s of typeof value === 'number' ? [{ labels: {}, value }] : value) {
        if (metric instanceof client.Gauge) metric.set(s.labels, s.value);
        else metric.inc(s.labels, s.value);
      }
    };
    if (type === 'gauge') {
      new client.Gauge({ name, help, labelNames, registers: this.registers, collect: function (this: client.Gauge) { set(this); } });
    } else {
      new client.Counter({ name, help, labelNames, registers: this.registers, collect: function (this: client.Counter) { set(this); } });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
