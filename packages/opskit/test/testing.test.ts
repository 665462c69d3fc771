import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort, stopChild, waitForListening } from '../src/testing.js';

describe('waitForListening', () => {
  test('resolves once a TCP server listens, also when it starts listening after the first try', async () => {
    const port = await freePort();
    const server = createServer();
    const late = setTimeout(() => server.listen(port, '127.0.0.1'), 150);
    try {
      await waitForListening(`127.0.0.1:${port}`, undefined, { timeoutMs: 5_000, intervalMs: 20 });
      assert.ok(server.listening);
    } finally {
      clearTimeout(late);
      server.close();
    }
  });

  test('resolves for a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opskit-wait-'));
    const path = join(dir, 's.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await waitForListening(`unix:${path}`, undefined, { timeoutMs: 2_000 });
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rejects naming the server when the child exits before it listens', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    await assert.rejects(
      waitForListening(`127.0.0.1:${port}`, child, { what: 'the daemon', timeoutMs: 10_000 }),
      /the daemon exited \(3\) before listening on 127\.0\.0\.1:\d+/,
    );
  });

  test('rejects when nothing listens within the time', async () => {
    const port = await freePort();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await assert.rejects(
        waitForListening(`127.0.0.1:${port}`, child, { timeoutMs: 200, intervalMs: 20 }),
        /did not listen on 127\.0\.0\.1:\d+ within 200 ms/,
      );
    } finally {
      await stopChild(child);
    }
  });
});
