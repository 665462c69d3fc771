import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyConnection, type RunningDaemon, rcpt, scrape, sleep, startServe } from '../helpers/daemon.js';

/** Opens n connections; each resolves once connected (a refused one is closed by the daemon right after). */
async function openMany(d: RunningDaemon, n: number): Promise<PolicyConnection[]> {
  const out: PolicyConnection[] = [];
  for (let i = 0; i < n; i++) out.push(await PolicyConnection.open(d.host, d.port));
  return out;
}

/** Which connections still answer a request (the others were closed by the daemon). */
async function answering(conns: PolicyConnection[]): Promise<boolean[]> {
  return Promise.all(
    conns.map(async (c) => {
      try {
        return (await c.ask(rcpt())) === 'DUNNO';
      } catch {
        return false;
      }
    }),
  );
}

describe('request deadline and connection limits', () => {
  test('a request trickled one byte at a time is closed at its total deadline, not kept alive by each byte', async () => {
    const d = await startServe(['--request-timeout', '2', '--metrics', '127.0.0.1:0']);
    try {
      const slow = await PolicyConnection.open(d.host, d.port);
      const started = Date.now();
      let closedAt = 0;
      slow.closed.then(() => {
        closedAt = Date.now();
      });
      const text = 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n';
      // One byte every 200 ms: 16 s for the whole line set, far past the 2 s deadline.
      for (let i = 0; i < text.length && closedAt === 0; i++) {
        slow.write(text[i] as string);
        await sleep(200);
        // Another client is answered meanwhile.
        if (i === 3) {
          const other = await PolicyConnection.open(d.host, d.port);
          assert.equal(await other.ask(rcpt()), 'DUNNO');
          other.close();
        }
      }
      assert.notEqual(closedAt, 0, 'the trickling connection was never closed');
      const took = closedAt - started;
      assert.ok(took >= 1900 && took < 4000, `closed after ${took} ms`);
      await d.waitForLog((l) => l.msg === 'closing connection: request not complete within 2 s');
      assert.equal(await scrape(d, 'greyprint_connections_timed_out_total{phase="request"}'), 1);
      assert.equal(await scrape(d, 'greyprint_connections_timed_out_total{phase="idle"}'), 0);
    } finally {
      await d.stop();
    }
  });

  test('past --max-connections new connections are closed, logged once per burst and counted', async () => {
    const d = await startServe(['--max-connections', '5', '--metrics', '127.0.0.1:0']);
    try {
      const first = await openMany(d, 5);
      assert.deepEqual(await answering(first), [true, true, true, true, true]);
      assert.equal(await scrape(d, 'greyprint_connections_open'), 5);
      const extra = await openMany(d, 7);
      assert.deepEqual(await answering(extra), [false, false, false, false, false, false, false]);
      assert.equal(await scrape(d, 'greyprint_connections_refused_total{reason="max_connections"}'), 7);
      assert.equal(await scrape(d, 'greyprint_connections_refused_total{reason="fd_limit"}'), 0);
      await d.waitForLog((l) => /^connection limit reached: /.test(l.msg ?? ''));
      await sleep(300);
      const bursts = d.logs.filter((l) =>
        /^connection limit reached: 5 open \(maxConnections 5\)/.test(l.msg ?? ''),
      );
      assert.equal(bursts.length, 1);
      assert.equal(bursts[0]?.level, 'warn');
      // The first five still work; once one closes, a new connection is accepted and the burst ends.
      assert.deepEqual(await answering(first), [true, true, true, true, true]);
      first[0]?.close();
      await sleep(200);
      const again = await PolicyConnection.open(d.host, d.port);
      assert.equal(await again.ask(rcpt()), 'DUNNO');
      await d.waitForLog((l) => l.msg === 'accepting connections again after refusing 7');
      assert.equal(await scrape(d, 'greyprint_connections_open'), 5);
      for (const c of [...first, ...extra, again]) c.close();
    } finally {
      await d.stop();
    }
  });

  test('at the descriptor limit connections are refused before accept fails, logged once per burst and counted', async () => {
    // 128 descriptors: node, tsx and the daemon use some 30, 64 are kept as headroom.
    const d = await startServe(['--metrics', '127.0.0.1:0'], {
      wrapper: ['prlimit', '--nofile=128:128', '--'],
    });
    try {
      const limit = (d.logs.find((l) => l.msg === 'greyprint started')?.max_connections ?? 0) as number;
      assert.ok(limit > 5 && limit < 64, `room for ${limit} connections`);
      const conns = await openMany(d, limit + 20);
      const ok = await answering(conns);
      assert.equal(ok.filter(Boolean).length, limit);
      assert.equal(await scrape(d, 'greyprint_connections_refused_total{reason="fd_limit"}'), 20);
      await d.waitForLog((l) => /^descriptor limit reached: /.test(l.msg ?? ''));
      await sleep(300);
      const bursts = d.logs.filter((l) => /^descriptor limit reached: /.test(l.msg ?? ''));
      assert.equal(bursts.length, 1);
      assert.match(bursts[0]?.msg ?? '', /open-files limit 128/);
      for (const c of conns) c.close();
      await sleep(300);
      // Descriptors are free again: the daemon answers.
      const c = await PolicyConnection.open(d.host, d.port);
      assert.equal(await c.ask(rcpt()), 'DUNNO');
      c.close();
    } finally {
      await d.stop();
    }
  });
});
