import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** stdout as the child wrote it, for byte-exact comparisons (binary output). */
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

export interface RunCliOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string | Uint8Array;
  readonly cwd?: string;
  /** Killed with SIGKILL after this long; the result then has signal SIGKILL. Default 30 s. */
  readonly timeoutMs?: number;
  /** A file opened as standard input instead of `input` (the child reads it directly: seekable). */
  readonly stdinFile?: string;
  /** Run as this user and group (the caller must be root). */
  readonly uid?: number;
  readonly gid?: number;
}

/** Runs a command to completion and collects its output; never throws for a non-zero exit. */
export function runCli(
  command: string,
  args: readonly string[],
  options: RunCliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const stdinFd = options.stdinFile === undefined ? undefined : openSync(options.stdinFile, 'r');
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [stdinFd ?? 'pipe', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    if (stdinFd !== undefined) closeSync(stdinFd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** A TCP port free on `host` right now (the kernel's pick). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Children a test started, stopped by PID in `cleanup()` (call it from
 * `after`), also when the test failed halfway.
 */
export class ChildReaper {
  private readonly children = new Set<ChildProcess>();

  track<C extends ChildProcess>(child: C): C {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async cleanup(graceMs = 2_000): Promise<void> {
    await Promise.all([...this.children].map((child) => stopChild(child, graceMs)));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface WaitForListeningOptions {
  /** Named in the error (default: the address). */
  readonly what?: string;
  /** Default 20 s. */
  readonly timeoutMs?: number;
  /** Pause between tries (default 50 ms). */
  readonly intervalMs?: number;
}

function connectTo(address: string): Socket {
  if (address.startsWith('unix:')) return connect(address.slice('unix:'.length));
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return connect({ host, port: Number(address.slice(colon + 1)) });
}

/**
 * Resolves once something accepts a connection at `address` (`HOST:PORT`, `[V6]:PORT` or
 * `unix:/PATH`); rejects when `child` (the server that should listen) exits first, or when the
 * time is up. A test starts a real server, then waits here before using it.
 */
export async function waitForListening(
  address: string,
  child?: ChildProcess,
  options: WaitForListeningOptions = {},
): Promise<void> {
  const what = options.what ?? address;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `${what} exited (${child.exitCode ?? child.signalCode}) before listening on ${address}`,
      );
    }
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connectTo(address);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() >= deadline)
      throw new Error(`${what} did not listen on ${address} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
