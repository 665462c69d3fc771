import { type ChildProcess, spawn } from 'node:child_process';
import { type FrameSkip, type PcapFrame, PcapStreamReader } from '../fingerprint/index.js';

/** The subset of a pino logger the capture uses. */
export interface CaptureLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface CaptureHelperOptions {
  /** The program writing a pcap stream to stdout (default tcpdump) and its arguments. */
  readonly command: string;
  readonly args: readonly string[];
  readonly onFrame: (frame: PcapFrame) => void;
  readonly onSkip: (reason: FrameSkip | 'truncated_record') => void;
  readonly logger: CaptureLogger;
  /** First pause before restarting a helper that died, doubling per failure (default 500 ms) ... */
  readonly minBackoffMs?: number;
  /** ... up to this (default 30 s). */
  readonly maxBackoffMs?: number;
  /** A helper that ran this long before dying restarts after the shortest pause (default 10 s). */
  readonly stableAfterMs?: number;
}

export interface CaptureHelperStats {
  /** 1 while a helper runs and its pcap header has arrived. */
  up: number;
  starts: number;
  /** Helper exits (crashes, kills, bad output) that were followed by a restart. */
  restarts: number;
  pid: number | undefined;
}

/**
 * Runs the capture helper (a process that holds CAP_NET_RAW and writes pcap to
 * its stdout) and restarts it with a growing pause whenever it stops. Its
 * output is read as events: nothing here ever waits on the helper, so the
 * daemon answers the same whether capture runs, stalls or is gone. Stops and
 * recoveries are logged once per change of state.
 */
export class CaptureHelper {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private closed = false;
  private failing = false;
  private startedAt = 0;
  private stderrTail = '';
  readonly counters: CaptureHelperStats = { up: 0, starts: 0, restarts: 0, pid: undefined };

  constructor(private readonly o: CaptureHelperOptions) {
    this.backoffMs = o.minBackoffMs ?? 500;
  }

  start(): void {
    if (this.closed || this.child !== undefined) return;
    this.counters.starts++;
    this.startedAt = Date.now();
    this.stderrTail = '';
    let child: ChildProcess;
    try {
      child = spawn(this.o.command, [...this.o.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.stopped(`cannot start ${this.o.command}: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.counters.pid = child.pid;
    const reader = new PcapStreamReader(this.o.onFrame, this.o.onSkip);
    child.stdout?.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        // Not pcap (a wrong helper command): stop it; the exit handler restarts.
        this.o.logger.warn(
          { event: 'capture_bad_output', err: (err as Error).message },
          'capture helper output is not pcap',
        );
        child.kill('SIGKILL');
        return;
      }
      if (this.counters.up === 0 && reader.pcapHeader !== undefined) {
        this.counters.up = 1;
        this.backoffMs = this.o.minBackoffMs ?? 500;
        if (this.failing || this.counters.starts === 1) {
          this.o.logger.info(
            {
              event: 'capture_running',
              pid: child.pid,
              link_type: reader.pcapHeader.linkType,
              restarts: this.counters.restarts,
            },
            'capture running',
          );
        }
        this.failing = false;
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-500);
    });
    child.on('error', (err) => {
      // spawn failures (ENOENT, EACCES) arrive here; exit may not follow.
      if (this.child === child) {
        this.child = undefined;
        this.stopped(`cannot start ${this.o.command}: ${err.message}`);
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.stopped(signal !== null ? `killed by ${signal}` : `exited with status ${code}`);
    });
  }

  private stopped(why: string): void {
    this.counters.up = 0;
    this.counters.pid = undefined;
    if (this.closed) return;
    if (Date.now() - this.startedAt > (this.o.stableAfterMs ?? 10_000))
      this.backoffMs = this.o.minBackoffMs ?? 500;
    if (!this.failing) {
      this.failing = true;
      this.o.logger.warn(
        {
          event: 'capture_stopped',
          why,
          stderr: this.stderrTail.trim() || undefined,
          retry_ms: this.backoffMs,
        },
        'capture stopped; OS from capture unknown until it runs again',
      );
    }
    this.counters.restarts++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, this.backoffMs);
    this.timer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.maxBackoffMs ?? 30_000);
  }

  get running(): boolean {
    return this.counters.up === 1;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const child = this.child;
    this.child = undefined;
    this.counters.up = 0;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
