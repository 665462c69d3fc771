/**
 * A throwaway redis-server for store tests: loopback, a free port, no
 * persistence, its own working directory; stopped by PID.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, waitForListening } from 'opskit/testing';
import { freeTcpPort } from './postfix.js';

export interface RedisServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** @param fixedPort restart on a port used before (a Redis coming back), else a free one. */
export async function startRedis(fixedPort?: number): Promise<RedisServer> {
  const port = fixedPort ?? (await freeTcpPort());
  const dir = mkdtempSync(join(tmpdir(), 'gps-redis-'));
  const child = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stop = async () => {
    await stopChild(child, 5000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForListening(`127.0.0.1:${port}`, child, { what: 'redis-server', timeoutMs: 10_000 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}/0`, pid: child.pid as number, stop };
}
