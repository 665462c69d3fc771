import { metricsRoute, type RouteHandler, startHttpEndpoint } from 'opskit/http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { OwnedProcessMetrics } from '../services/owned-process.js';

/** prom-client metrics of the run loop, named guestrouter_<thing>_<unit>. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly cycles = new Counter({
    name: 'guestrouter_reconcile_cycles_total',
    help: 'Reconcile cycles by result (ok, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'guestrouter_reconcile_duration_seconds',
    help: 'Time of one reconcile cycle: fetch, plan and apply',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly served = new Gauge({
    name: 'guestrouter_networks_served',
    help: 'Guest networks served after the last good cycle',
    registers: [this.registry],
  });
  readonly refused = new Gauge({
    name: 'guestrouter_networks_refused',
    help: 'Guest networks refused in the last good cycle',
    registers: [this.registry],
  });
  readonly changes = new Counter({
    name: 'guestrouter_changes_total',
    help: 'Changes applied to the router, by action',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: 'guestrouter_last_success_timestamp_seconds',
    help: 'Unix time of the last cycle that fetched the inventory and applied its plan',
    registers: [this.registry],
  });
  readonly deletionsWithheld = new Counter({
    name: 'guestrouter_deletions_withheld_total',
    help: 'Cycles that deleted nothing because more networks would go than safety.maxDeletesPerCycle allows',
    registers: [this.registry],
  });
  /** The daemons run owns (dnsmasq, ...): up, starts, failures by reason. */
  readonly services = new OwnedProcessMetrics(this.registry);
}

/**
 * Serves GET /metrics and the given routes (the status page) with opskit's read-only endpoint;
 * resolves with the bound port (port 0 picks a free one).
 */
export async function startMetricsServer(
  metrics: ControllerMetrics,
  host: string,
  port: number,
  routes: ReadonlyMap<string, RouteHandler> = new Map(),
): Promise<{ port: number; close(): Promise<void> }> {
  const endpoint = await startHttpEndpoint(
    { host, port },
    new Map([...routes, ['/metrics', metricsRoute(metrics.registry)]]),
  );
  return { port: endpoint.port, close: () => endpoint.close() };
}
