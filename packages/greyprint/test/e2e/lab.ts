/**
 * A small network of namespaces for the p0f, end-to-end and demo runs:
 *
 *   server ns  (bridge gpp<id>br, 10.77.0.1/24, fd77::1/64): p0f, Postfix, greyprint
 *   windows ns (10.77.0.10 looks like Windows XP, 10.77.0.11 like Windows 7 or 8,
 *               10.77.0.12 like the generic Windows NT kernel)
 *   linux ns   (10.77.0.20 and fd77::20: a plain Linux stack)
 *
 * The Windows look comes from the real Linux TCP stack, shaped (measured with
 * p0f 3.09b): TTL 128, no timestamps, no window scaling (namespace sysctls),
 * and per-route `window` + `advmss`. Linux rounds the initial window down to
 * a multiple of the MSS, so the MSS is chosen to divide the window exactly:
 * window 16384 with MSS 1024 gives `mss*16,0:mss,nop,nop,sok` = p0f's
 * `Windows XP`; window 8192 with MSS 1024 gives `Windows 7 or 8`. Source
 * routing (`ip rule from ADDR`) gives each client address its own shape.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stopChild as stopChildByPid } from 'opskit/testing';

const execFileAsync = promisify(execFile);

export const SERVER_IP = '10.77.0.1';
export const SERVER_IP6 = 'fd77::1';
export const CLIENT_XP = '10.77.0.10';
export const CLIENT_SEVEN = '10.77.0.11';
/** Shaped by sysctls only (MSS 1460, window 64240): p0f's generic `Windows NT kernel`. */
export const CLIENT_NT = '10.77.0.12';
export const CLIENT_LINUX = '10.77.0.20';
export const CLIENT_LINUX6 = 'fd77::20';

export async function sh(command: string, args: readonly string[], input?: string): Promise<string> {
  const child = execFileAsync(command, args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

export function inNs(ns: string, command: string, args: readonly string[]): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, command, ...args]);
}

async function ipBatch(ns: string | undefined, lines: readonly string[]): Promise<void> {
  await sh('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], `${lines.join('\n')}\n`);
}

export interface Lab {
  readonly id: string;
  readonly dir: string;
  readonly serverNs: string;
  readonly windowsNs: string;
  readonly linuxNs: string;
  /** The bridge in the server namespace: p0f listens here. */
  readonly serverIface: string;
  destroy(): Promise<void>;
}

export async function createLab(prefix = 'gpp'): Promise<Lab> {
  const id = `${prefix}${process.pid.toString(36).slice(-4)}${Math.floor(Math.random() * 36 ** 2)
    .toString(36)
    .padStart(2, '0')}`;
  const dir = mkdtempSync(join(tmpdir(), `${id}-`));
  const serverNs = `${id}s`;
  const windowsNs = `${id}w`;
  const linuxNs = `${id}l`;
  const br = `${id}br`;
  const lab: Lab = {
    id,
    dir,
    serverNs,
    windowsNs,
    linuxNs,
    serverIface: br,
    async destroy() {
      for (const ns of [windowsNs, linuxNs, serverNs]) {
        await sh('ip', ['netns', 'delete', ns]).catch(() => {});
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await ipBatch(undefined, [
      `netns add ${serverNs}`,
      `netns add ${windowsNs}`,
      `netns add ${linuxNs}`,
      `link add ${id}w0 type veth peer name ${id}wp`,
      `link add ${id}l0 type veth peer name ${id}lp`,
      `link set ${id}w0 netns ${windowsNs}`,
      `link set ${id}l0 netns ${linuxNs}`,
      `link set ${id}wp netns ${serverNs}`,
      `link set ${id}lp netns ${serverNs}`,
    ]);
    await ipBatch(serverNs, [
      `link add ${br} type bridge`,
      `link set ${id}wp master ${br}`,
      `link set ${id}lp master ${br}`,
      `addr add ${SERVER_IP}/24 dev ${br}`,
      `addr add ${SERVER_IP6}/64 dev ${br} nodad`,
      `link set lo up`,
      `link set ${br} up`,
      `link set ${id}wp up`,
      `link set ${id}lp up`,
    ]);
    await ipBatch(windowsNs, [
      `link set lo up`,
      `addr add ${CLIENT_XP}/24 dev ${id}w0`,
      `addr add ${CLIENT_SEVEN}/24 dev ${id}w0`,
      `addr add ${CLIENT_NT}/24 dev ${id}w0`,
      `link set ${id}w0 up`,
    ]);
    await ipBatch(linuxNs, [
      `link set lo up`,
      `addr add ${CLIENT_LINUX}/24 dev ${id}l0`,
      `addr add ${CLIENT_LINUX6}/64 dev ${id}l0 nodad`,
      `link set ${id}l0 up`,
    ]);
    // The Windows namespace: what Windows' stack does and Linux' does not by default.
    // Written through /proc (per namespace) rather than sysctl(8), which procps may not provide.
    await inNs(windowsNs, 'sh', [
      '-c',
      'echo 128 > /proc/sys/net/ipv4/ip_default_ttl && ' +
        'echo 0 > /proc/sys/net/ipv4/tcp_timestamps && ' +
        'echo 0 > /proc/sys/net/ipv4/tcp_window_scaling',
    ]);
    await ipBatch(windowsNs, [
      `route replace 10.77.0.0/24 dev ${id}w0 src ${CLIENT_XP} window 16384 advmss 1024`,
      `rule add from ${CLIENT_SEVEN} lookup 111 pref 100`,
      `route replace 10.77.0.0/24 dev ${id}w0 src ${CLIENT_SEVEN} window 8192 advmss 1024 table 111`,
      `rule add from ${CLIENT_NT} lookup 112 pref 101`,
      `route replace 10.77.0.0/24 dev ${id}w0 src ${CLIENT_NT} table 112`,
    ]);
    return lab;
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}

/** Opens a TCP connection from `source` (bound) to the server, so p0f sees the SYN; a refused port is fine. */
export async function sendSyn(ns: string, source: string, port = 9): Promise<void> {
  const destination = source.includes(':') ? `[${SERVER_IP6}]` : SERVER_IP;
  await inNs(ns, 'curl', [
    '-s',
    '-g',
    '-o',
    '/dev/null',
    '--max-time',
    '2',
    '--interface',
    source,
    `http://${destination}:${port}/`,
  ]).catch(() => {});
}

export interface P0fProcess {
  readonly pid: number;
  readonly socket: string;
  readonly logFile: string;
  /** Seconds of CPU p0f used so far (user + system), from /proc. */
  cpuSeconds(): number;
  /** Open file descriptors that are sockets (pcap, API listener, API clients). */
  socketCount(): number;
  stop(): Promise<void>;
}

function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

/** SIGTERM, SIGKILL after 3 s (opskit's helper); `SIGKILL` at once for a child that need not stop cleanly. */
export function stopChild(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  return stopChildByPid(child, signal === 'SIGKILL' ? 0 : 3000);
}

/**
 * Starts p0f on the server's bridge (`ip netns exec` execs p0f itself, so the
 * child's PID is p0f's). Resolves once the API socket accepts queries.
 */
export async function startP0f(
  lab: Lab,
  options: { maxApiConnections?: number; name?: string } = {},
): Promise<P0fProcess> {
  const name = options.name ?? 'p0f';
  const socket = join(lab.dir, `${name}.sock`);
  const logFile = join(lab.dir, `${name}.log`);
  rmSync(socket, { force: true });
  writeFileSync(logFile, '', { flag: 'a' });
  const args = ['netns', 'exec', lab.serverNs, 'p0f', '-i', lab.serverIface, '-s', socket, '-o', logFile];
  if (options.maxApiConnections) args.push('-S', String(options.maxApiConnections));
  const child = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('p0f did not start');
  try {
    await waitFor(() => existsSync(socket) || child.exitCode !== null, 10_000, 'p0f API socket');
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
  if (child.exitCode !== null) throw new Error(`p0f exited at start: ${stderr.slice(-500)}`);
  return {
    pid,
    socket,
    logFile,
    cpuSeconds() {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    socketCount() {
      const fds = readdirSync(`/proc/${pid}/fd`);
      return fds.filter((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
        } catch {
          return false;
        }
      }).length;
    },
    stop: () => stopChild(child),
  };
}
