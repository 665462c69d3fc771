import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { P0fSource } from '../../src/os/p0f/index.js';

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
