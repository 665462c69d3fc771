import { isatty } from 'node:tty';
import { type DestinationStream, type Logger, pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { nonBlockingLogFd } from './log-fd.js';
import { LogSink } from './log-sink.js';

export type LogFormat = 'json' | 'pretty';

/** How often buffered log lines are written out at the latest. */
const FLUSH_INTERVAL_MS = 200;

let cachedMs = Number.NaN;
let cachedTime = '';

/**
 * pino's isoTime (`,"time":"2026-11-25T07:00:00.000Z"`), built once per
 * millisecond: at the default level every request logs a line, and under load
 * many lines share a millisecond, while toISOString() costs about a microsecond.
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== cachedMs) {
    cachedMs = now;
    cachedTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return cachedTime;
}

const sinks = new WeakMap<Logger, LogSink>();

/** The sink behind a logger made by createLogger (for the dropped-lines metric). */
export function logSinkOf(logger: Logger): LogSink | undefined {
  return sinks.get(logger);
}

/**
 * pino to stdout: JSON lines, or a human format for terminals, through a LogSink that gathers
 * them into writes of about 16 KiB (one decision line per request must not cost a write(2)
 * each), flushed every 200 ms and at exit. In both formats the sink writes to a non-blocking
 * descriptor (see log-fd.ts), so a reader that stops reading costs dropped, counted lines,
 * never a stalled daemon.
 */
export function createLogger(level: string, format: LogFormat, fd = 1): Logger {
  const options = { level, base: { name: 'greyprint' }, timestamp: isoTimeCached };
  const sink = new LogSink(nonBlockingLogFd(fd));
  const timer = setInterval(() => sink.flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    sink.flushSync();
  });
  let destination: DestinationStream = sink;
  if (format === 'pretty') {
    // pino-pretty's formatter only: its own stream writes synchronously and, on a full pipe,
    // retries in a loop that never returns to the event loop.
    const prettify = prettyFactory({ colorize: isatty(fd) });
    destination = {
      write: (line: string) => {
        sink.write(prettify(line));
      },
      flush: (cb?: (err?: Error) => void) => sink.flush(cb),
    } as DestinationStream;
  }
  const logger = pino(options, destination);
  sinks.set(logger, sink);
  return logger;
}
