import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type P0fResponse, P0fSource, QUERY_LENGTH, serializeResponse } from '../../src/os/p0f/index.js';

// A unix socket that accepts connections and never answers: what a hung p0f
// (or the wrong socket path) looks like to the client.
describe('P0fSource against a socket that never answers', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;
  const accepted: Socket[] = [];
  let closedByClient = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpp-silent-'));
    socketPath = join(dir, 'silent.sock');
    server = createServer((socket) => {
      accepted.push(socket);
      socket.on('data', () => {});
      socket.on('close', () => {
        closedByClient += 1;
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('answers unknown within timeoutMs, counts a timeout and drops the connection', async () => {
    const source = new P0fSource({ socket: socketPath, timeoutMs: 300, poolSize: 2, cacheTtlSec: 60 });
    const started = Date.now();
    const label = await source.lookup('192.0.2.1');
    const elapsed = Date.now() - started;
    assert.equal(label, undefined);
    assert.ok(elapsed < 300 + 1000, `settled after ${elapsed} ms`);
    const stats = source.stats();
    assert.equal(stats.failures.timeout, 1);
    assert.equal(stats.openConnections, 0, 'the timed-out connection is destroyed, not reused');
    // A failure is not cached: the next lookup asks again.
    assert.equal(await source.lookup('192.0.2.1'), undefined);
    assert.equal(source.stats().failures.timeout, 2);
    await source.close();
  });

  test('never opens more than poolSize connections, however many lookups wait', async () => {
    const acceptedBefore = accepted.length;
    const source = new P0fSource({ socket: socketPath, timeoutMs: 400, poolSize: 2, cacheTtlSec: 60 });
    const addresses = Array.from({ length: 8 }, (_, i) => `198.51.100.${i + 1}`);
    const labels = await Promise.all(addresses.map((a) => source.lookup(a)));
    assert.deepEqual(labels, new Array(8).fill(undefined));
    // Client side: never more than poolSize open at once. Server side: the
    // queued lookups did not each open a connection (a timed-out connection is
    // replaced for the next waiter, so a few more than poolSize in total).
    assert.ok(
      accepted.length - acceptedBefore < addresses.length,
      `${accepted.length - acceptedBefore} accepted`,
    );
    assert.equal(source.stats().maxOpenConnections, 2);
    assert.equal(source.stats().failures.timeout, 8);
    await source.close();
  });

  test('gives up at the caller signal when it is shorter than timeoutMs', async () => {
    const source = new P0fSource({ socket: socketPath, timeoutMs: 10_000, poolSize: 1, cacheTtlSec: 60 });
    const label = await source.lookup('192.0.2.2', AbortSignal.timeout(100));
    assert.equal(label, undefined);
    assert.equal(source.stats().failures.aborted, 1);
    await source.close();
  });

  test('leaves no connection open behind a lookup that timed out', async () => {
    // Every accepted socket so far has been closed by the client.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closedByClient, accepted.length);
  });
});

describe('P0fSource when p0f is absent', () => {
  test('answers unknown at once for a socket path that does not exist, then backs off', async () => {
    let now = 1_000_000;
    const source = new P0fSource({
      socket: '/nonexistent/gpp/p0f.sock',
      timeoutMs: 500,
      poolSize: 2,
      cacheTtlSec: 60,
      minBackoffMs: 1000,
      now: () => now,
    });
    assert.equal(await source.lookup('192.0.2.1'), undefined);
    assert.equal(source.stats().failures.unavailable, 1);
    // Within the backoff the socket is not even tried.
    assert.equal(await source.lookup('192.0.2.2'), undefined);
    assert.equal(source.stats().failures.unavailable, 2);
    now += 1001;
    assert.equal(await source.lookup('192.0.2.3'), undefined);
    assert.equal(source.stats().failures.unavailable, 3);
    await source.close();
  });

  test('answers unknown for a client address that is not an IP, without asking p0f', async () => {
    const source = new P0fSource({
      socket: '/nonexistent/p0f.sock',
      timeoutMs: 500,
      poolSize: 1,
      cacheTtlSec: 60,
    });
    assert.equal(await source.lookup('unknown'), undefined);
    assert.equal(source.stats().failures['bad-address'], 1);
    assert.equal(source.stats().failures.unavailable, 0);
    await source.close();
  });
});

// A socket that speaks p0f's API from a script: "no match" first, then a label,
// as p0f does when a lookup overtakes its processing of the client's SYN.
describe('P0fSource when p0f has not processed the SYN yet', () => {
  const answer = (status: 'ok' | 'no-match'): P0fResponse => ({
    status,
    statusCode: status === 'ok' ? 0x10 : 0x20,
    firstSeen: 0,
    lastSeen: 0,
    totalConnections: 1,
    uptimeMinutes: 0,
    uptimeModuloDays: 0,
    lastNat: 0,
    lastOsChange: 0,
    distance: 0,
    badSoftware: 0,
    matchQuality: 0,
    osName: status === 'ok' ? 'Windows' : '',
    osFlavor: status === 'ok' ? 'XP' : '',
    httpName: '',
    httpFlavor: '',
    linkType: '',
    language: '',
  });

  test('asks once more after a first no-match and returns the label', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpp-late-'));
    const socketPath = join(dir, 'late.sock');
    let queries = 0;
    const server = createServer((socket) => {
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= QUERY_LENGTH) {
          pending = pending.subarray(QUERY_LENGTH);
          queries += 1;
          socket.write(serializeResponse(answer(queries === 1 ? 'no-match' : 'ok')));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const source = new P0fSource({ socket: socketPath, timeoutMs: 1000, poolSize: 1, cacheTtlSec: 60 });
    try {
      const label = await source.lookup('192.0.2.50');
      assert.equal(label?.flavor, 'XP');
      assert.equal(queries, 2);
      assert.equal(source.stats().noMatchRetries, 1);
      // With the retry off, one question only.
      const none = new P0fSource({
        socket: socketPath,
        timeoutMs: 1000,
        poolSize: 1,
        cacheTtlSec: 60,
        noMatchRetryMs: 0,
      });
      queries = 0;
      assert.equal(await none.lookup('192.0.2.51'), undefined);
      assert.equal(queries, 1, 'noMatchRetryMs 0 turns the second question off');
      await none.close();
    } finally {
      await source.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
