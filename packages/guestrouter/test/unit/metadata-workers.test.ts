import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { LocalBinder } from '../../src/metadata/binder.js';
import type { Refusal } from '../../src/metadata/lean-responder.js';
import { neighAddon } from '../../src/metadata/netlink-neighbours.js';
import type { VmRecord } from '../../src/metadata/records.js';
import { assignShards, recordsOfShard } from '../../src/metadata/shards.js';
import { MetadataWorkerPool } from '../../src/metadata/worker-pool.js';

describe('assignShards', () => {
  test('spreads new gateways over the workers, lowest index first on a tie', () => {
    const s = assignShards(['10.0.0.1', '10.0.1.1', '10.0.2.1', '10.0.3.1', '10.0.4.1'], new Map(), 2);
    assert.deepEqual([...s.values()].filter((k) => k === 0).length, 3);
    assert.deepEqual([...s.values()].filter((k) => k === 1).length, 2);
    assert.equal(s.get('10.0.0.1'), 0);
    assert.equal(s.get('10.0.1.1'), 1);
  });

  test('keeps every gateway where it was, drops gone ones, fills the emptier worker', () => {
    const before = new Map([
      ['a', 1],
      ['b', 1],
      ['c', 0],
      ['gone', 0],
    ]);
    const s = assignShards(['a', 'b', 'c', 'd'], before, 2);
    assert.deepEqual(Object.fromEntries(s), { a: 1, b: 1, c: 0, d: 0 });
  });

  test('a gateway of a worker that no longer exists moves; one worker takes all', () => {
    assert.deepEqual(Object.fromEntries(assignShards(['a', 'b'], new Map([['a', 3]]), 2)), { a: 0, b: 1 });
    assert.deepEqual([...assignShards(['a', 'b', 'c'], new Map(), 1).values()], [0, 0, 0]);
    assert.throws(() => assignShards(['a'], new Map(), 0), /workers must be >= 1/);
  });

  test('each worker gets only the records of its gateways', () => {
    const r = (gateway: string) => ({ gateway });
    const records = new Map([
      ['10.0.0.5', r('10.0.0.1')],
      ['10.0.1.5', r('10.0.1.1')],
      ['10.0.0.6', r('10.0.0.1')],
    ]);
    const shards = new Map([
      ['10.0.0.1', 0],
      ['10.0.1.1', 1],
    ]);
    assert.deepEqual(
      recordsOfShard(records, shards, 0).map(([a]) => a),
      ['10.0.0.5', '10.0.0.6'],
    );
    assert.deepEqual(
      recordsOfShard(records, shards, 1).map(([a]) => a),
      ['10.0.1.5'],
    );
  });
});

/** One request on a new connection; the whole answer. */
function get(host: string, port: number, path: string, from: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: from });
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

describe('meta data worker threads (loopback)', () => {
  const port = 20000 + (process.pid % 20000);
  const counts = new Map<string, number>();
  const refusals: Refusal[] = [];
  const exits: { worker: number; gateways: number }[] = [];
  const procfsReasons: string[] = [];
  const pool = new MetadataWorkerPool(2, port, new LocalBinder(), {
    counted: (result, n) => counts.set(result, (counts.get(result) ?? 0) + n),
    refused: (r) => refusals.push(r),
    procfs: (_worker, reason) => procfsReasons.push(reason),
    exited: (worker, _code, gateways) => exits.push({ worker, gateways }),
    rebindFailed: () => {},
    workerError: () => {},
  });
  after(() => pool.stop());

  // A VM at 127.0.0.11 on gateway 127.0.0.2: loopback has no neighbour entries, so the worker
  // that serves 127.0.0.2 must refuse it (no-neighbour), which shows it holds the record.
  const vm: VmRecord = {
    vmId: 'vm-11',
    vmName: 'eleven',
    ip: '127.0.0.11',
    mac: '02:00:00:00:00:11',
    link: 'lo',
    gateway: '127.0.0.2',
    metaData: [['instance-id', 'vm-11']],
    userData: Buffer.from('#cloud-config\n'),
  };

  async function waitFor(what: string, ok: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ok(), what);
  }

  test('serves each gateway from its worker, identity-checked there, counted back in batches', async () => {
    const r = await pool.sync(new Map([[vm.ip, vm]]), ['127.0.0.2', '127.0.0.3']);
    assert.deepEqual(r, { opened: 2, closed: 0, bindErrors: [] });
    assert.match(
      await get('127.0.0.3', port, '/latest/meta-data/instance-id', '127.0.0.12'),
      /^HTTP\/1.1 404 /,
    );
    assert.match(
      await get('127.0.0.2', port, '/latest/meta-data/instance-id', '127.0.0.11'),
      /^HTTP\/1.1 404 /,
    );
    assert.match(await get('127.0.0.2', port, '/latest/../x', '127.0.0.12'), /^HTTP\/1.1 400 /);
    await waitFor(
      'counts reported',
      () => (counts.get('refused') ?? 0) + (counts.get('not-found') ?? 0) >= 2,
    );
    assert.equal(counts.get('refused'), 1);
    assert.equal(counts.get('not-found'), 1);
    assert.deepEqual(refusals, [
      {
        service: 'metadata',
        client: '127.0.0.11',
        gateway: '127.0.0.2',
        reason: 'no-neighbour',
        vmId: 'vm-11',
        link: 'lo',
      },
    ]);
    // The workers judged through netlink when the addon is built (make build), with no fallback.
    if (neighAddon() !== null) assert.deepEqual(procfsReasons, []);
    // A second sync with the same gateways opens nothing new.
    assert.deepEqual(await pool.sync(new Map([[vm.ip, vm]]), ['127.0.0.2', '127.0.0.3']), {
      opened: 0,
      closed: 0,
      bindErrors: [],
    });
  });

  test('a worker that dies is started again, with its records, and its listener bound again', async () => {
    const before = pool.threadIds;
    await pool.kill(0);
    await waitFor('worker 0 exit reported', () => exits.length === 1);
    assert.deepEqual(exits, [{ worker: 0, gateways: 1 }]);
    assert.notEqual(pool.threadIds[0], before[0]);
    assert.equal(pool.threadIds[1], before[1]);
    // Worker 0 served 127.0.0.2 (first gateway, lowest index): it answers again, and refuses again.
    let answer = '';
    for (let i = 0; i < 50 && !answer.startsWith('HTTP/1.1'); i++) {
      answer = await get('127.0.0.2', port, '/latest/user-data', '127.0.0.11').catch(() => '');
      if (!answer) await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(answer, /^HTTP\/1.1 404 /);
    await waitFor('refusal from the new worker', () => refusals.length === 2);
    assert.equal(refusals[1]?.vmId, 'vm-11');
  });

  test('closes the listener of a gateway no longer served', async () => {
    const r = await pool.sync(new Map(), ['127.0.0.3']);
    assert.deepEqual(r, { opened: 0, closed: 1, bindErrors: [] });
    await assert.rejects(get('127.0.0.2', port, '/', '127.0.0.11'), /ECONNREFUSED/);
  });
});
