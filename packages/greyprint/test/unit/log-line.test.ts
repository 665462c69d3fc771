import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isoTimeCached } from 'opskit/log';
import { pino } from 'pino';
import { createLogger } from '../../src/log.js';
import { fastLineWriter } from '../../src/server/log-line.js';

const FIELDS = ['client', 'client_name', 'os', 'action', 'triplet', 'reason', 'ms'] as const;

/** A pino logger writing into an array, with a fixed time so that lines compare byte for byte. */
function capture(options: pino.LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = pino(
    {
      level: 'info',
      base: { name: 'greyprint' },
      timestamp: () => ',"time":"2026-01-01T00:00:00.000Z"',
      ...options,
    },
    { write: (s: string) => lines.push(s) },
  );
  return { logger, lines };
}

const samples: Record<string, unknown>[] = [
  {
    client: '192.0.2.1',
    client_name: 'unknown',
    os: 'Windows XP',
    action: 'DEFER_IF_PERMIT Greylisted, retry in 300 s',
    triplet: '192.0.2.0/24 a@example.org b@example.net',
    reason: undefined,
    ms: 0.123,
  },
  { client: '2001:db8::1', client_name: 'quote " back\\slash', os: undefined, action: 'DUNNO', ms: 12 },
  { client: 'tab\tnewline\ncontrol\u0001', os: 'café ☕ 𝄞', action: 'DUNNO', reason: '', ms: Number.NaN },
  {},
];

describe('the fast decision log line', () => {
  test('is byte for byte the line pino writes for the same fields', () => {
    const viaPino = capture();
    const viaFast = capture();
    const write = fastLineWriter(viaFast.logger, 'info', FIELDS);
    assert.ok(write, 'a plain pino logger takes the fast path');
    for (const fields of samples) {
      viaPino.logger.info(fields, 'decision');
      write(fields, 'decision');
    }
    assert.deepEqual(viaFast.lines, viaPino.lines);
    for (const line of viaFast.lines) JSON.parse(line);
  });

  test("is byte for byte pino's line with the contract's level words (opskit's level formatter)", () => {
    const words = { formatters: { level: (label: string) => ({ level: label }) } };
    const viaPino = capture(words);
    const viaFast = capture(words);
    const write = fastLineWriter(viaFast.logger, 'info', FIELDS);
    assert.ok(write, 'a level formatter alone keeps the fast path');
    const warn = fastLineWriter(viaFast.logger, 'warn', FIELDS);
    assert.ok(warn);
    for (const fields of samples) {
      viaPino.logger.info(fields, 'decision');
      write(fields, 'decision');
      viaPino.logger.warn(fields, 'bad');
      warn(fields, 'bad');
    }
    assert.deepEqual(viaFast.lines, viaPino.lines);
    assert.deepEqual(
      viaFast.lines.map((l) => JSON.parse(l).level),
      samples.flatMap(() => ['info', 'warn']),
    );
  });

  test("the daemon's own logger (createLogger, JSON to a file) takes it, with the same lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gp-logline-'));
    try {
      const fd = openSync(join(dir, 'log'), 'w');
      const logger = createLogger('info', 'json', fd);
      const write = fastLineWriter(logger, 'info', FIELDS);
      assert.ok(write);
      write(samples[0] as object, 'decision');
      logger.info(samples[0], 'decision');
      // The destination writes asynchronously: wait for its flush before reading (or closing).
      await new Promise<void>((resolve, reject) => logger.flush((err) => (err ? reject(err) : resolve())));
      const [fast, slow] = readFileSync(join(dir, 'log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.ok(typeof fast.time === 'string' && typeof slow.time === 'string');
      assert.deepEqual({ ...fast, time: 'T' }, { ...slow, time: 'T' });
      assert.deepEqual(Object.keys(fast), Object.keys(slow), 'same field order');
      // The operator contract: a level word, ISO time, the tool's name.
      assert.equal(fast.level, 'info');
      assert.equal(fast.name, 'greyprint');
      assert.match(fast.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('steps aside for loggers it would not reproduce', () => {
    const declined: [string, pino.LoggerOptions][] = [
      ['a log formatter', { formatters: { log: (o) => ({ ...o, extra: 1 }) } }],
      ['a mixin', { mixin: () => ({ extra: 1 }) }],
      ['redaction', { redact: ['client'] }],
      ['a serializer for a field', { serializers: { client: (v: string) => v.toUpperCase() } }],
      ['a message prefix', { msgPrefix: '[x] ' }],
      ['a nested key', { nestedKey: 'payload' }],
      ['a stream-write hook', { hooks: { streamWrite: (s: string) => s } }],
    ];
    for (const [what, options] of declined) {
      assert.equal(fastLineWriter(capture(options).logger, 'info', FIELDS), undefined, what);
    }
    const multi = pino({ level: 'info' }, pino.multistream([{ stream: { write: () => undefined } }]));
    assert.equal(fastLineWriter(multi, 'info', FIELDS), undefined, 'a multistream destination');
    assert.ok(fastLineWriter(capture({ serializers: { other: (v: unknown) => v } }).logger, 'info', FIELDS));
  });
});

describe('isoTimeCached', () => {
  test("writes pino's isoTime field, and moves on with the clock", async () => {
    const first = isoTimeCached();
    assert.match(first, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
    const stamp = Date.parse(JSON.parse(`{${first.slice(1)}}`).time);
    assert.ok(Math.abs(stamp - Date.now()) < 1000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = isoTimeCached();
    assert.notEqual(later, first);
    assert.equal(pino.stdTimeFunctions.isoTime().length, later.length);
  });
});
