import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The daemon's metrics on their own registry (several daemons may share a process in tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'greyprint_requests_total',
    help: 'Policy requests answered, by verdict',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  readonly failOpen = new Counter({
    name: 'greyprint_failopen_total',
    help: 'Requests answered DUNNO because of an internal fault, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly badRequests = new Counter({
    name: 'greyprint_bad_requests_total',
    help: 'Requests rejected by the parser or with a client address that is not an IP, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly decisionSeconds = new Histogram({
    name: 'greyprint_decision_duration_seconds',
    help: 'Time from a complete request to its answer',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly connections = new Counter({
    name: 'greyprint_connections_total',
    help: 'Policy connections accepted',
    registers: [this.registry],
  });
  readonly expired = new Counter({
    name: 'greyprint_expired_triplets_total',
    help: 'Greylist triplets removed by expiry',
    registers: [this.registry],
  });

  private readonly requestCounters = new Map<string, { inc(n?: number): void }>();

  /** Counts one answered request; the labelled child is looked up once per verdict, not per request. */
  countRequest(verdict: string): void {
    let c = this.requestCounters.get(verdict);
    if (c === undefined) {
      c = this.requests.labels(verdict);
      this.requestCounters.set(verdict, c);
    }
    c.inc();
  }

  constructor(withDefaults = false) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'greyprint_' });
  }
}
