/**
 * Prometheus metrics of the CloudStack client. Created against a registry the
 * caller owns; asking twice for the same registry returns the same metrics,
 * so several clients (or a re-created client) never double-register.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface CloudStackMetrics {
  /** One finished HTTP attempt: `outcome` is `ok` or the error code (`timeout`, `api-error` ...). */
  observeAttempt(command: string, outcome: string, seconds: number): void;
  observeRetry(command: string): void;
}

const byRegistry = new WeakMap<Registry, CloudStackMetrics>();

export function cloudStackMetrics(registry: Registry): CloudStackMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const requests = new Counter({
    name: 'guestrouter_cloudstack_requests_total',
    help: 'CloudStack API HTTP attempts by command and outcome (ok or the error code)',
    labelNames: ['command', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'guestrouter_cloudstack_request_duration_seconds',
    help: 'Duration of one CloudStack API HTTP attempt, body included',
    labelNames: ['command'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'guestrouter_cloudstack_retries_total',
    help: 'CloudStack API attempts retried after a transient failure',
    labelNames: ['command'] as const,
    registers: [registry],
  });
  const metrics: CloudStackMetrics = {
    observeAttempt(command, outcome, seconds) {
      requests.inc({ command, outcome });
      duration.observe({ command }, seconds);
    },
    observeRetry(command) {
      retries.inc({ command });
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
