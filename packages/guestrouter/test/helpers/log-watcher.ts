import type { ChildProcess } from 'node:child_process';

/** Collects the controller's JSON log lines and lets a test wait for one. */
export class LogWatcher {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { match: (l: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  private buffer = '';
  constructor(child: ChildProcess) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        const text = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf('\n');
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(line)) return true;
          w.resolve();
          return false;
        });
      }
    });
  }
  /** Resolves at the next line (after now) that matches; rejects after timeoutMs. */
  next(match: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}
