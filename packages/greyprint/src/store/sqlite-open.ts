import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** What opening a store file needs to know (a subset of SqliteStoreOptions). */
export interface SqliteOpenOptions {
  readonly synchronous?: 'normal' | 'full';
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
}

export type StoreOpenErrorCode =
  | 'MISSING'
  | 'DIRECTORY_MISSING'
  | 'NOT_WRITABLE'
  | 'NOT_A_DATABASE'
  | 'NOT_A_GREYPRINT_STORE'
  | 'SCHEMA_TOO_NEW'
  | 'CORRUPT'
  | 'OPEN_FAILED';

/** The store file could not be opened; `message` says which file and what to do. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  constructor(
    readonly code: StoreOpenErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Marks the file as ours, so a foreign SQLite database is refused instead of altered. */
const APPLICATION_ID = 0x67707269; // 'gpri'

/**
 * Schema migrations: entry i moves a store from user_version i to i + 1.
 * Append only; never edit an entry that has shipped.
 */
// triplets has no index on last_seen on purpose: every request writes that column, and the
// index would cost each write a second B-tree update (about a third of the write's CPU);
// expiry instead sweeps the table in primary-key windows (see sweep()).
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE triplets (
     client     TEXT    NOT NULL,
     sender     TEXT    NOT NULL,
     recipient  TEXT    NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen  INTEGER NOT NULL,
     passes     INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (client, sender, recipient)
   ) WITHOUT ROWID;
   CREATE TABLE clients (
     client    TEXT    NOT NULL PRIMARY KEY,
     passes    INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX clients_last_seen ON clients (last_seen);`,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

const sqliteCode = (err: unknown): string =>
  typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';

/** Turns what SQLite or the file system said at open time into an error an operator can act on. */
function openError(path: string, err: unknown, readonly: boolean): StoreOpenError {
  const code = sqliteCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB') {
    return new StoreOpenError(
      'NOT_A_DATABASE',
      path,
      `greylist store ${path} is not an SQLite database (${reason}); point --db at another file or move this one away`,
      { cause: err },
    );
  }
  if (code === 'SQLITE_CORRUPT') {
    return new StoreOpenError(
      'CORRUPT',
      path,
      `greylist store ${path} is corrupt (${reason}); move it away (greylisting restarts from empty) or repair it with sqlite3 .recover`,
      { cause: err },
    );
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM') {
    return new StoreOpenError(
      'NOT_WRITABLE',
      path,
      readonly
        ? `cannot open greylist store ${path} for reading (${reason}); check that the file exists (the daemon creates it) and that this user may read it and its directory`
        : `cannot open greylist store ${path} for writing (${reason}); check that the file and its directory exist and are writable by this user`,
      { cause: err },
    );
  }
  return new StoreOpenError('OPEN_FAILED', path, `cannot open greylist store ${path}: ${reason}`, {
    cause: err,
  });
}

/**
 * Opens (creating it unless read-only) and migrates the store file, with the connection settings
 * the store relies on (WAL, busy timeout, synchronous); every failure is a StoreOpenError that says
 * which file and what to do.
 */
export function openSqlite(path: string, options: SqliteOpenOptions): Database.Database {
  checkDirectory(path);
  let db: Database.Database | undefined;
  try {
    // A read-only store is a read-write connection with query_only set, not SQLite's
    // read-only mode: a read-only connection cannot remove the -wal and -shm files it creates,
    // and those, left owned by root after `greyprint list`, would lock out a daemon running
    // as its own user. This connection, if it is the last one, cleans them up on close.
    db = new Database(path, { fileMustExist: options.readonly ?? false });
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 1000))}`);
    if (!options.readonly) {
      // journal_mode=WAL is persistent in the file, but asking again is cheap and repairs a file
      // someone switched back to DELETE.
      db.pragma('journal_mode = WAL');
      // Cap the -wal file after a checkpoint so a burst does not leave a large file behind.
      db.pragma('journal_size_limit = 67108864');
    }
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    migrate(db, path, options.readonly ?? false);
    if (options.readonly) db.pragma('query_only = 1');
  } catch (err) {
    db?.close();
    if (err instanceof StoreOpenError) throw err;
    throw openError(path, err, options.readonly ?? false);
  }
  return db;
}

function migrate(db: Database.Database, path: string, readonly: boolean): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (appId !== APPLICATION_ID) {
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as {
      n: number;
    };
    if (appId !== 0 || tables.n > 0) {
      throw new StoreOpenError(
        'NOT_A_GREYPRINT_STORE',
        path,
        `${path} is an SQLite database of another program (application_id ${appId}, ${tables.n} tables); greyprint will not alter it: point --db at another file`,
      );
    }
  }
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new StoreOpenError(
      'SCHEMA_TOO_NEW',
      path,
      `greylist store ${path} has schema version ${version}, this greyprint knows up to ${SQLITE_SCHEMA_VERSION}; upgrade greyprint or point --db at another file`,
    );
  }
  if (version === SQLITE_SCHEMA_VERSION) return;
  if (readonly) {
    throw new StoreOpenError(
      'OPEN_FAILED',
      path,
      `greylist store ${path} needs a schema upgrade (version ${version} -> ${SQLITE_SCHEMA_VERSION}); open it once with write access (start the daemon)`,
    );
  }
  // One IMMEDIATE transaction per upgrade: two processes opening a fresh file at once
  // serialise here, and the loser sees the version the winner wrote.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < SQLITE_SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}

function checkDirectory(path: string): void {
  if (path === ':memory:' || path === '') return;
  const dir = dirname(path);
  if (!existsSync(dir)) {
    throw new StoreOpenError(
      'DIRECTORY_MISSING',
      path,
      `directory ${dir} of greylist store ${path} does not exist; create it (writable by the daemon's user) or point --db elsewhere`,
    );
  }
  if (!statSync(dir).isDirectory()) {
    throw new StoreOpenError(
      'DIRECTORY_MISSING',
      path,
      `${dir}, the directory of greylist store ${path}, is not a directory; point --db elsewhere`,
    );
  }
}
