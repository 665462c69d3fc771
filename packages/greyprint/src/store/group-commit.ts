/** One write waiting for its group's commit. */
export interface PendingWrite {
  run(): unknown;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/**
 * Group commit: the writes queued in one event-loop turn run together in one transaction, so
 * one WAL append (and, with synchronous=FULL, one fsync) serves all of them. A write's promise
 * settles only after the commit returned; if the transaction fails it rolled back as a whole,
 * and every write of the group is rejected with the error.
 */
export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;

  /**
   * @param commit runs every write of a group inside one transaction and returns their results
   *   in order (better-sqlite3's `db.transaction(...).immediate`).
   * @param beforeCommit runs just before a group commits (the store ends its shared read
   *   transaction there).
   */
  constructor(
    private readonly commit: (batch: readonly PendingWrite[]) => unknown[],
    private readonly beforeCommit: () => void = () => undefined,
    private readonly schedule: (flush: () => void) => void = setImmediate,
  ) {}

  /** Queues `run` for this turn's group; resolves with its result once the group committed. */
  add<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the poll phase: every request read in this turn joins the group.
        this.schedule(() => this.flush());
      }
    });
  }

  /** Commits what is queued now (the store calls it on close as well). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.beforeCommit();
    let results: unknown[];
    try {
      results = this.commit(batch);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      w.resolve(results[i]);
    });
  }
}
