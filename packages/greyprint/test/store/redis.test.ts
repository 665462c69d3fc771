import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openStore } from '../../src/store/factory.js';
import { RedisStore, RedisStoreError } from '../../src/store/redis.js';
import { freeTcpPort } from '../helpers/postfix.js';
import { startRedis } from '../helpers/store-redis.js';

const key = { client: '192.0.2.0/24', sender: 'a@example.org', recipient: 'b@example.net' };

describe('RedisStore', () => {
  test('shares one greylist between two MX hosts: a retry at the second host finds the first attempt', async () => {
    const redis = await startRedis();
    try {
      const mx1 = await openStore({ path: redis.url });
      const mx2 = await openStore({ path: redis.url });
      assert.equal(mx1.kind, 'redis');
      await mx1.recordAttempt(key, 100);
      const seen = await mx2.recordAttempt(key, 500);
      assert.deepEqual([seen.firstSeen, seen.lastSeen], [100, 500]);
      assert.deepEqual(await mx2.recordPass(key, 500), { passes: 1, clientPasses: 1 });
      assert.equal((await mx1.getClient(key.client))?.passes, 1);
      await mx1.close();
      await mx2.close();
    } finally {
      await redis.stop();
    }
  });

  test('counts concurrent passes from several connections exactly', async () => {
    const redis = await startRedis();
    try {
      const hosts = await Promise.all([1, 2, 3, 4].map(() => RedisStore.open(redis.url)));
      await Promise.all(hosts.flatMap((h) => Array.from({ length: 25 }, () => h.recordPass(key, 1))));
      const [r] = await (hosts[0] as RedisStore).list();
      assert.equal(r?.passes, 100);
      assert.equal((await (hosts[0] as RedisStore).getClient(key.client))?.passes, 100);
      await Promise.all(hosts.map((h) => h.close()));
    } finally {
      await redis.stop();
    }
  });

  test('refuses to start with an unreachable Redis and names the URL', async () => {
    const url = `redis://127.0.0.1:${await freeTcpPort()}/0`;
    await assert.rejects(RedisStore.open(url), (err: unknown) => {
      assert.ok(err instanceof RedisStoreError);
      assert.ok(err.message.includes(url), err.message);
      return true;
    });
  });

  test('fails a write promptly once Redis goes away, so the daemon can answer DUNNO', async () => {
    const redis = await startRedis();
    const store = await RedisStore.open(redis.url, { commandTimeoutMs: 500 });
    try {
      await store.recordAttempt(key, 1);
      await redis.stop();
      // rejects (no offline queue, one retry) instead of waiting for Redis to come back
      await assert.rejects(store.recordAttempt(key, 2));
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});
