import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { startExpiry } from '../../src/daemon/expiry.js';
import { classifyFault, createPolicyHandler } from '../../src/daemon/handler.js';
import { StoreHealth } from '../../src/daemon/store-health.js';
import {
  AllowList,
  compileDynamicPatterns,
  compileRules,
  createOsSource,
  type GreylistStore,
  MemoryStore,
  type PolicyRequest,
  parseConfig,
} from '../../src/index.js';
import { Metrics } from '../../src/metrics.js';
import { StoreFault } from '../../src/policy/decide.js';
import { PendingAnswer } from '../../src/server/deadline.js';
import { policyRequest } from '../helpers/request.js';

/** A pino logger whose lines land in an array, parsed. */
function capturedLogger(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

const request = policyRequest;

const settle = () => new Promise((r) => setImmediate(r));

describe('StoreHealth: one log line per change of the store health', () => {
  test('logs the first failure and the recovery once each, however many requests see them', () => {
    const { logger, lines } = capturedLogger();
    const health = new StoreHealth(logger, 'sqlite');
    assert.equal(health.failing, false);
    health.answered();
    health.failed(new Error('disk I/O error'));
    health.failed(new Error('disk I/O error'));
    assert.equal(health.failing, true);
    health.answered();
    health.answered();
    assert.equal(health.failing, false);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.err ?? l.was]),
      [
        [
          'greylist store failing; answering DUNNO (fail open) until it answers again',
          'Error: disk I/O error',
        ],
        ['greylist store answers again', 'Error: disk I/O error'],
      ],
    );
  });
});

describe('startExpiry: background expiry', () => {
  test('runs with the TTLs current at each run and never overlaps a slow run', async () => {
    const { logger } = capturedLogger();
    const calls: { now: number; ttls: unknown }[] = [];
    let release: (() => void) | undefined;
    const store = {
      expire(now: number, ttls: unknown) {
        calls.push({ now, ttls });
        return new Promise<{ triplets: number; clients: number }>((resolve) => {
          release = () => resolve({ triplets: 3, clients: 1 });
        });
      },
    } as unknown as GreylistStore;
    let ttl = 10;
    let expired = 0;
    const stop = startExpiry(store, logger, {
      intervalMs: 5,
      ttls: () => ({ unconfirmedTtl: ttl, confirmedTtl: ttl * 2 }),
      now: () => 42,
      onExpired: (n) => {
        expired += n;
      },
    });
    try {
      await new Promise((r) => setTimeout(r, 40));
      assert.equal(calls.length, 1, 'a run still in progress makes the next ticks skip');
      ttl = 20;
      release?.();
      await new Promise((r) => setTimeout(r, 40));
      assert.equal(expired, 3);
      assert.ok(calls.length >= 2);
      assert.deepEqual(calls[1], { now: 42, ttls: { unconfirmedTtl: 20, confirmedTtl: 40 } });
    } finally {
      stop();
      release?.();
    }
  });
});

describe('createPolicyHandler: decides, counts and fails open', () => {
  function setup(store: GreylistStore, deadlineMs = 1000) {
    const config = parseConfig({ os: { static: ['192.0.2.0/24=Windows XP'] }, deadlineMs });
    const state = {
      config,
      rules: compileRules(config.rules),
      allow: new AllowList([]),
      isDynamicName: compileDynamicPatterns(config.desktop.dynamicNamePatterns),
    };
    const { logger, lines } = capturedLogger('info');
    const metrics = new Metrics(false);
    const health = new StoreHealth(logger, 'memory');
    const policy = createPolicyHandler(
      () => state,
      { store, now: () => 1_000_000, os: createOsSource(config) },
      metrics,
      logger,
      health,
    );
    const ctx = { id: 1, peer: 'test' };
    const answer = async (req: PolicyRequest): Promise<string> => {
      const a = policy.handler.onRequest(req, ctx);
      if (!(a instanceof PendingAnswer)) return a;
      while (a.action === undefined) await settle();
      return a.action;
    };
    return { policy, answer, lines, health, metrics };
  }

  test('greylists a desktop Windows client and logs one decision line', async () => {
    const { policy, answer, lines } = setup(new MemoryStore());
    try {
      assert.match(await answer(request()), /^DEFER_IF_PERMIT /);
      const decision = lines.filter((l) => l.msg === 'decision');
      assert.equal(decision.length, 1);
      assert.equal(decision[0]?.verdict, 'greylist');
      assert.equal(decision[0]?.client, '192.0.2.10');
    } finally {
      policy.close();
    }
  });

  test('a failing store answers DUNNO, marks the store failing and logs the fail open', async () => {
    class FailingStore extends MemoryStore {
      override recordAttempt(): never {
        throw new Error('SQLITE_IOERR');
      }
    }
    const { policy, answer, lines, health } = setup(new FailingStore());
    try {
      assert.equal(await answer(request()), 'DUNNO');
      assert.equal(health.failing, true);
      const failOpen = lines.find((l) => l.msg === 'fail open');
      assert.equal(failOpen?.reason, 'store');
      assert.equal(failOpen?.action, 'DUNNO');
    } finally {
      policy.close();
    }
  });

  test('a store that never answers is answered DUNNO at the deadline', async () => {
    class HangingStore extends MemoryStore {
      override recordAttempt() {
        return new Promise<never>(() => undefined);
      }
    }
    const { policy, answer, lines } = setup(new HangingStore(), 20);
    try {
      assert.equal(await answer(request()), 'DUNNO');
      assert.equal(lines.find((l) => l.msg === 'fail open')?.reason, 'deadline');
    } finally {
      policy.close();
    }
  });

  test('classifies a silent store as deadline and other store errors as store', () => {
    const silent = Object.assign(new Error('timeout'), { timedOut: true });
    assert.equal(classifyFault(new StoreFault(silent)), 'deadline');
    assert.equal(classifyFault(new StoreFault(new Error('ECONNREFUSED'))), 'store');
    assert.equal(classifyFault(new Error('bug')), 'exception');
  });
});
