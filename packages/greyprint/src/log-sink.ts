import { writeSync } from 'node:fs';

export interface LogSinkOptions {
  /** Characters gathered before a write (default 16 KiB: about 35 decision lines). */
  readonly batchChars?: number;
  /** Lines waiting for a reader that does not read are capped here (default 8 Mi characters); past it lines are dropped and counted. */
  readonly maxPendingChars?: number;
  /** How long to wait before trying again when the reader's pipe is full (default 10 ms). */
  readonly retryMs?: number;
  /** Where a sink that lost lines says so, once per loss (default: stderr). */
  readonly warn?: (message: string) => void;
}

/**
 * The destination of the JSON log: a line per decision at the default level,
 * so every line must be cheap. Lines are kept in an array and written with
 * one write(2) per batch of about 16 KiB, synchronously: a write into the page
 * cache or a socket buffer takes microseconds, far less than handing it to the
 * thread pool, and the lines stay in order up to the process's last one.
 *
 * (pino's own asynchronous destination appends each line to one growing
 * string and measures that string's byte length on every write, which copies
 * the whole batch per line: about a third of a request's garbage, and the
 * collector pauses that come with it.)
 *
 * On a non-blocking descriptor, a reader that stops reading (a full pipe:
 * EAGAIN) never blocks the daemon: lines wait and the write is tried again a
 * little later; past maxPendingChars they are dropped and counted. On a
 * blocking descriptor a write waits for the reader, as with any synchronous
 * logger. Any other write error drops the batch. A loss is reported on stderr
 * once per cause; droppedLines has the count.
 */
export class LogSink {
  private lines: string[] = [];
  /** Bytes of an earlier write that a full pipe did not take. */
  private carry: Buffer | undefined;
  /** Characters (and carried bytes) waiting. */
  private chars = 0;
  private dropped = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly batchChars: number;
  private readonly maxPendingChars: number;
  private readonly retryMs: number;
  private readonly warn: (message: string) => void;

  constructor(
    private readonly fd: number,
    options: LogSinkOptions = {},
  ) {
    this.batchChars = options.batchChars ?? 16 * 1024;
    this.maxPendingChars = options.maxPendingChars ?? 8 * 1024 * 1024;
    this.retryMs = options.retryMs ?? 10;
    this.warn = options.warn ?? ((m) => process.stderr.write(`${m}\n`));
  }

  private get pending(): boolean {
    return this.lines.length > 0 || this.carry !== undefined;
  }

  /** Lines dropped so far (reader too slow, or a write error). */
  get droppedLines(): number {
    return this.dropped;
  }

  /** pino's stream interface: one complete line (with its newline) per call. */
  write(line: string): boolean {
    if (this.chars + line.length > this.maxPendingChars) {
      this.drop(1, 'the log reader does not keep up');
      return false;
    }
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.batchChars && this.retryTimer === undefined) this.writeOut();
    return true;
  }

  /** Writes what is gathered (pino's logger.flush() calls this; so does the daemon's flush timer). */
  flush(cb?: (err?: Error) => void): void {
    if (this.retryTimer === undefined && this.pending) this.writeOut();
    cb?.();
  }

  /** At exit: writes everything now, waiting a bounded time for a full pipe. */
  flushSync(): void {
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    for (let attempt = 0; this.pending && attempt < 200; attempt++) {
      if (this.writeOut(true)) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }

  /** One write of every gathered line. Returns true when nothing is left waiting. */
  private writeOut(final = false): boolean {
    const text = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('');
    const fresh = Buffer.from(text, 'utf8');
    const bytes = this.carry === undefined ? fresh : Buffer.concat([this.carry, fresh]);
    this.lines = [];
    this.chars = 0;
    this.carry = undefined;
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(this.fd, bytes, written);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        // The written part is gone from the front; the rest goes first next time (as bytes:
        // the cut may fall inside a character).
        this.carry = bytes.subarray(written);
        this.chars = this.carry.length;
        if (!final) this.retryTimer = setTimeout(this.retry, this.retryMs);
        return false;
      }
      this.drop(countLines(bytes.subarray(written)), `writing the log failed (${code ?? String(err)})`);
    }
    return true;
  }

  private readonly retry = (): void => {
    this.retryTimer = undefined;
    if (this.pending) this.writeOut();
  };

  private drop(lines: number, why: string): void {
    if (this.dropped === 0 || why !== this.lastDropReason) this.warn(`greyprint: log lines dropped: ${why}`);
    this.lastDropReason = why;
    this.dropped += lines;
  }

  private lastDropReason = '';
}

function countLines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return Math.max(1, n);
}
