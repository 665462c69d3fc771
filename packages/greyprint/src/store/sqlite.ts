import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { GroupCommit, type PendingWrite } from './group-commit.js';
import { type CheckpointerData, STOP_CHECKPOINTER } from './sqlite-checkpointer.js';
import { openSqlite } from './sqlite-open.js';
import {
  AUTO_ALLOWED,
  type ClientRecord,
  type ExpiryPolicy,
  type GreylistStore,
  type ListFilter,
  type TripletKey,
  type TripletRecord,
} from './types.js';

export { SQLITE_SCHEMA_VERSION, StoreOpenError, type StoreOpenErrorCode } from './sqlite-open.js';

/**
 * Why `synchronous=NORMAL` (the default here) and not FULL:
 * the requirement is "a kill -9 under load loses no confirmed triplet and
 * leaves no corrupt file". In WAL mode a commit appends the transaction's
 * frames to the -wal file with write(); once write() has returned the bytes
 * belong to the kernel's page cache, which outlives the process. A SIGKILL
 * therefore cannot undo a committed transaction, and the next opener replays
 * the WAL. NORMAL only skips the fsync of the WAL at each commit (it still
 * syncs at every checkpoint, so the main file never sees a torn state), which
 * matters for power loss or a kernel crash, not for a process crash. FULL
 * would add one fdatasync per request: exactly what makes postgrey slow.
 * Operators who need durability against power loss pass `synchronous: 'full'`.
 */
export type SqliteSynchronous = 'normal' | 'full';

export interface SqliteStoreOptions {
  /** `normal` (default): survives a process crash; `full`: also survives power loss, slower. */
  readonly synchronous?: SqliteSynchronous;
  /**
   * How long a writer waits for another process (the CLI) holding the lock, in ms (default
   * 1000). better-sqlite3 waits synchronously, so this bounds how long answers can stall;
   * past it the write fails and the daemon answers DUNNO. The CLI's bulk deletions hold the
   * lock for one short window at a time, so a healthy wait is a few milliseconds.
   */
  readonly busyTimeoutMs?: number;
  /** Rows deleted per transaction by expire() and remove(), so answers interleave. */
  readonly batchSize?: number;
  /** Open an existing store for reading only (CLI `list`). */
  readonly readonly?: boolean;
  /**
   * Checkpoint the WAL from a worker thread every this many ms (default 100),
   * so the fsyncs of a checkpoint never stall answers; 0 leaves checkpoints to
   * SQLite's automatic ones on the committing (main) thread.
   */
  readonly checkpointIntervalMs?: number;
}

interface TripletRow {
  client: string;
  sender: string;
  recipient: string;
  firstSeen: number;
  lastSeen: number;
  passes: number;
}

const TRIPLET_COLUMNS = 'client, sender, recipient, first_seen AS firstSeen, last_seen AS lastSeen, passes';

/**
 * Starts the checkpointer worker from its module beside this one: the compiled .js in dist;
 * under tsx (tests, development) the .ts source, through a bootstrap that registers tsx's
 * loader in the worker first, since Node 20 does not apply the parent's `--import tsx` to a
 * worker's entry module.
 */
function startCheckpointerWorker(data: CheckpointerData & { checkpointer: true }): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./sqlite-checkpointer.js', import.meta.url), { workerData: data });
  }
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sqlite-checkpointer.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/**
 * The pause between two bulk-deletion batches: long enough for policy answers to run and for
 * another process waiting on the write lock (SQLite's busy handler sleeps 1, 2, 5 ms ...) to get it.
 */
const pauseBetweenBatches = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

/**
 * The default store: one SQLite file in WAL mode. better-sqlite3 is
 * synchronous; each call is one short transaction, so the event loop is held
 * for tens of microseconds, and bulk deletions run in bounded batches.
 * Several processes may open the same file (the daemon and the CLI): WAL lets
 * readers run beside the writer, and writers wait up to busyTimeoutMs.
 */
export class SqliteStore implements GreylistStore {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly batchSize: number;
  private readonly listCache = new Map<string, Database.Statement>();
  private readonly stmt: {
    insertTriplet: Database.Statement;
    touchTriplet: Database.Statement;
    passTriplet: Database.Statement;
    passClient: Database.Statement;
    getClient: Database.Statement;
    clientPasses: Database.Statement;
    windowFirst: Database.Statement;
    windowNext: Database.Statement;
    deleteTriplet: Database.Statement;
    expireClients: Database.Statement;
    beginRead: Database.Statement;
    commitRead: Database.Statement;
  };
  private readonly writes: GroupCommit;
  /** Reads so far in this event-loop turn, and whether they share an open read transaction. */
  private readsThisTurn = 0;
  private readTxnOpen = false;
  private readonly endTurn = () => {
    this.readsThisTurn = 0;
    this.endRead();
  };
  private checkpointer: Worker | undefined;
  private closed = false;
  private readonly readonly: boolean;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.readonly = options.readonly ?? false;
    this.batchSize = options.batchSize ?? 1000;
    const db = openSqlite(path, options);
    this.db = db;
    this.stmt = {
      // An attempt is an INSERT that does nothing when the triplet exists, and then an
      // UPDATE ... RETURNING; not one upsert with RETURNING, whose result buffering costs
      // about 2 us per call: a first attempt (most of a greylisting server's traffic: a
      // spam run never comes back) takes the INSERT alone, about 30% cheaper, and a retry
      // takes both statements, about 30% dearer.
      insertTriplet: db.prepare(
        `INSERT OR IGNORE INTO triplets (client, sender, recipient, first_seen, last_seen, passes)
         VALUES (?, ?, ?, ?, ?, 0)`,
      ),
      touchTriplet: db
        .prepare(
          `UPDATE triplets SET last_seen = ? WHERE client = ? AND sender = ? AND recipient = ?
           RETURNING first_seen, last_seen, passes`,
        )
        // Rows as arrays and without the key columns the caller already has: no object and
        // no three strings decoded from UTF-8 per request.
        .raw(true),
      passTriplet: db.prepare(
        `INSERT INTO triplets (client, sender, recipient, first_seen, last_seen, passes)
         VALUES (?, ?, ?, ?, ?, 1)
         ON CONFLICT (client, sender, recipient) DO UPDATE SET last_seen = excluded.last_seen, passes = passes + 1
         RETURNING passes`,
      ),
      passClient: db.prepare(
        `INSERT INTO clients (client, passes, last_seen) VALUES (?, 1, ?)
         ON CONFLICT (client) DO UPDATE SET passes = passes + 1, last_seen = excluded.last_seen
         RETURNING passes`,
      ),
      getClient: db.prepare('SELECT client, passes, last_seen AS lastSeen FROM clients WHERE client = ?'),
      clientPasses: db.prepare('SELECT passes FROM clients WHERE client = ?').pluck(true),
      windowFirst: db.prepare(
        `SELECT ${TRIPLET_COLUMNS} FROM triplets ORDER BY client, sender, recipient LIMIT ?`,
      ),
      // A row-value comparison walks the primary key from the cursor: each window costs its own rows only.
      windowNext: db.prepare(
        `SELECT ${TRIPLET_COLUMNS} FROM triplets WHERE (client, sender, recipient) > (?, ?, ?)
         ORDER BY client, sender, recipient LIMIT ?`,
      ),
      deleteTriplet: db.prepare('DELETE FROM triplets WHERE client = ? AND sender = ? AND recipient = ?'),
      expireClients: db.prepare(
        `DELETE FROM clients WHERE client IN (SELECT client FROM clients WHERE last_seen < ? LIMIT ?)`,
      ),
      beginRead: db.prepare('BEGIN DEFERRED'),
      commitRead: db.prepare('COMMIT'),
    };
    // Group commit: the writes of every request answered in one event-loop turn share one
    // IMMEDIATE transaction, so one WAL append (and, with FULL, one fsync) serves all of them.
    // A write's promise settles only after COMMIT returned: a confirmed pass is on disk
    // (in the page cache) before the caller answers.
    this.writes = new GroupCommit(
      db.transaction((batch: readonly PendingWrite[]) => batch.map((w) => w.run())).immediate,
      () => this.endRead(),
    );
    const interval = options.checkpointIntervalMs ?? 100;
    // An in-memory database has no WAL to fold back, and another connection could not see it.
    const inMemory = path === ':memory:' || path === '';
    if (!options.readonly && !inMemory && interval > 0) {
      this.startCheckpointer(path, options.synchronous ?? 'normal', interval);
    }
  }

  /**
   * SQLite checkpoints on the thread that commits, and a checkpoint fsyncs the WAL and the
   * database file: milliseconds on a busy disk, during which no request is answered. A worker
   * thread with its own connection checkpoints instead (PASSIVE: it never blocks the writer);
   * the main connection keeps a high automatic threshold as a safety net should it fall behind.
   */
  private startCheckpointer(path: string, synchronous: SqliteSynchronous, intervalMs: number): void {
    try {
      const data: CheckpointerData & { checkpointer: true } = {
        checkpointer: true,
        path,
        synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL',
        intervalMs,
      };
      const worker = startCheckpointerWorker(data);
      worker.unref();
      // A checkpointer that fails only costs the main thread its automatic checkpoints back.
      worker.on('error', () => {
        if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
      });
      // A worker that ended on its own (an error above) is not waited for on close.
      worker.once('exit', () => {
        if (this.checkpointer === worker) this.checkpointer = undefined;
      });
      this.db.pragma('wal_autocheckpoint = 16384');
      this.checkpointer = worker;
    } catch {
      this.checkpointer = undefined;
    }
  }

  recordAttempt(key: TripletKey, now: number): Promise<TripletRecord> {
    return this.enqueue(() => this.attempt(key, now));
  }

  /** Inside a batch transaction: creates the triplet, or moves its last_seen. */
  private attempt(key: TripletKey, now: number): TripletRecord {
    const { insertTriplet, touchTriplet } = this.stmt;
    let firstSeen = now;
    let lastSeen = now;
    let passes = 0;
    if (insertTriplet.run(key.client, key.sender, key.recipient, now, now).changes === 0) {
      const row = touchTriplet.get(now, key.client, key.sender, key.recipient) as
        | [number, number, number]
        | undefined;
      // INSERT OR IGNORE also ignores a NOT NULL violation; the caller's strings rule it out.
      if (row === undefined)
        throw new Error(`triplet ${key.client}/${key.sender}/${key.recipient} neither inserted nor found`);
      [firstSeen, lastSeen, passes] = row;
    }
    // The stored key is byte for byte the one given (BINARY collation, no conversion).
    return { client: key.client, sender: key.sender, recipient: key.recipient, firstSeen, lastSeen, passes };
  }

  /**
   * The client lookup runs inside the batch's write transaction, which already holds the
   * lock: no read snapshot of its own (the lock calls of an autocommit read cost more than
   * the lookup), and no second trip through the event loop.
   */
  recordAttemptUnlessAllowed(
    key: TripletKey,
    now: number,
    autoAllowAt: number,
  ): Promise<TripletRecord | typeof AUTO_ALLOWED> {
    const { clientPasses } = this.stmt;
    return this.enqueue(() => {
      if (autoAllowAt > 0) {
        const passes = clientPasses.get(key.client) as number | undefined;
        if (passes !== undefined && passes >= autoAllowAt) return AUTO_ALLOWED;
      }
      return this.attempt(key, now);
    });
  }

  recordPass(key: TripletKey, now: number): Promise<{ passes: number; clientPasses: number }> {
    const { passTriplet, passClient } = this.stmt;
    // Both rows change in the same transaction: a crash keeps both or neither.
    return this.enqueue(() => {
      const t = passTriplet.get(key.client, key.sender, key.recipient, now, now) as { passes: number };
      const c = passClient.get(key.client, now) as { passes: number };
      return { passes: t.passes, clientPasses: c.passes };
    });
  }

  /**
   * Reads see committed state: a write still queued in this event-loop turn (another
   * request's) is not visible yet, which only shifts an auto-allow count by one request.
   */

  async getClient(client: string): Promise<ClientRecord | undefined> {
    this.beforeRead();
    const row = this.stmt.getClient.get(client) as ClientRecord | undefined;
    return row === undefined ? undefined : { ...row };
  }

  async list(filter: ListFilter = {}): Promise<TripletRecord[]> {
    const { where, params } = whereOf(filter);
    const limited = filter.limit !== undefined;
    const sql = `SELECT ${TRIPLET_COLUMNS} FROM triplets ${where}
                 ORDER BY first_seen, client, sender, recipient${limited ? ' LIMIT ?' : ''}`;
    const rows = this.cached(sql).all(...params, ...(limited ? [filter.limit] : [])) as TripletRow[];
    return rows.map((r) => ({ ...r }));
  }

  async expire(now: number, policy: ExpiryPolicy): Promise<{ triplets: number; clients: number }> {
    const unconfirmedBefore = now - policy.unconfirmedTtl;
    const confirmedBefore = now - policy.confirmedTtl;
    const triplets = await this.sweep((r) =>
      r.passes > 0 ? r.lastSeen < confirmedBefore : r.lastSeen < unconfirmedBefore,
    );
    // clients is small and rarely written: its last_seen index finds the expired rows directly.
    const clients = await this.inBatches(
      () => this.stmt.expireClients.run(confirmedBefore, this.batchSize).changes,
    );
    return { triplets, clients };
  }

  async remove(filter: ListFilter = {}): Promise<number> {
    // `limit` is ignored, as in the contract: remove takes every matching triplet.
    return this.sweep(
      (r) =>
        (filter.client === undefined || r.client === filter.client) &&
        (filter.sender === undefined || r.sender === filter.sender) &&
        (filter.recipient === undefined || r.recipient === filter.recipient) &&
        (filter.confirmed === undefined || r.passes > 0 === filter.confirmed),
    );
  }

  /**
   * Walks the triplets in primary-key windows of batchSize rows and deletes the doomed ones
   * of each window in one short transaction, pausing between windows: the daemon keeps
   * answering during a long expiry, and another process's writer (the daemon, while the CLI
   * purges) gets the lock between two windows. Each window costs its own rows only, however
   * large the table.
   */
  private async sweep(doomed: (r: TripletRow) => boolean): Promise<number> {
    const { windowFirst, windowNext, deleteTriplet } = this.stmt;
    const deleteRows = this.db.transaction((rows: readonly TripletRow[]) => {
      let n = 0;
      for (const r of rows) n += deleteTriplet.run(r.client, r.sender, r.recipient).changes;
      return n;
    });
    let cursor: TripletRow | undefined;
    let total = 0;
    for (;;) {
      const rows = (
        cursor === undefined
          ? windowFirst.all(this.batchSize)
          : windowNext.all(cursor.client, cursor.sender, cursor.recipient, this.batchSize)
      ) as TripletRow[];
      const victims = rows.filter(doomed);
      if (victims.length > 0) {
        this.endRead();
        total += deleteRows.immediate(victims);
      }
      if (rows.length < this.batchSize) return total;
      cursor = rows[rows.length - 1];
      await pauseBetweenBatches();
    }
  }

  /** Runs `PRAGMA integrity_check`; `ok` when the file is sound. */
  integrityCheck(): string {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('\n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writes.flush();
    this.closed = true;
    if (this.checkpointer !== undefined) {
      const worker = this.checkpointer;
      this.checkpointer = undefined;
      const gone = new Promise((resolve) => worker.once('exit', resolve));
      // unref'd so a forgotten close() never keeps a process alive; held while we wait for it
      worker.ref();
      worker.postMessage(STOP_CHECKPOINTER);
      await gone;
    }
    try {
      this.endRead();
      // Fold the WAL back into the main file so a stopped daemon leaves one self-contained file.
      // Another process (the CLI) may hold a read snapshot; then this is partial, which is harmless.
      if (!this.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }

  private enqueue<T>(run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`greylist store ${this.path} is closed`));
    return this.writes.add(run);
  }

  /**
   * An autocommit SELECT takes and drops a read snapshot of the WAL each time, which costs
   * several times the lookup itself. The first read of an event-loop turn runs on its own;
   * from the second on, the turn's reads share one read transaction, committed before the
   * turn's writes (every write path calls endRead first) and at the end of the turn. Reads
   * still see only committed state, as before.
   */
  private beforeRead(): void {
    if (this.readTxnOpen) return;
    if (this.readsThisTurn++ === 0) {
      setImmediate(this.endTurn);
      return;
    }
    if (this.db.inTransaction) return;
    this.stmt.beginRead.run();
    this.readTxnOpen = true;
  }

  private endRead(): void {
    if (!this.readTxnOpen) return;
    this.readTxnOpen = false;
    this.stmt.commitRead.run();
  }

  private cached(sql: string): Database.Statement {
    let stmt = this.listCache.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.listCache.set(sql, stmt);
    }
    return stmt;
  }

  private async inBatches(step: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      this.endRead();
      const n = step();
      total += n;
      if (n < this.batchSize) return total;
      await pauseBetweenBatches();
    }
  }
}

/** better-sqlite3 reports a missing directory as a bare TypeError; say which directory instead. */
function whereOf(filter: ListFilter): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  for (const column of ['client', 'sender', 'recipient'] as const) {
    const value = filter[column];
    if (value !== undefined) {
      clauses.push(`${column} = ?`);
      params.push(value);
    }
  }
  if (filter.confirmed !== undefined) clauses.push(filter.confirmed ? 'passes > 0' : 'passes = 0');
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
