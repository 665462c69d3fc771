import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { OsResolution } from './os/factory.js';
import type { P0fSource } from './os/p0f/source.js';
import type { Verdict } from './policy/decide.js';
import type { PolicyRequestErrorCode } from './protocol/messages.js';

/*
 * Every label value a counter can take, so that each series exists (at 0) from the start:
 * a rate() or an alert over a series that appears only with its first event misses that
 * event. The Record types make the compiler list a value added to the union type.
 */
const VERDICTS: Record<Verdict, true> = {
  greylist: true,
  pass: true,
  accept: true,
  tag: true,
  allow: true,
  header: true,
  skip: true,
  bad_address: true,
  bad_request: true,
  failopen: true,
};
export type FailOpenReason = 'store' | 'exception' | 'deadline' | NonNullable<OsResolution['fault']>;
const FAILOPEN_REASONS: Record<FailOpenReason, true> = {
  store: true,
  exception: true,
  deadline: true,
  os_timeout: true,
  os_error: true,
};
const BAD_REQUEST_CODES: Record<PolicyRequestErrorCode | 'bad_address', true> = {
  line_too_long: true,
  too_many_attributes: true,
  request_too_large: true,
  nul_byte: true,
  malformed_line: true,
  missing_request: true,
  wrong_request: true,
  bad_address: true,
};
/** Why a connection was closed at once: the configured cap, or the process's descriptor limit. */
export type RefusedReason = 'max_connections' | 'fd_limit';
const REFUSED_REASONS: Record<RefusedReason, true> = { max_connections: true, fd_limit: true };

function zero<T extends string>(counter: Counter<T>, label: T, values: object): void {
  for (const v of Object.keys(values)) counter.inc({ [label]: v } as Partial<Record<T, string>>, 0);
}

/** What a prom-client registry reads from a metric (Registry#getMetricsAsString, getMetricsAsJSON). */
interface ExportedMetric {
  name: string;
  help: string;
  type: 'histogram';
  values: {
    labels: Record<string, string | number>;
    value: number;
    metricName: string;
    exemplar?: null;
  }[];
  aggregator: 'sum';
}

/**
 * A histogram without labels for the hot path: observe() is a short scan over
 * the bucket bounds and two additions. prom-client's Histogram hashes the label
 * set and allocates on every observation, which at one observation per policy
 * request was a measurable part of a request's CPU time. Registered as a
 * prom-client metric: the registry formats it exactly as it formats its own
 * histograms (`_bucket{le=...}` cumulative, `+Inf`, `_sum`, `_count`).
 */
export class FastHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(buckets.length);
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(value: number): void {
    const { buckets, counts } = this;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= (buckets[i] as number)) {
        counts[i] = (counts[i] as number) + 1;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  async get(): Promise<ExportedMetric> {
    const values: ExportedMetric['values'] = [];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i] as number;
      values.push({ labels: { le }, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
    });
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket`, exemplar: null },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export const DECISION_BUCKETS = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

/** The daemon's metrics on their own registry (several daemons may share a process in tests). */
export class Metrics {
  readonly registry = new Registry();
  /** Requests answered per verdict, counted in a plain map and handed to prom-client at scrape time. */
  private readonly requestCounts = new Map<string, number>(Object.keys(VERDICTS).map((v) => [v, 0]));
  readonly requests = (() => {
    const counts = this.requestCounts;
    return new Counter({
      name: 'greyprint_requests_total',
      help: 'Policy requests answered, by verdict',
      labelNames: ['verdict'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [verdict, n] of counts) this.inc({ verdict }, n);
      },
    });
  })();
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
  readonly decisionSeconds = new FastHistogram(
    'greyprint_decision_duration_seconds',
    'Time from a complete request to its answer',
    DECISION_BUCKETS,
    this.registry,
  );
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
  readonly refused = new Counter({
    name: 'greyprint_connections_refused_total',
    help: 'Policy connections closed at once, by reason (max_connections: the configured cap; fd_limit: the descriptor limit)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly timedOut = new Counter({
    name: 'greyprint_connections_timed_out_total',
    help: 'Policy connections closed by a timeout, by phase (idle: silent between requests; request: a request not complete within requestTimeoutSec)',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time: the daemon's own count of open policy connections. */
  private openConnections: () => number = () => 0;
  readonly open = (() => {
    const read = () => this.openConnections();
    return new Gauge({
      name: 'greyprint_connections_open',
      help: 'Policy connections open now',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  })();
  /** Read at scrape time: lines the log destination could not write (a reader that does not read). */
  private droppedLogLines: () => number = () => 0;
  readonly logDropped = (() => {
    const read = () => this.droppedLogLines();
    return new Counter({
      name: 'greyprint_log_dropped_lines_total',
      help: 'Log lines dropped because the log destination did not take them (logging never waits)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  })();

  watchConnections(read: () => number): void {
    this.openConnections = read;
  }

  watchLogDrops(read: () => number): void {
    this.droppedLogLines = read;
  }

  /**
   * Counts one answered request. prom-client's Counter#inc hashes and validates the label set
   * on every call; this is one map update per request.
   */
  countRequest(verdict: string): void {
    this.requestCounts.set(verdict, (this.requestCounts.get(verdict) ?? 0) + 1);
  }

  private p0fStats: (() => ReturnType<P0fSource['stats']> | undefined) | undefined;

  /**
   * Exposes the p0f source's own counters as `greyprint_p0f_*`, read when the metrics are
   * scraped (the source counts; nothing is added to its hot path). `read` returns the current
   * source's stats, or undefined when p0f is not configured.
   */
  watchP0f(read: () => ReturnType<P0fSource['stats']> | undefined): void {
    const first = this.p0fStats === undefined;
    this.p0fStats = read;
    if (!first) return;
    const stats = () => this.p0fStats?.();
    const counter = (name: string, help: string, pick: (s: ReturnType<P0fSource['stats']>) => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const s = stats();
          if (s === undefined) return;
          this.reset();
          this.inc(pick(s));
        },
      });
    const gauge = (name: string, help: string, pick: (s: ReturnType<P0fSource['stats']>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const s = stats();
          if (s !== undefined) this.set(pick(s));
        },
      });
    counter('greyprint_p0f_lookups_total', 'OS lookups asked of the p0f source', (s) => s.lookups);
    counter('greyprint_p0f_cache_hits_total', 'p0f lookups answered from the cache', (s) => s.cacheHits);
    counter('greyprint_p0f_answered_total', 'p0f answers with an OS match', (s) => s.answered);
    counter('greyprint_p0f_no_match_total', 'p0f answers without a match for the address', (s) => s.noMatch);
    counter(
      'greyprint_p0f_no_match_retries_total',
      'second questions to p0f after a first "no match"',
      (s) => s.noMatchRetries,
    );
    new Counter({
      name: 'greyprint_p0f_failures_total',
      help: 'p0f lookups that ended without an answer (OS unknown), by reason',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      collect() {
        const s = stats();
        if (s === undefined) return;
        this.reset();
        for (const [reason, n] of Object.entries(s.failures)) this.inc({ reason }, n);
      },
    });
    gauge('greyprint_p0f_open_connections', 'API connections to p0f open now', (s) => s.openConnections);
    gauge(
      'greyprint_p0f_max_open_connections',
      'The most API connections to p0f open at once so far',
      (s) => s.maxOpenConnections,
    );
    gauge('greyprint_p0f_cache_entries', 'Addresses in the p0f answer cache', (s) => s.cacheSize);
  }

  constructor(withDefaults = false) {
    // The conventional names (process_cpu_seconds_total, nodejs_heap_size_used_bytes ...), which
    // dashboards and alerts for any Node.js process expect; the job label tells daemons apart.
    if (withDefaults) collectDefaultMetrics({ register: this.registry });
    zero(this.failOpen, 'reason', FAILOPEN_REASONS);
    zero(this.badRequests, 'code', BAD_REQUEST_CODES);
    zero(this.refused, 'reason', REFUSED_REASONS);
    zero(this.timedOut, 'phase', { idle: true, request: true });
  }
}
