import { isatty } from 'node:tty';
import { createLogger as createContractLogger, type LogLevel, resolveLogFormat } from 'opskit/log';
import type { DestinationStream, Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { nonBlockingLogFd } from './log-fd.js';
import { LogSink } from './log-sink.js';

export type LogFormat = 'json' | 'pretty';

/** How often buffered log lines are written out at the latest. */
const FLUSH_INTERVAL_MS = 200;

/** The log fd of the operator contract: stderr, so stdout stays the command's own output. */
export const LOG_FD = 2;

const sinks = new WeakMap<Logger, LogSink>();

/** The sink behind a logger made by createLogger (for the dropped-lines metric). */
export function logSinkOf(logger: Logger): LogSink | undefined {
  return sinks.get(logger);
}

/**
 * The contract's logger (opskit: `time` ISO 8601, `level` a word, `name`), on stderr, with
 * greyprint's own destination: a LogSink that gathers lines into writes of about 16 KiB (one
 * decision line per request must not cost a write(2) each), flushed every 200 ms and at exit.
 * In both formats the sink writes to a non-blocking descriptor (see log-fd.ts), so a reader
 * that stops reading costs dropped, counted lines, never a stalled daemon. `format` absent:
 * pretty when the descriptor is a terminal, JSON lines otherwise.
 */
export function createLogger(level: string, format: LogFormat | undefined, fd = LOG_FD): Logger {
  const pretty = resolveLogFormat(format, isatty(fd)) === 'pretty';
  // pino-pretty's formatter only: its own stream writes synchronously and, on a full pipe,
  // retries in a loop that never returns to the event loop.
  const prettify = pretty ? prettyFactory({ colorize: isatty(fd) }) : undefined;
  const sink = new LogSink(nonBlockingLogFd(fd), {
    // The sink's own loss report, in the same shape as every other line.
    warn: (msg) => {
      const line = `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), name: 'greyprint', event: 'log_dropped', msg })}\n`;
      process.stderr.write(prettify ? prettify(line) : line);
    },
  });
  const timer = setInterval(() => sink.flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    sink.flushSync();
  });
  let destination: DestinationStream = sink;
  if (prettify !== undefined) {
    destination = {
      write: (line: string) => {
        sink.write(prettify(line));
      },
      flush: (cb?: (err?: Error) => void) => sink.flush(cb),
    } as DestinationStream;
  }
  // JSON into our destination; the pretty rendering, when wanted, happens inside it.
  const logger = createContractLogger({
    name: 'greyprint',
    level: level as LogLevel,
    format: 'json',
    destination,
  });
  sinks.set(logger, sink);
  return logger;
}
