import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { DECISION_BUCKETS, FastHistogram } from '../../src/metrics.js';

describe('FastHistogram', () => {
  test('exports exactly what a prom-client Histogram exports for the same observations', async () => {
    const fastRegistry = new Registry();
    const promRegistry = new Registry();
    const fast = new FastHistogram('x_duration_seconds', 'Time of x', DECISION_BUCKETS, fastRegistry);
    const prom = new Histogram({
      name: 'x_duration_seconds',
      help: 'Time of x',
      buckets: DECISION_BUCKETS,
      registers: [promRegistry],
    });
    // on a bound, between bounds, below the first, above the last
    const values = [0, 0.0001, 0.00011, 0.0004, 0.001, 0.0015, 0.002, 0.3, 1, 1.5, 7, 0.00005];
    for (const v of values) {
      fast.observe(v);
      prom.observe(v);
    }
    assert.equal(await fastRegistry.metrics(), await promRegistry.metrics());
    // as JSON, the form a push gateway or an aggregator receives
    const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON()));
    assert.deepEqual(await json(fastRegistry), await json(promRegistry));
    fast.reset();
    prom.reset();
    prom.zero({});
    assert.equal(await fastRegistry.metrics(), await promRegistry.metrics());
  });
});
