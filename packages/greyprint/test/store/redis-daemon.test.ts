import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LogLine, PolicyConnection, rcpt, scrape, sleep, startServe } from '../helpers/daemon.js';
import { startRedis } from '../helpers/store-redis.js';

const storeLines = (logs: LogLine[], msg: string) => logs.filter((l) => l.msg === msg);
const FAILING = 'greylist store failing; answering DUNNO (fail open) until it answers again';
const BACK = 'greylist store answers again';

describe('greyprint serve with Redis going away, freezing and coming back', () => {
  test('logs each change of state once with the real error, and counts a frozen Redis as deadline', async () => {
    let redis = await startRedis();
    const port = Number(new URL(redis.url).port);
    const d = await startServe([
      '--db',
      redis.url,
      '--metrics',
      '127.0.0.1:0',
      '--os-static',
      '192.0.2.0/24=Windows XP',
    ]);
    const ask = async (n: number, tag: string) => {
      const c = await PolicyConnection.open(d.host, d.port);
      const out: string[] = [];
      for (let i = 0; i < n; i++)
        out.push(await c.ask(rcpt({ client_address: '192.0.2.7', recipient: `${tag}${i}@example.net` })));
      c.close();
      return out;
    };
    try {
      assert.match((await ask(1, 'up'))[0] ?? '', /^DEFER_IF_PERMIT /);

      // Down: every answer fails open, one error line says why (the connection's own error).
      await redis.stop();
      await sleep(500);
      const down = await ask(20, 'down');
      assert.deepEqual(new Set(down), new Set(['DUNNO']));
      await d.waitForLog((l) => l.msg === FAILING);
      await sleep(400);
      const failing = storeLines(d.logs, FAILING);
      assert.equal(failing.length, 1);
      assert.match(String(failing[0]?.err), /ECONNREFUSED/);
      assert.equal(failing[0]?.level, 'error');
      // One fail-open line (the request that found it); the other 19 are only counted.
      assert.ok(storeLines(d.logs, 'fail open').length <= 1);
      assert.equal(await scrape(d, 'greyprint_failopen_total{reason="store"}'), 20);

      // Back: logged once, without waiting for a request; greylisting works again.
      redis = await startRedis(port);
      await d.waitForLog((l) => l.msg === BACK, 15000);
      assert.match((await ask(1, 'back'))[0] ?? '', /^DEFER_IF_PERMIT /);
      assert.equal(storeLines(d.logs, BACK).length, 1);

      // Frozen: connected but silent. Answers come at the deadline and count as `deadline`.
      process.kill(redis.pid, 'SIGSTOP');
      const started = Date.now();
      const frozen = await ask(3, 'frozen');
      assert.deepEqual(frozen, ['DUNNO', 'DUNNO', 'DUNNO']);
      assert.ok(Date.now() - started < 3 * 1000 + 1500, 'each answer within about the 1 s deadline');
      await d.waitForLog((l) => l.msg === FAILING && /did not answer in time/.test(String(l.err)));
      assert.equal(await scrape(d, 'greyprint_failopen_total{reason="deadline"}'), 3);
      assert.equal(await scrape(d, 'greyprint_failopen_total{reason="store"}'), 20);
      process.kill(redis.pid, 'SIGCONT');
      await sleep(300);
      assert.match((await ask(1, 'thawed'))[0] ?? '', /^DEFER_IF_PERMIT /);
      await sleep(400);
      assert.equal(storeLines(d.logs, FAILING).length, 2);
      assert.equal(storeLines(d.logs, BACK).length, 2);
    } finally {
      try {
        process.kill(redis.pid, 'SIGCONT');
      } catch {}
      await d.stop();
      await redis.stop();
    }
  });
});
