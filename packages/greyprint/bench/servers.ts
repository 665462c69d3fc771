// Starting and stopping the daemons the benchmark compares. Each runs as a
// child of this process, in the foreground, and is stopped by its PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until something accepts connections on the port, or the child exits, or the deadline passes. */
export async function waitForPort(
  port: number,
  child: ChildProcess,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${what} exited (${child.exitCode ?? child.signalCode}) before listening on port ${port}`,
      );
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function captureStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-4000);
  });
  return () => text;
}

async function startChild(
  name: string,
  command: string,
  args: string[],
  port: number,
  cleanup: () => void,
): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = captureStderr(child);
  try {
    await waitForPort(port, child, name);
  } catch (err) {
    await stopChild(child);
    cleanup();
    throw new Error(`${(err as Error).message}\n${name} stderr:\n${stderr()}`);
  }
  return {
    name,
    port,
    pid: child.pid as number,
    stop: async () => {
      await stopChild(child);
      cleanup();
    },
  };
}

/**
 * postgrey 1.37 (Debian) in the foreground: Net::Server::Multiplex, one
 * process, so the child's PID is the server's. It drops privileges to the
 * `postgrey` user, so its fresh --dbdir is handed to that user first. Without
 * --daemonize it writes no pid file and logs to stderr; --quiet keeps the
 * per-request log lines out of the measurement.
 */
export async function startPostgrey(delay = 300): Promise<RunningServer> {
  const dbdir = mkdtempSync(join(tmpdir(), 'gps-postgrey-'));
  const { uid, gid } = postgreyIds();
  chownSync(dbdir, uid, gid);
  const port = await freePort();
  return startChild(
    'postgrey',
    '/usr/sbin/postgrey',
    [
      `--inet=127.0.0.1:${port}`,
      `--dbdir=${dbdir}`,
      `--delay=${delay}`,
      '--user=postgrey',
      '--group=postgrey',
      '--quiet',
    ],
    port,
    () => rmSync(dbdir, { recursive: true, force: true }),
  );
}

function postgreyIds(): { uid: number; gid: number } {
  // /etc/passwd is the source of truth for the Debian package's system user.
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgrey:'));
  const fields = line?.split(':');
  if (fields === undefined || fields.length < 4) {
    throw new Error('user postgrey does not exist: install the Debian package postgrey');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** The trivial DUNNO server, to measure the load generator's own ceiling. */
export async function startEchoServer(): Promise<RunningServer> {
  const port = await freePort();
  return startChild(
    'echo',
    process.execPath,
    ['--import', 'tsx', join(packageDir, 'bench', 'echo-server.ts'), String(port)],
    port,
    () => {},
  );
}

/**
 * greyprint `serve` with every client pinned as Windows XP, so every new
 * triplet is greylisted and written, as postgrey writes every new triplet.
 */
export async function startGreyprint(delay = 300): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gps-greyprint-'));
  const port = await freePort();
  const cli = join(packageDir, 'src', 'cli.ts');
  return startChild(
    'greyprint',
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--db',
      join(dir, 'greylist.sqlite'),
      '--delay',
      String(delay),
      '--os-static',
      '0.0.0.0/0=Windows XP',
      '--log-level',
      'warn',
    ],
    port,
    () => rmSync(dir, { recursive: true, force: true }),
  );
}
