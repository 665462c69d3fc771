import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyConnection, rcpt, scrape, startServe } from '../helpers/daemon.js';
import { runFuzz } from '../helpers/fuzz.js';

describe('fuzzed requests', () => {
  test('20,000 mutated requests each get one valid answer, in order, and the daemon keeps serving', async () => {
    const d = await startServe([
      '--metrics',
      '127.0.0.1:0',
      '--os-static',
      '192.0.2.0/24=Windows XP',
      '--os-static',
      '198.51.100.0/24=Linux 3.11 and newer',
    ]);
    try {
      const seed = Number(process.env.GREYPRINT_FUZZ_SEED ?? 20261130);
      const r = await runFuzz({ host: d.host, port: d.port, requests: 20_000, connections: 8, seed });
      assert.deepEqual(r.invalid, []);
      assert.equal(r.replies, r.sent);
      // The mutations reach every kind of answer and every parser error.
      for (const kind of ['DUNNO', 'DEFER_IF_PERMIT', 'PREPEND'])
        assert.ok((r.byAction[kind] ?? 0) > 100, kind);
      for (const code of [
        'line_too_long',
        'too_many_attributes',
        'nul_byte',
        'malformed_line',
        'missing_request',
        'wrong_request',
      ]) {
        assert.ok(((await scrape(d, `greyprint_bad_requests_total{code="${code}"}`)) ?? 0) > 0, code);
      }
      assert.equal(await scrape(d, 'greyprint_failopen_total{reason="exception"}'), 0);
      const c = await PolicyConnection.open(d.host, d.port);
      assert.match(
        await c.ask(rcpt({ client_address: '192.0.2.200', recipient: 'after@example.net' })),
        /^DEFER_IF_PERMIT /,
      );
      c.close();
    } finally {
      assert.equal(await d.stop(), 0);
    }
  });
});
