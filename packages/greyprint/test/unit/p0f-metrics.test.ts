import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon.js';
import { Metrics } from '../../src/metrics.js';
import { createOsSource } from '../../src/os/factory.js';
import { PolicyConnection, rcpt } from '../helpers/daemon.js';

describe('the p0f source in the OS chain', () => {
  test('logs through the daemon logger and exposes its counters as greyprint_p0f_* metrics', async () => {
    // A socket path nobody listens on: the real P0fSource fails to connect, answers unknown,
    // logs once and counts the failure.
    const dir = mkdtempSync(join(tmpdir(), 'gp-p0fm-'));
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const config = parseConfig({ p0f: { socket: join(dir, 'p0f.sock'), timeoutMs: 200, poolSize: 1 } });
    const chain = createOsSource(config, logger);
    try {
      assert.ok(chain.p0f, 'the chain names its p0f source');
      const metrics = new Metrics();
      metrics.watchP0f(() => chain.p0f?.stats());
      const r = await chain.resolve('192.0.2.1');
      assert.equal(r.label, undefined);
      const warned = lines.find((l) => l.msg === 'p0f lookup failed; OS unknown');
      assert.ok(warned, `the failure is logged: ${JSON.stringify(lines)}`);
      assert.equal(warned.component, 'p0f');
      const text = await metrics.registry.metrics();
      assert.match(text, /^greyprint_p0f_lookups_total 1$/m);
      assert.match(text, /^greyprint_p0f_answered_total 0$/m);
      const failures = [...text.matchAll(/^greyprint_p0f_failures_total\{reason="([^"]+)"\} (\d+)$/gm)];
      assert.equal(
        failures.reduce((n, m) => n + Number(m[2]), 0),
        1,
        `one failure counted under its reason: ${failures.map((m) => m[0]).join(', ')}`,
      );
      assert.match(text, /^greyprint_p0f_open_connections 0$/m);
      assert.match(text, /^greyprint_p0f_cache_entries \d+$/m);
      // Counters follow the source on the next scrape.
      await chain.resolve('192.0.2.2');
      assert.match(await metrics.registry.metrics(), /^greyprint_p0f_lookups_total 2$/m);
    } finally {
      await chain.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without a p0f socket there is no p0f source and no p0f metric', async () => {
    const chain = createOsSource(parseConfig({}));
    assert.equal(chain.p0f, undefined);
    const metrics = new Metrics();
    assert.doesNotMatch(await metrics.registry.metrics(), /greyprint_p0f_/);
    await chain.close();
  });

  test('a daemon with a p0f socket serves the p0f counters with its other metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gp-p0fd-'));
    const config = parseConfig({
      listen: ['127.0.0.1:0'],
      db: ':memory:',
      p0f: { socket: join(dir, 'p0f.sock'), timeoutMs: 100, poolSize: 1 },
    });
    const daemon = await startDaemon(config, { logger: pino({ level: 'silent' }) });
    const [host, port] = (daemon.addresses[0] ?? '').split(':');
    const conn = await PolicyConnection.open(host ?? '', Number(port));
    try {
      // p0f unreachable: the OS is unknown and the default rules accept at once.
      assert.equal(await conn.ask(rcpt({ client_address: '198.51.100.7' })), 'DUNNO');
      const text = await daemon.metrics.registry.metrics();
      assert.match(text, /^greyprint_p0f_lookups_total 1$/m);
      assert.match(text, /^greyprint_requests_total\{verdict="accept"\} 1$/m);
    } finally {
      conn.close();
      await daemon.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
