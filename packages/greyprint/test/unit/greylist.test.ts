import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { greylist, MemoryStore } from '../../src/index.js';

const key = { client: '192.0.2.0/24', sender: 'a@example.org', recipient: 'b@example.net' };
const opts = { delaySec: 300, autoAllowClients: 5 };

describe('greylisting semantics', () => {
  test('defers the first attempt and a retry before the delay, counting from first sight', async () => {
    const store = new MemoryStore();
    assert.deepEqual(await greylist(store, key, 1000, opts), { pass: false, reason: 'new', retryIn: 300 });
    assert.deepEqual(await greylist(store, key, 1200, opts), {
      pass: false,
      reason: 'early-retry',
      retryIn: 100,
    });
    assert.deepEqual(await greylist(store, key, 1299, opts), {
      pass: false,
      reason: 'early-retry',
      retryIn: 1,
    });
  });
  test('passes the first retry after the delay, then passes the confirmed triplet', async () => {
    const store = new MemoryStore();
    await greylist(store, key, 1000, opts);
    assert.deepEqual(await greylist(store, key, 1300, opts), {
      pass: true,
      reason: 'passed',
      waitedSec: 300,
    });
    assert.deepEqual(await greylist(store, key, 5000, opts), { pass: true, reason: 'confirmed' });
    const [rec] = await store.list();
    assert.equal(rec?.passes, 1);
  });
  test('auto-allows a client after 5 confirmed triplets', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 5; i++) {
      const k = { ...key, recipient: `r${i}@example.net` };
      await greylist(store, k, 1000, opts);
      assert.equal((await greylist(store, k, 1400, opts)).pass, true);
    }
    const fresh = { ...key, recipient: 'new@example.net' };
    assert.deepEqual(await greylist(store, fresh, 2000, opts), { pass: true, reason: 'auto-allowed' });
    assert.equal((await greylist(store, fresh, 2000, { ...opts, autoAllowClients: 0 })).pass, false);
  });
  test('a retry after the retry window starts over instead of passing', async () => {
    const store = new MemoryStore();
    const o = { ...opts, unconfirmedTtlSec: 2 * 86400 };
    await greylist(store, key, 1000, o);
    const late = 1000 + 2 * 86400 + 1;
    assert.deepEqual(await greylist(store, key, late, o), { pass: false, reason: 'new', retryIn: 300 });
    assert.deepEqual(await greylist(store, key, late + 300, o), {
      pass: true,
      reason: 'passed',
      waitedSec: 300,
    });
  });
  test('a delay of 0 passes at once', async () =>
    assert.equal((await greylist(new MemoryStore(), key, 1, { ...opts, delaySec: 0 })).pass, true));
});
