import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../src/store/factory.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SQLITE_SCHEMA_VERSION, SqliteStore, StoreOpenError } from '../../src/store/sqlite.js';
import { storeTempDir } from '../helpers/store-tmp.js';

const tmp = storeTempDir();
after(() => tmp.cleanup());
const key = { client: '192.0.2.0/24', sender: 'a@example.org', recipient: 'b@example.net' };

const rejectsWith = (fn: () => unknown, code: string, pathPart: string) => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StoreOpenError, `expected StoreOpenError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(err.message.includes(pathPart), `message names the path: ${err.message}`);
    return true;
  });
};

describe('SqliteStore file handling', () => {
  test('keeps triplets and client counters across close and reopen', async () => {
    const path = tmp.file('reopen.sqlite');
    const s1 = new SqliteStore(path);
    await s1.recordAttempt(key, 10);
    await s1.recordPass(key, 400);
    await s1.close();
    const s2 = new SqliteStore(path);
    assert.deepEqual(await s2.list(), [{ ...key, firstSeen: 10, lastSeen: 400, passes: 1 }]);
    assert.equal((await s2.getClient(key.client))?.passes, 1);
    assert.equal(s2.integrityCheck(), 'ok');
    await s2.close();
  });

  test('writes WAL mode, the schema version and its application id into a new file', async () => {
    const path = tmp.file('fresh.sqlite');
    await new SqliteStore(path).close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
    assert.notEqual(db.pragma('application_id', { simple: true }), 0);
    db.close();
  });

  test('refuses a store written by a newer greyprint and says so', async () => {
    const path = tmp.file('newer.sqlite');
    await new SqliteStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    rejectsWith(() => new SqliteStore(path), 'SCHEMA_TOO_NEW', path);
  });

  test('refuses a file that is not a database with a clear error and leaves it untouched', () => {
    const path = tmp.file('text.sqlite');
    const content = 'this is a text file, not a database\n'.repeat(200);
    writeFileSync(path, content);
    rejectsWith(() => new SqliteStore(path), 'NOT_A_DATABASE', path);
    assert.equal(readFileSync(path, 'utf8'), content);
  });

  test('refuses the SQLite database of another program instead of adding tables to it', () => {
    const path = tmp.file('foreign.sqlite');
    const db = new Database(path);
    db.exec('CREATE TABLE mail (id INTEGER PRIMARY KEY)');
    db.close();
    rejectsWith(() => new SqliteStore(path), 'NOT_A_GREYPRINT_STORE', path);
  });

  test('names the missing directory when the parent does not exist', () => {
    const path = tmp.file('no/such/dir/store.sqlite');
    rejectsWith(() => new SqliteStore(path), 'DIRECTORY_MISSING', 'no/such/dir');
  });

  test('lets a second process-like connection list and purge while the daemon connection writes', async () => {
    const path = tmp.file('shared.sqlite');
    const daemon = new SqliteStore(path);
    const cli = new SqliteStore(path);
    const reader = new SqliteStore(path, { readonly: true });
    for (let i = 0; i < 50; i++) await daemon.recordAttempt({ ...key, recipient: `r${i}@example.net` }, i);
    assert.equal((await reader.list()).length, 50);
    assert.equal(await cli.remove({ recipient: 'r7@example.net' }), 1);
    await daemon.recordAttempt({ ...key, recipient: 'late@example.net' }, 99);
    assert.equal((await reader.list()).length, 50);
    assert.equal((await cli.list({ recipient: 'late@example.net' })).length, 1);
    await reader.close();
    await cli.close();
    await daemon.close();
  });

  test('expires many rows in bounded batches and lets other work run between them', async () => {
    const s = new SqliteStore(tmp.file('batches.sqlite'), { batchSize: 100 });
    for (let i = 0; i < 1050; i++) await s.recordAttempt({ ...key, recipient: `r${i}@example.net` }, 0);
    await s.recordAttempt({ ...key, recipient: 'fresh@example.net' }, 5000);
    let interleaved = 0;
    const probe = setImmediate(function again() {
      interleaved++;
      if (interleaved < 1000) setImmediate(again);
    });
    const result = await s.expire(5000, { unconfirmedTtl: 100, confirmedTtl: 1000 });
    clearImmediate(probe);
    assert.deepEqual(result, { triplets: 1050, clients: 0 });
    // 11 batches: other callbacks must have run between them
    assert.ok(interleaved >= 10, `other work ran ${interleaved} times during expiry`);
    assert.deepEqual(
      (await s.list()).map((r) => r.recipient),
      ['fresh@example.net'],
    );
    await s.close();
  });

  test('removes more rows than one batch when purging everything', async () => {
    const s = new SqliteStore(tmp.file('purge.sqlite'), { batchSize: 64 });
    for (let i = 0; i < 300; i++) await s.recordAttempt({ ...key, recipient: `r${i}@example.net` }, 0);
    assert.equal(await s.remove(), 300);
    assert.deepEqual(await s.list(), []);
    await s.close();
  });

  test('survives synchronous=full as well', async () => {
    const s = new SqliteStore(tmp.file('full.sqlite'), { synchronous: 'full' });
    await s.recordPass(key, 1);
    assert.equal((await s.list({ confirmed: true })).length, 1);
    await s.close();
  });
});

describe('openStore', () => {
  test('serves :memory: from the in-memory store', async () => {
    const s = await openStore({ path: ':memory:' });
    assert.ok(s instanceof MemoryStore);
    await s.close();
  });

  test('creates a missing parent directory for a new SQLite store', async () => {
    const path = tmp.file('var/lib/greyprint/greylist.sqlite');
    const s = await openStore({ path });
    assert.equal(s.kind, 'sqlite');
    await s.recordAttempt(key, 1);
    await s.close();
  });

  test('reports a directory that cannot be created with the path', async () => {
    const blocker = tmp.file('plainfile');
    writeFileSync(blocker, 'x');
    const path = `${blocker}/sub/greylist.sqlite`;
    await assert.rejects(openStore({ path }), (err: unknown) => {
      assert.ok(err instanceof StoreOpenError);
      assert.equal(err.code, 'DIRECTORY_MISSING');
      assert.ok(err.message.includes(path));
      return true;
    });
  });

  test('does not create a file for a read-only open of a missing store', async () => {
    mkdirSync(tmp.file('ro'), { recursive: true });
    await assert.rejects(openStore({ path: tmp.file('ro/missing.sqlite'), readonly: true }), StoreOpenError);
  });
});
