import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import { SqliteStore, type SqliteSynchronous, StoreOpenError } from './sqlite.js';
import type { GreylistStore } from './types.js';

export interface StoreOptions {
  /**
   * SQLite file path, `:memory:` for a store that lives only as long as the process, or a
   * `redis://host:port/db` URL for the store shared by several MX hosts.
   */
  readonly path: string;
  /** SQLite only: `normal` (default) survives a process crash, `full` also power loss. */
  readonly synchronous?: SqliteSynchronous;
  /** SQLite only: open an existing store read-only (for `list` beside a running daemon). */
  readonly readonly?: boolean;
  /**
   * SQLite only: fail when the file does not exist instead of creating it (the operator's
   * commands `list` and `purge`: a mistyped path must not make a new, empty store).
   */
  readonly mustExist?: boolean;
  /** Redis only: how long a command may wait for Redis (the daemon sets it past its deadline). */
  readonly commandTimeoutMs?: number;
}

/**
 * Opens the configured store. `:memory:` gives the MemoryStore (a process-local
 * map: nothing to persist, so no reason to pay for SQLite); every other path is
 * an SQLite file. A missing parent directory is created (a fresh install's
 * /var/lib/greyprint), except for read-only opens; failures become a
 * StoreOpenError that names the path and what to do.
 */
export async function openStore(options: StoreOptions): Promise<GreylistStore> {
  if (options.path === ':memory:') return new MemoryStore();
  // The shared store for several MX hosts: `redis://[:password@]host:port/db`.
  if (/^rediss?:\/\//.test(options.path)) {
    return RedisStore.open(
      options.path,
      options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {},
    );
  }
  if (options.mustExist && !existsSync(options.path)) {
    throw new StoreOpenError(
      'MISSING',
      options.path,
      `greylist store ${options.path} does not exist; check --db (or db in the config) against the daemon's`,
    );
  }
  if (!options.readonly) {
    const dir = dirname(options.path);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreOpenError(
        'DIRECTORY_MISSING',
        options.path,
        `cannot create directory ${dir} for greylist store ${options.path} (${reason}); create it by hand, writable by the daemon's user, or point --db elsewhere`,
        { cause: err },
      );
    }
  }
  try {
    return new SqliteStore(options.path, {
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
      ...(options.readonly ? { readonly: true } : {}),
    });
  } catch (err) {
    if (err instanceof StoreOpenError && err.code === 'NOT_WRITABLE') {
      throw new StoreOpenError(err.code, err.path, `${err.message}${ownerHint(dirname(options.path))}`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * The usual cause on a fresh install: the state directory was made by root (a first trial run
 * as root) and the daemon runs as its own user. Names both, and the command that fixes it.
 */
function ownerHint(dir: string): string {
  const uid = process.getuid?.();
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    return '';
  }
  if (uid === undefined || uid === 0 || st.uid === uid) return '';
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  return ` (${dir} belongs to uid ${st.uid}, mode ${mode}; this process runs as uid ${uid}: install -d -o greyprint -g greyprint -m 0750 ${dir})`;
}
