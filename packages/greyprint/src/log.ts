import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
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

/**
 * pino to stdout: JSON lines through a LogSink that gathers them into writes
 * of about 16 KiB (one decision line per request must not cost a write(2)
 * each), flushed every 200 ms and at exit; or a human format for terminals.
 */
export function createLogger(level: string, format: LogFormat, fd = 1): Logger {
  const options = { level, base: { name: 'greyprint' }, timestamp: isoTimeCached };
  if (format === 'pretty') {
    return pino(options, pretty({ destination: fd, colorize: process.stdout.isTTY === true, sync: true }));
  }
  const sink = new LogSink(fd);
  const timer = setInterval(() => sink.flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    sink.flushSync();
  });
  return pino(options, sink);
}
