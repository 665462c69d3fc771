import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { P0fConnection, P0fSource, queryForAddress } from '../../src/os/p0f/index.js';
import {
  CLIENT_LINUX,
  CLIENT_LINUX6,
  CLIENT_NT,
  CLIENT_SEVEN,
  CLIENT_XP,
  createLab,
  type Lab,
  type P0fProcess,
  sendSyn,
  startP0f,
} from '../e2e/lab.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** p0f's CPU use over a short window, in CPU-seconds per second. */
async function cpuLoad(p0f: P0fProcess, ms = 1000): Promise<number> {
  const start = p0f.cpuSeconds();
  await sleep(ms);
  return (p0f.cpuSeconds() - start) / (ms / 1000);
}

describe('P0fSource against a real p0f 3.09b in a network namespace', () => {
  let lab: Lab;
  let p0f: P0fProcess;

  before(async () => {
    lab = await createLab();
    p0f = await startP0f(lab, { maxApiConnections: 3 });
    // Real TCP connections from shaped and plain Linux stacks in the client namespaces.
    await sendSyn(lab.windowsNs, CLIENT_XP);
    await sendSyn(lab.windowsNs, CLIENT_SEVEN);
    await sendSyn(lab.windowsNs, CLIENT_NT);
    await sendSyn(lab.linuxNs, CLIENT_LINUX);
    await sendSyn(lab.linuxNs, CLIENT_LINUX6);
    await sleep(300);
  });

  after(async () => {
    await p0f?.stop();
    await lab?.destroy();
  });

  test('labels shaped stacks Windows XP, Windows 7 or 8 and (generic) Windows NT kernel, a default stack Linux', async () => {
    const source = new P0fSource({ socket: p0f.socket, timeoutMs: 1000, poolSize: 2, cacheTtlSec: 60 });
    try {
      const xp = await source.lookup(CLIENT_XP);
      assert.deepEqual(xp, {
        class: 'win',
        name: 'Windows',
        flavor: 'XP',
        distance: 0,
        fuzzy: false,
        source: 'p0f',
      });
      const seven = await source.lookup(CLIENT_SEVEN);
      assert.equal(seven?.name, 'Windows');
      assert.equal(seven?.flavor, '7 or 8');
      const linux = await source.lookup(CLIENT_LINUX);
      assert.equal(linux?.class, 'unix');
      assert.equal(linux?.name, 'Linux');
      // Without the route window, only p0f's generic Windows signature matches.
      const nt = await source.lookup(CLIENT_NT);
      assert.deepEqual(nt, {
        class: 'win',
        name: 'Windows',
        flavor: 'NT kernel',
        distance: 0,
        fuzzy: true,
        source: 'p0f',
      });
    } finally {
      await source.close();
    }
  });

  test('answers no match for an address p0f never saw, and caches it briefly', async () => {
    const source = new P0fSource({ socket: p0f.socket, timeoutMs: 1000, poolSize: 1, cacheTtlSec: 60 });
    try {
      assert.equal(await source.lookup('10.77.0.99'), undefined);
      assert.equal(await source.lookup('10.77.0.99'), undefined);
      const stats = source.stats();
      assert.equal(stats.noMatch, 1);
      assert.equal(stats.cacheHits, 1);
      assert.equal(stats.failures.timeout + stats.failures.unavailable, 0);
    } finally {
      await source.close();
    }
  });

  test('asks about IPv6 clients: p0f knows the client it saw and not an unseen neighbour', async () => {
    const connection = await P0fConnection.open(p0f.socket, AbortSignal.timeout(2000));
    try {
      const seen = await connection.query(queryForAddress(CLIENT_LINUX6));
      assert.equal(seen.status, 'ok');
      assert.ok(seen.totalConnections >= 1);
      assert.ok(seen.lastSeen > 0);
      const unseen = await connection.query(queryForAddress('fd77::99'));
      assert.equal(unseen.status, 'no-match');
    } finally {
      connection.destroy();
    }
  });

  test('keeps within p0f -S 3 with poolSize 3: twelve concurrent lookups all answered', async () => {
    const baseline = p0f.socketCount();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, p0f.socketCount());
    }, 5);
    const source = new P0fSource({ socket: p0f.socket, timeoutMs: 3000, poolSize: 3, cacheTtlSec: 60 });
    try {
      const addresses = [
        CLIENT_XP,
        CLIENT_SEVEN,
        CLIENT_LINUX,
        ...Array.from({ length: 9 }, (_, i) => `10.77.1.${i}`),
      ];
      const labels = await Promise.all(addresses.map((address) => source.lookup(address)));
      assert.equal(labels[0]?.flavor, 'XP');
      assert.equal(labels[1]?.flavor, '7 or 8');
      assert.equal(labels[2]?.name, 'Linux');
      const stats = source.stats();
      assert.equal(stats.answered + stats.noMatch, 12, JSON.stringify(stats.failures));
      assert.ok(stats.maxOpenConnections <= 3);
      assert.ok(peak - baseline <= 3, `p0f held ${peak - baseline} API connections`);
    } finally {
      clearInterval(sampler);
      await source.close();
    }
  });

  test('leaves p0f idle after many lookups and close (no half-close), where a half-closing client makes it spin', async () => {
    const source = new P0fSource({ socket: p0f.socket, timeoutMs: 1000, poolSize: 3, cacheTtlSec: 0 });
    for (let i = 0; i < 50; i += 1) await source.lookup(i % 2 ? CLIENT_XP : '10.77.2.1');
    await source.close();
    const ours = await cpuLoad(p0f);
    assert.ok(ours < 0.1, `p0f used ${ours} CPU-s/s after our client closed`);

    // Control: the bug this client avoids. A client that shuts down its write side.
    const halfClosing = connect({ path: p0f.socket, allowHalfOpen: true });
    await new Promise((resolve) => halfClosing.once('connect', resolve));
    halfClosing.end();
    try {
      const theirs = await cpuLoad(p0f, 700);
      assert.ok(theirs > 0.25, `p0f used ${theirs} CPU-s/s with a half-closed client`);
    } finally {
      halfClosing.destroy();
    }
  });

  test('answers unknown within timeoutMs while p0f is down, and again with labels once p0f is back', async () => {
    const source = new P0fSource({
      socket: p0f.socket,
      timeoutMs: 500,
      poolSize: 2,
      cacheTtlSec: 0,
      noMatchTtlSec: 0,
      minBackoffMs: 100,
      maxBackoffMs: 400,
    });
    try {
      assert.equal((await source.lookup(CLIENT_XP))?.flavor, 'XP', 'a pooled connection is open');
      await p0f.stop();
      const started = Date.now();
      assert.equal(await source.lookup(CLIENT_XP), undefined);
      assert.ok(Date.now() - started < 500 + 1000);
      const down = source.stats().failures;
      assert.ok(down.unavailable + down['connection-lost'] >= 1, JSON.stringify(down));

      p0f = await startP0f(lab, { maxApiConnections: 3 });
      await sendSyn(lab.windowsNs, CLIENT_XP);
      let label: Awaited<ReturnType<P0fSource['lookup']>>;
      for (let attempt = 0; attempt < 40 && label?.flavor !== 'XP'; attempt += 1) {
        await sleep(100);
        label = await source.lookup(CLIENT_XP);
      }
      assert.equal(label?.flavor, 'XP', 'reconnected after the restart');
    } finally {
      await source.close();
    }
  });
});
