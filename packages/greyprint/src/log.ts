import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/**
 * pino to stdout: JSON lines through an asynchronous buffered
 * destination (one decision line per request must not cost a write(2) each),
 * or a human format for terminals.
 */
export function createLogger(level: string, format: LogFormat, fd = 1): Logger {
  const options = { level, base: { name: 'greyprint' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'pretty') {
    return pino(options, pretty({ destination: fd, colorize: process.stdout.isTTY === true, sync: true }));
  }
  return pino(options, pino.destination({ dest: fd, sync: false }));
}
