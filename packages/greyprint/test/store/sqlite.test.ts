import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

  test('reads of one event-loop turn share a snapshot, and the next turn sees what another process wrote', async () => {
    const path = tmp.file('turns.sqlite');
    const daemon = new SqliteStore(path);
    const cli = new SqliteStore(path);
    try {
      await cli.recordPass(key, 100);
      // Several reads in one turn (the second one opens the shared read transaction) ...
      const first = [daemon.getClient(key.client), daemon.getClient(key.client), daemon.getClient('x')];
      // ... a write and an expiry queued in the same turn still commit: the read transaction
      // ends before any write starts.
      const attempt = daemon.recordAttempt({ ...key, recipient: 'c@example.net' }, 120);
      const expired = daemon.expire(130, { unconfirmedTtl: 1000, confirmedTtl: 1000 });
      const [a, b, x] = await Promise.all(first);
      assert.equal(a?.passes, 1);
      assert.equal(b?.passes, 1);
      assert.equal(x, undefined);
      assert.equal((await attempt).firstSeen, 120);
      assert.deepEqual(await expired, { triplets: 0, clients: 0 });
      // Another connection (the CLI, another daemon) writes; a later turn reads its commit.
      await cli.recordPass(key, 200);
      const [c, d] = await Promise.all([daemon.getClient(key.client), daemon.getClient(key.client)]);
      assert.equal(c?.passes, 2);
      assert.equal(d?.passes, 2);
      // Reads that open the shared read transaction just before a write batch commits, in the
      // same phase of the loop: the write's promise settles only once another connection can
      // see the row, i.e. after a real COMMIT (not a savepoint inside the read transaction).
      const late = { ...key, recipient: 'late@example.net' };
      const lateWrite = new Promise((resolve, reject) => {
        setImmediate(() => {
          void daemon.getClient(key.client);
          void daemon.getClient('y');
        });
        daemon.recordAttempt(late, 300).then(resolve, reject);
      });
      await lateWrite;
      assert.deepEqual(
        (await cli.list({ recipient: late.recipient })).map((r) => r.firstSeen),
        [300],
        'committed when its promise settled',
      );
      assert.equal(daemon.integrityCheck(), 'ok');
    } finally {
      await daemon.close();
      await cli.close();
    }
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

  test('a read-only open refuses writes and leaves no -wal or -shm file behind', async () => {
    const dir = tmp.file('ro');
    mkdirSync(dir);
    const path = `${dir}/store.sqlite`;
    const writer = new SqliteStore(path);
    await writer.recordAttempt(key, 1);
    await writer.close();
    const reader = new SqliteStore(path, { readonly: true });
    assert.equal((await reader.list()).length, 1);
    await assert.rejects(reader.recordAttempt(key, 2), /readonly/i);
    await reader.close();
    assert.deepEqual(readdirSync(dir), ['store.sqlite']);
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

  test('expires exactly the expired rows when they are scattered over many windows', async () => {
    const s = new SqliteStore(tmp.file('scattered.sqlite'), { batchSize: 7 });
    const policy = { unconfirmedTtl: 100, confirmedTtl: 1000 };
    let expected = 0;
    for (let i = 0; i < 200; i++) {
      const k = {
        client: `10.0.${i % 13}.0/24`,
        sender: `s${i}@example.org`,
        recipient: `r${i % 5}@example.net`,
      };
      // thirds: old unconfirmed (expires), old confirmed (kept), fresh unconfirmed (kept)
      if (i % 3 === 0) {
        await s.recordAttempt(k, 0);
        expected++;
      } else if (i % 3 === 1) {
        await s.recordPass(k, 0);
      } else {
        await s.recordAttempt(k, 450);
      }
    }
    assert.deepEqual(await s.expire(500, policy), { triplets: expected, clients: 0 });
    assert.equal((await s.list()).length, 200 - expected);
    assert.equal(
      (await s.list({ confirmed: false })).every((r) => r.lastSeen === 450),
      true,
    );
    const r1 = (await s.list({ recipient: 'r1@example.net' })).length;
    assert.ok(r1 > 0);
    assert.equal(await s.remove({ recipient: 'r1@example.net' }), r1);
    assert.deepEqual(await s.list({ recipient: 'r1@example.net' }), []);
    await s.close();
  });

  test('commits writes issued together in one turn and answers each with its own record', async () => {
    const s = new SqliteStore(tmp.file('group.sqlite'));
    const keys = Array.from({ length: 100 }, (_, i) => ({ ...key, recipient: `g${i}@example.net` }));
    // the same triplet twice in one batch: the second sees the first's firstSeen
    const [records, again, pass] = await Promise.all([
      Promise.all(keys.map((k, i) => s.recordAttempt(k, i))),
      s.recordAttempt(keys[0] as typeof key, 500),
      s.recordPass(keys[1] as typeof key, 600),
    ]);
    assert.deepEqual(
      records.map((r) => [r.recipient, r.firstSeen, r.passes]),
      keys.map((k, i) => [k.recipient, i, 0]),
    );
    assert.deepEqual([again.firstSeen, again.lastSeen], [0, 500]);
    assert.deepEqual(pass, { passes: 1, clientPasses: 1 });
    assert.equal((await s.list()).length, 100);
    await s.close();
  });

  test('checkpoints the WAL into the database file in the background while open', async () => {
    const path = tmp.file('checkpoint.sqlite');
    const s = new SqliteStore(path, { checkpointIntervalMs: 20 });
    const before = statSync(path).size;
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) => s.recordAttempt({ ...key, recipient: `c${i}@example.net` }, i)),
    );
    const deadline = Date.now() + 10_000;
    while (statSync(path).size <= before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(statSync(path).size > before, 'the main file grew without a close');
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
    await assert.rejects(openStore({ path: tmp.file('ro/missing.sqlite'), readonly: true }), (err) => {
      assert.ok(err instanceof StoreOpenError);
      // `list` only reads: the message must not send the operator after write permissions
      assert.match(err.message, /for reading/);
      assert.doesNotMatch(err.message, /writ/);
      return true;
    });
  });
});
