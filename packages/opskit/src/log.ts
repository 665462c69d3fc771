import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerSettings {
  /** The tool's name, in every line as `name`. */
  readonly name: string;
  readonly level?: LogLevel;
  /** Absent: pretty when stderr is a terminal, JSON lines otherwise. */
  readonly format?: LogFormat;
  /**
   * Where JSON lines go; stderr (fd 2) by default, so stdout stays the
   * command's own output. A daemon with a hot path passes its own
   * non-blocking sink here.
   */
  readonly destination?: DestinationStream;
  /** Whether fd 2 is a terminal; injectable for tests. */
  readonly isTerminal?: boolean;
}

let cachedMs = Number.NaN;
let cachedTime = '';

/**
 * pino's isoTime (`,"time":"2026-11-25T07:00:00.000Z"`), built once per millisecond: a daemon
 * that logs a line per request writes many lines in the same millisecond, and toISOString()
 * costs about a microsecond each time.
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== cachedMs) {
    cachedMs = now;
    cachedTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return cachedTime;
}

/** The format `auto` resolves to: people read terminals, programs read pipes and files. */
export function resolveLogFormat(format: LogFormat | undefined, isTerminal: boolean): LogFormat {
  return format ?? (isTerminal ? 'pretty' : 'json');
}

/**
 * The logger every tool uses: one object per event with `time` as ISO 8601,
 * `level` as a word, `name`, and `event` saying what happened (domain
 * fields keep their domain meaning: greyprint's `action` is the Postfix
 * reply).
 */
export function createLogger(settings: LoggerSettings): Logger {
  const isTerminal = settings.isTerminal ?? process.stderr.isTTY === true;
  const format = resolveLogFormat(settings.format, isTerminal);
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { name: settings.name },
    timestamp: isoTimeCached,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (format === 'pretty') {
    // pino-pretty writes synchronously to fd 2 here: a terminal is read by a person, and a
    // pretty stream into a pipe is a choice the operator made for reading, not for volume.
    const pretty = PinoPretty({
      destination: settings.destination ?? 2,
      sync: true,
      colorize: isTerminal,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname,name',
    });
    return pino(options, pretty);
  }
  return pino(options, settings.destination ?? pino.destination({ fd: 2, sync: true }));
}
