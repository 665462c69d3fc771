import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { AUTO_ALLOWED, type GreylistStore, type TripletKey } from '../../src/store/types.js';
import { type RedisServer, startRedis } from '../helpers/store-redis.js';
import { storeTempDir } from '../helpers/store-tmp.js';

// The same behaviours, run against every store: whatever the daemon relies on
// must hold for the in-memory store and the SQLite file alike.
const tmp = storeTempDir();
let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
  tmp.cleanup();
});

let n = 0;
const stores: { name: string; open: () => Promise<GreylistStore> | GreylistStore }[] = [
  { name: 'MemoryStore', open: () => new MemoryStore() },
  { name: 'SqliteStore', open: () => new SqliteStore(tmp.file(`contract-${n++}.sqlite`)) },
  // a fresh key prefix per test: the same Redis, no state shared between tests
  {
    name: 'RedisStore',
    open: () => RedisStore.open(redis?.url ?? 'redis://127.0.0.1:1', { prefix: `gps-test-${n++}:` }),
  },
];

const a: TripletKey = { client: '192.0.2.0/24', sender: 'alice@example.org', recipient: 'bob@example.net' };
const b: TripletKey = { client: '192.0.2.0/24', sender: 'carol@example.org', recipient: 'bob@example.net' };
const c: TripletKey = { client: '198.51.100.0/24', sender: '', recipient: 'dave@example.net' };

for (const { name, open } of stores) {
  describe(`${name} contract`, () => {
    const withStore = (fn: (s: GreylistStore) => Promise<void>) => async () => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    };

    test(
      'creates a triplet on the first attempt with firstSeen = lastSeen = now and no passes',
      withStore(async (s) => {
        const r = await s.recordAttempt(a, 1000);
        assert.deepEqual(r, { ...a, firstSeen: 1000, lastSeen: 1000, passes: 0 });
      }),
    );

    test(
      'a later attempt moves only lastSeen and keeps firstSeen',
      withStore(async (s) => {
        await s.recordAttempt(a, 1000);
        const r = await s.recordAttempt(a, 1400);
        assert.deepEqual(r, { ...a, firstSeen: 1000, lastSeen: 1400, passes: 0 });
      }),
    );

    test(
      'keeps the null sender as its own triplet',
      withStore(async (s) => {
        const r = await s.recordAttempt(c, 5);
        assert.equal(r.sender, '');
        assert.equal((await s.list({ sender: '' })).length, 1);
      }),
    );

    test(
      'recordPass bumps the triplet and the client counter together',
      withStore(async (s) => {
        await s.recordAttempt(a, 1000);
        assert.deepEqual(await s.recordPass(a, 1400), { passes: 1, clientPasses: 1 });
        assert.deepEqual(await s.recordPass(a, 1500), { passes: 2, clientPasses: 2 });
        // another triplet of the same client network counts towards the same client
        await s.recordAttempt(b, 1000);
        assert.deepEqual(await s.recordPass(b, 1600), { passes: 1, clientPasses: 3 });
        assert.deepEqual(await s.getClient(a.client), { client: a.client, passes: 3, lastSeen: 1600 });
        const [rec] = await s.list({ sender: a.sender });
        assert.deepEqual(rec, { ...a, firstSeen: 1000, lastSeen: 1500, passes: 2 });
      }),
    );

    test(
      'recordPass on an unknown triplet creates it confirmed',
      withStore(async (s) => {
        assert.deepEqual(await s.recordPass(c, 77), { passes: 1, clientPasses: 1 });
        assert.deepEqual(await s.list(), [{ ...c, firstSeen: 77, lastSeen: 77, passes: 1 }]);
      }),
    );

    test(
      'recordAttemptUnlessAllowed records like recordAttempt until the client reaches the threshold',
      withStore(async (s) => {
        assert.deepEqual(await s.recordAttemptUnlessAllowed(a, 1000, 2), {
          ...a,
          firstSeen: 1000,
          lastSeen: 1000,
          passes: 0,
        });
        await s.recordPass(a, 1400);
        // one confirmed delivery: below 2, so the attempt is recorded
        assert.deepEqual(await s.recordAttemptUnlessAllowed(a, 1450, 2), {
          ...a,
          firstSeen: 1000,
          lastSeen: 1450,
          passes: 1,
        });
        await s.recordPass(b, 1500);
        // two: auto-allowed, and nothing is recorded, not even a new triplet of that client
        const d: TripletKey = { ...a, sender: 'dan@example.org' };
        assert.equal(await s.recordAttemptUnlessAllowed(d, 1600, 2), AUTO_ALLOWED);
        assert.deepEqual(await s.list({ sender: d.sender }), []);
        assert.equal((await s.list({ sender: a.sender }))[0]?.lastSeen, 1450);
        // threshold 0 turns auto-allow off; another client is not affected
        assert.equal((await s.recordAttemptUnlessAllowed(d, 1700, 0)) === AUTO_ALLOWED, false);
        assert.notEqual(await s.recordAttemptUnlessAllowed(c, 1700, 1), AUTO_ALLOWED);
      }),
    );

    test(
      'getClient is undefined for a client that never passed',
      withStore(async (s) => {
        await s.recordAttempt(a, 1);
        assert.equal(await s.getClient(a.client), undefined);
      }),
    );

    test(
      'list filters by client, sender, recipient, confirmed and limit',
      withStore(async (s) => {
        await s.recordAttempt(a, 10);
        await s.recordAttempt(b, 20);
        await s.recordAttempt(c, 30);
        await s.recordPass(b, 40);
        assert.equal((await s.list()).length, 3);
        assert.deepEqual(
          (await s.list({ client: '192.0.2.0/24' })).map((r) => r.sender).sort(),
          [a.sender, b.sender].sort(),
        );
        assert.deepEqual(
          (await s.list({ recipient: 'dave@example.net' })).map((r) => r.client),
          ['198.51.100.0/24'],
        );
        assert.deepEqual(
          (await s.list({ confirmed: true })).map((r) => r.sender),
          [b.sender],
        );
        assert.equal((await s.list({ confirmed: false })).length, 2);
        assert.equal((await s.list({ client: '192.0.2.0/24', confirmed: false })).length, 1);
        assert.equal((await s.list({ limit: 2 })).length, 2);
        assert.deepEqual(await s.list({ sender: 'nobody@example.org' }), []);
      }),
    );

    test(
      'expire drops unconfirmed triplets after the short TTL and confirmed ones after the long TTL',
      withStore(async (s) => {
        const policy = { unconfirmedTtl: 100, confirmedTtl: 1000 };
        await s.recordAttempt(a, 0); // unconfirmed, old
        await s.recordAttempt(b, 0);
        await s.recordPass(b, 0); // confirmed, same age
        await s.recordAttempt(c, 150); // unconfirmed, fresh
        assert.deepEqual(await s.expire(200, policy), { triplets: 1, clients: 0 });
        assert.deepEqual((await s.list()).map((r) => r.sender).sort(), ['', b.sender].sort());
        assert.deepEqual(await s.expire(1001, policy), { triplets: 2, clients: 1 });
        assert.deepEqual(await s.list(), []);
        assert.equal(await s.getClient(b.client), undefined);
      }),
    );

    test(
      'expire keeps an entry whose age equals the TTL exactly',
      withStore(async (s) => {
        await s.recordAttempt(a, 0);
        assert.deepEqual(await s.expire(100, { unconfirmedTtl: 100, confirmedTtl: 1000 }), {
          triplets: 0,
          clients: 0,
        });
      }),
    );

    test(
      'remove deletes the matching triplets and returns the count',
      withStore(async (s) => {
        await s.recordAttempt(a, 1);
        await s.recordAttempt(b, 1);
        await s.recordAttempt(c, 1);
        assert.equal(await s.remove({ client: '192.0.2.0/24', sender: a.sender }), 1);
        assert.equal(await s.remove({ recipient: 'nobody@example.net' }), 0);
        assert.equal(await s.remove(), 2);
        assert.deepEqual(await s.list(), []);
      }),
    );
  });
}
