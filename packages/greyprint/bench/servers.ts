// Starting and stopping the daemons the benchmark compares. Each runs as a
// child of this process, in the foreground, and is stopped by its PID.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  stopChild as stopChildByPid,
  waitForListening as waitForListeningAt,
} from 'opskit/testing';

export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningServer {
  readonly name: string;
  /** Where it listens, as the load generator takes it: `127.0.0.1:PORT` or `unix:/PATH`. */
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export type Transport = 'tcp' | 'unix';

// The shared test plumbing (opskit): a free loopback port, and a child stopped by PID.
export { freePort };

/** SIGTERM, then SIGKILL after a grace period (5 s: postgrey syncs its database on the way out). */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return stopChildByPid(child, graceMs);
}

/** A fresh listening address in `dir` for the transport: a free loopback port or a socket path. */
async function addressIn(dir: string, transport: Transport): Promise<string> {
  return transport === 'unix' ? `unix:${join(dir, 'policy.sock')}` : `127.0.0.1:${await freePort()}`;
}

/** Polls until something accepts connections at the address, or the child exits, or the deadline passes (opskit). */
export function waitForListening(
  address: string,
  child: ChildProcess,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  return waitForListeningAt(address, child, { what, timeoutMs });
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
  address: string,
  cleanup: () => void,
  /** A file for the child's stderr (a log the bench keeps, as a service manager would); else captured for errors. */
  logFile?: { fd: number; path: string },
): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', logFile?.fd ?? 'pipe'] });
  const stderr =
    logFile === undefined ? captureStderr(child) : () => readFileSync(logFile.path, 'utf8').slice(-4000);
  try {
    await waitForListening(address, child, name);
  } catch (err) {
    await stopChild(child);
    cleanup();
    throw new Error(`${(err as Error).message}\n${name} stderr:\n${stderr()}`);
  }
  return {
    name,
    address,
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
 * `postgrey` user, so its fresh --dbdir is handed to that user first (a unix
 * socket is bound before that, as root). Without --daemonize it writes no pid
 * file and logs to stderr; --quiet keeps the per-request log lines out of the
 * measurement.
 */
export async function startPostgrey(delay: number, transport: Transport): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gps-postgrey-'));
  // postgrey, once it runs as its own user, must reach its database through this directory
  chmodSync(dir, 0o755);
  const dbdir = join(dir, 'db');
  mkdirSync(dbdir);
  const { uid, gid } = postgreyIds();
  chownSync(dbdir, uid, gid);
  const address = await addressIn(dir, transport);
  const listen = address.startsWith('unix:') ? `--unix=${address.slice(5)}` : `--inet=${address}`;
  return startChild(
    'postgrey',
    '/usr/sbin/postgrey',
    [listen, `--dbdir=${dbdir}`, `--delay=${delay}`, '--user=postgrey', '--group=postgrey', '--quiet'],
    address,
    () => rmSync(dir, { recursive: true, force: true }),
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
export async function startEchoServer(transport: Transport): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gps-echo-'));
  const address = await addressIn(dir, transport);
  return startChild(
    'echo',
    process.execPath,
    [
      '--import',
      'tsx',
      join(packageDir, 'bench', 'echo-server.ts'),
      address.startsWith('unix:') ? address : address.slice(address.lastIndexOf(':') + 1),
    ],
    address,
    () => rmSync(dir, { recursive: true, force: true }),
  );
}

export type BenchLogLevel = 'info' | 'warn';

/**
 * greyprint `serve` from the compiled CLI (dist/, as installed; build first), with every client
 * pinned as Windows XP, so every new triplet is greylisted and written, as postgrey writes every
 * new triplet. `info` is the documented default (one JSON line per decision, on stderr), written
 * to a file as a service manager would; `warn` logs faults only.
 */
export async function startGreyprint(
  delay: number,
  transport: Transport,
  logLevel: BenchLogLevel,
): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gps-greyprint-'));
  const address = await addressIn(dir, transport);
  const logPath = join(dir, 'greyprint.log');
  const log = openSync(logPath, 'w');
  try {
    return await startChild(
      'greyprint',
      process.execPath,
      [
        join(packageDir, 'dist', 'cli.js'),
        'serve',
        '--listen',
        address,
        '--db',
        join(dir, 'greylist.sqlite'),
        '--delay',
        String(delay),
        '--os-static',
        '0.0.0.0/0=Windows XP',
        '--log-level',
        logLevel,
      ],
      address,
      () => rmSync(dir, { recursive: true, force: true }),
      { fd: log, path: logPath },
    );
  } finally {
    // the child holds its own copy of the descriptor
    closeSync(log);
  }
}
