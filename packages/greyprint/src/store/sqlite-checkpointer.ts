/**
 * The checkpointer worker thread of the SQLite store (see SqliteStore's startCheckpointer). It
 * opens its own connection to the database file and folds the WAL back into the file every
 * interval; PASSIVE never waits for or blocks the writer. It stops when told 'stop'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** What the store hands the worker. */
export interface CheckpointerData {
  readonly path: string;
  readonly synchronous: 'NORMAL' | 'FULL';
  readonly intervalMs: number;
}

/** The message that stops the worker. */
export const STOP_CHECKPOINTER = 'stop';

/** Folds the WAL of `path` back into the file every `intervalMs`; returns the function that stops it. */
export function runCheckpointer(data: CheckpointerData): () => void {
  const db = new Database(data.path);
  db.pragma('busy_timeout = 0');
  db.pragma(`synchronous = ${data.synchronous}`);
  const timer = setInterval(() => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // A busy or locked file is the next interval's job; the main connection's automatic
      // checkpoint remains the safety net.
    }
  }, data.intervalMs);
  return () => {
    clearInterval(timer);
    db.close();
  };
}

const port = parentPort;
if (port !== null && (workerData as { checkpointer?: unknown } | null)?.checkpointer === true) {
  const stop = runCheckpointer(workerData as CheckpointerData);
  port.on('message', (m) => {
    if (m !== STOP_CHECKPOINTER) return;
    stop();
    port.close();
  });
}
