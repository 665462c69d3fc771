import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from 'opskit/atomic-write';
import { Counter, Gauge, type Registry } from 'prom-client';

/*
 * A daemon the controller owns (dnsmasq now; haproxy, the meta-data server, keepalived later).
 *
 * - One pid file per daemon. Before a start, a stale instance left by a killed controller is
 *   found (the pid file, then every process whose command line carries the daemon's identity,
 *   e.g. its own config file path) and stopped by its PID, so the new one never fights an orphan
 *   for its ports.
 * - A start counts only when the child is still alive after a short grace period: dnsmasq with a
 *   port already taken exits within milliseconds, and that must fail the cycle, not log "started".
 * - A child that dies is recorded (code, signal, the end of its stderr) and reported at the next
 *   `ensureRunning()`, which starts it again and tells the caller it had been down: the caller marks
 *   that cycle failed. Several exits within a window are a crash loop, shown in `health()`.
 */

export interface OwnedProcessLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** prom-client metrics shared by every owned process, labelled by service name. */
export class OwnedProcessMetrics {
  readonly up: Gauge<'service'>;
  readonly starts: Counter<'service'>;
  readonly failures: Counter<'service' | 'reason'>;
  constructor(registry: Registry) {
    this.up = new Gauge({
      name: 'guestrouter_service_up',
      help: 'Whether a daemon guestrouter runs (dnsmasq, ...) is running (1) or down (0)',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.starts = new Counter({
      name: 'guestrouter_service_starts_total',
      help: 'Starts of a daemon guestrouter runs that stayed up past the start grace period',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'guestrouter_service_failures_total',
      help: 'Failures of a daemon guestrouter runs, by reason (start-failed, exited, stale-stopped)',
      labelNames: ['service', 'reason'] as const,
      registers: [registry],
    });
  }
}

export interface OwnedProcessOptions {
  /** Short service name: logs, metrics label, state.json key (`dnsmasq`). */
  readonly name: string;
  /** Program and arguments (already wrapped by `ip netns exec` when needed). */
  readonly command: string;
  readonly args: readonly string[];
  /** Where the controller records the child's PID. */
  readonly pidFile: string;
  /**
   * Arguments that identify this instance and no other (typically `--conf-file=<path under the
   * state dir>`): a process is taken for a stale instance only when its command line holds every
   * one of them, so a PID reused by something else, or the same daemon run by someone else, is
   * never touched.
   */
  readonly identity: readonly string[];
  readonly logger: OwnedProcessLogger;
  readonly metrics?: OwnedProcessMetrics;
  /** How long a fresh child must stay alive to count as started (default 400 ms). */
  readonly startGraceMs?: number;
  /** SIGTERM, then SIGKILL after this long (default 5000 ms). */
  readonly stopTimeoutMs?: number;
  /** This many exits within `crashWindowMs` is a crash loop (defaults 3 in 10 minutes). */
  readonly crashLoopExits?: number;
  readonly crashWindowMs?: number;
  /** For tests: where /proc is. */
  readonly procDir?: string;
  /**
   * Also look through every process for the identity when the pid file names none (default true).
   * A family of instances (one per network) sets it false and reaps once with reapByArgumentPrefix.
   */
  readonly scanProcesses?: boolean;
}

export interface ProcessExit {
  readonly at: string;
  readonly code: number | null;
  readonly signal: string | null;
  /** The end of what the daemon wrote to stderr (its reason, e.g. "Address already in use"). */
  readonly stderr: string;
}

export interface OwnedProcessHealth {
  readonly name: string;
  readonly state: 'running' | 'stopped' | 'failed';
  readonly pid?: number;
  readonly since?: string;
  /** Exits within the crash window. */
  readonly recentExits: number;
  readonly crashLoop: boolean;
  readonly lastExit?: ProcessExit;
  /** Why the last start failed, while the state is `failed`. */
  readonly error?: string;
}

/** A daemon did not start, or died during its start grace period. */
export class ServiceStartError extends Error {
  readonly code = 'SERVICE_START_FAILED';
  constructor(
    readonly service: string,
    detail: string,
  ) {
    super(`${service} did not start: ${detail}`);
    this.name = 'ServiceStartError';
  }
}

export type EnsureResult =
  /** It was running and still is. */
  | { readonly action: 'running'; readonly pid: number }
  /** It was not running (first start or after a stop); now it is. */
  | { readonly action: 'started'; readonly pid: number }
  /** It had died since the last check; it was started again. The caller should fail this cycle. */
  | { readonly action: 'restarted'; readonly pid: number; readonly exit: ProcessExit };

export class OwnedProcess {
  private child: ChildProcess | undefined;
  private closed: Promise<void> | undefined;
  private stderrTail = '';
  private startedAt: string | undefined;
  private exits: { at: number; exit: ProcessExit }[] = [];
  /** Set when the child died unasked; cleared by the next ensureRunning. */
  private unreportedExit: ProcessExit | undefined;
  private startError: string | undefined;
  /** True during the start grace period: an exit then is a start failure, reported by start(). */
  private starting = false;
  private readonly graceMs: number;
  private readonly stopTimeoutMs: number;
  private readonly procDir: string;

  constructor(private readonly options: OwnedProcessOptions) {
    this.graceMs = options.startGraceMs ?? 400;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 5000;
    this.procDir = options.procDir ?? '/proc';
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Sends a signal to the running child (reload: SIGHUP); false when it is not running. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running) return false;
    return this.child?.kill(signal) ?? false;
  }

  /**
   * Makes sure the daemon runs: starts it when it is not running (stopping a stale instance
   * first). Throws ServiceStartError when it cannot be started.
   */
  async ensureRunning(): Promise<EnsureResult> {
    const died = this.unreportedExit;
    this.unreportedExit = undefined;
    if (this.running && this.child?.pid !== undefined) return { action: 'running', pid: this.child.pid };
    const pid = await this.start();
    return died ? { action: 'restarted', pid, exit: died } : { action: 'started', pid };
  }

  /** Starts the daemon (after stopping any stale instance); resolves with its PID. */
  async start(): Promise<number> {
    if (this.running && this.child?.pid !== undefined) return this.child.pid;
    await this.reapStale();
    const { name, command, args, logger } = this.options;
    const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.onClose(child, code, signal);
        resolve();
      });
    });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned !== undefined) {
      this.child = undefined;
      return this.failStart(`cannot run ${command}: ${spawned.message}`);
    }
    // A daemon that cannot bind its ports exits at once: wait a little before calling it started.
    this.starting = true;
    const deadline = sleep(this.graceMs).then(() => 'alive' as const);
    const outcome = await Promise.race([deadline, this.closed.then(() => 'exited' as const)]);
    this.starting = false;
    if (outcome === 'exited') {
      const exit = this.exits.at(-1)?.exit;
      return this.failStart(
        `exited during start (${describeExit(exit)})${exit?.stderr ? `: ${exit.stderr}` : ''}`,
      );
    }
    const pid = child.pid as number;
    await writeAtomically(this.options.pidFile, `${pid}\n`);
    this.startedAt = new Date().toISOString();
    this.startError = undefined;
    this.options.metrics?.starts.inc({ service: name });
    this.options.metrics?.up.set({ service: name }, 1);
    logger.info({ event: 'service-start', service: name, pid }, `${name} started`);
    return pid;
  }

  /** Stops the daemon by its PID: SIGTERM, SIGKILL after the stop timeout. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.startedAt = undefined;
    this.options.metrics?.up.set({ service: this.options.name }, 0);
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), this.stopTimeoutMs);
      child.kill('SIGTERM');
      await this.closed;
      clearTimeout(timer);
    }
    await rm(this.options.pidFile, { force: true });
  }

  health(now = Date.now()): OwnedProcessHealth {
    const recent = this.recentExits(now);
    const crashLoop = recent >= (this.options.crashLoopExits ?? 3);
    const lastExit = this.exits.at(-1)?.exit;
    const base = {
      name: this.options.name,
      recentExits: recent,
      crashLoop,
      ...(lastExit ? { lastExit } : {}),
    };
    if (this.running) {
      return {
        ...base,
        state: 'running',
        ...(this.child?.pid ? { pid: this.child.pid } : {}),
        ...(this.startedAt ? { since: this.startedAt } : {}),
      };
    }
    if (this.startError !== undefined || this.unreportedExit !== undefined) {
      return { ...base, state: 'failed', ...(this.startError ? { error: this.startError } : {}) };
    }
    return { ...base, state: 'stopped' };
  }

  private recentExits(now: number): number {
    const window = this.options.crashWindowMs ?? 10 * 60_000;
    this.exits = this.exits.filter((e) => now - e.at <= window).slice(-20);
    return this.exits.length;
  }

  private failStart(detail: string): never {
    const { name, logger, metrics } = this.options;
    const error = new ServiceStartError(name, detail);
    this.startError = error.message;
    metrics?.failures.inc({ service: name, reason: 'start-failed' });
    metrics?.up.set({ service: name }, 0);
    logger.error({ event: 'service-start', service: name, err: error.message }, `${name} did not start`);
    throw error;
  }

  private onClose(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return; // stopped on purpose
    this.child = undefined;
    this.startedAt = undefined;
    const { name, logger, metrics } = this.options;
    const exit: ProcessExit = {
      at: new Date().toISOString(),
      code,
      signal,
      stderr: this.stderrTail.trim().slice(-500),
    };
    this.exits.push({ at: Date.now(), exit });
    if (this.starting) return; // start() reports it as a failed start
    this.unreportedExit = exit;
    metrics?.failures.inc({ service: name, reason: 'exited' });
    metrics?.up.set({ service: name }, 0);
    logger.error(
      { event: 'service-exit', service: name, pid: child.pid, ...exit },
      `${name} exited; it is started again at the next reconcile`,
    );
  }

  /**
   * Finds instances a killed controller left behind and stops them by PID: the pid file's PID
   * when its command line carries the identity, then (unless `scanProcesses` is false) every
   * process whose command line does.
   */
  async reapStale(): Promise<void> {
    const candidates = new Set<number>();
    const recorded = Number.parseInt(await readFile(this.options.pidFile, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(recorded) && recorded > 0) candidates.add(recorded);
    // The pid file may be gone or stale while the orphan still runs: look for the identity too.
    if (this.options.scanProcesses !== false)
      for (const pid of await listPids(this.procDir)) candidates.add(pid);
    const { name, logger, metrics } = this.options;
    for (const pid of candidates) {
      if (pid === process.pid) continue;
      const argv = await commandLine(this.procDir, pid);
      if (argv === undefined || !this.matches(argv)) continue;
      metrics?.failures.inc({ service: name, reason: 'stale-stopped' });
      await stopStaleProcess(pid, argv, name, logger, this.procDir, this.stopTimeoutMs);
    }
    await rm(this.options.pidFile, { force: true });
  }

  private matches(argv: readonly string[]): boolean {
    return this.options.identity.length > 0 && this.options.identity.every((id) => argv.includes(id));
  }
}

/**
 * One /proc scan for a whole family of daemons (one per network, say): stops by PID every process
 * with an argument starting with `argPrefix` (e.g. `--conf-file=/var/lib/guestrouter/dhcp/`).
 * Resolves with how many were stopped.
 */
export async function reapByArgumentPrefix(
  argPrefix: string,
  name: string,
  logger: OwnedProcessLogger,
  procDir = '/proc',
  stopTimeoutMs = 5000,
): Promise<number> {
  let stopped = 0;
  for (const pid of await listPids(procDir)) {
    if (pid === process.pid) continue;
    const argv = await commandLine(procDir, pid);
    if (argv === undefined || !argv.some((a) => a.startsWith(argPrefix))) continue;
    await stopStaleProcess(pid, argv, name, logger, procDir, stopTimeoutMs);
    stopped++;
  }
  return stopped;
}

async function listPids(procDir: string): Promise<number[]> {
  const entries = await readdir(procDir).catch(() => [] as string[]);
  return entries.filter((e) => /^\d+$/.test(e)).map(Number);
}

async function commandLine(procDir: string, pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`${procDir}/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (!raw) return undefined; // gone, or a kernel thread / zombie
  return raw.split('\0').filter((a) => a !== '');
}

async function stopStaleProcess(
  pid: number,
  argv: readonly string[],
  name: string,
  logger: OwnedProcessLogger,
  procDir: string,
  stopTimeoutMs: number,
): Promise<void> {
  logger.warn(
    { event: 'service-stale', service: name, pid, cmdline: argv.join(' ').slice(0, 300) },
    `stopping a stale ${name} left by an earlier run`,
  );
  if (!signalPid(pid, 'SIGTERM')) return;
  const deadline = Date.now() + stopTimeoutMs;
  while (Date.now() < deadline) {
    if (!(await alive(procDir, pid))) return;
    await sleep(50);
  }
  signalPid(pid, 'SIGKILL');
  while (await alive(procDir, pid)) await sleep(50);
}

/** Alive and not a zombie (an orphan's zombie waits for init, it holds no port). */
async function alive(procDir: string, pid: number): Promise<boolean> {
  const stat = await readFile(`${procDir}/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

function describeExit(exit: ProcessExit | undefined): string {
  if (exit === undefined) return 'unknown exit';
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** Atomic replace (opskit): a reader never sees half a pid file, nor a crash an empty one. */
async function writeAtomically(file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  writeFileAtomic(file, content);
}
