import fs from 'node:fs';
import { formatProgress } from '../core/progress-format.js';

/** Progress for one file; `update` is cheap to call after every chunk. */
export interface Progress {
  update(done: number, removed: number): void;
  finish(): void;
}

const NO_PROGRESS: Progress = { update() {}, finish() {} };
const REDRAW_MS = 200;

/**
 * A progress line on standard error, only when it is a terminal and the file is large: redirected
 * stderr (cron, scripts) never receives carriage returns.
 */
export function startProgress(label: string, total: number, enabled: boolean, minBytes: number): Progress {
  if (!enabled || total < minBytes) return NO_PROGRESS;
  const started = performance.now();
  let lastDraw = Number.NEGATIVE_INFINITY;
  let drawn = false;
  const draw = (done: number, removed: number) => {
    const line = formatProgress(label, done, total, performance.now() - started, removed);
    try {
      fs.writeSync(2, `\r\x1b[K${line}`);
      drawn = true;
    } catch {
      // A progress line is a courtesy: a failing terminal must not fail the cleaning.
    }
  };
  return {
    update(done, removed) {
      const now = performance.now();
      if (now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      draw(done, removed);
    },
    finish() {
      if (!drawn) return;
      try {
        fs.writeSync(2, '\r\x1b[K');
      } catch {
        // see above
      }
    },
  };
}
