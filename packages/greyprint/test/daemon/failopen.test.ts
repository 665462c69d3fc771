import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import {
  type GreylistStore,
  MemoryStore,
  parseConfig,
  serializeRequest,
  startDaemon,
} from '../../src/index.js';
import { PolicyConnection, rcpt } from '../helpers/daemon.js';

/**
 * Fault injection in process: the store below is the real MemoryStore with one
 * operation made to fail or hang, which a real SQLite file cannot be made to do
 * on demand (we run as root, so permissions do not stop writes).
 */
class FaultyStore extends MemoryStore {
  constructor(private readonly mode: 'throw' | 'hang') {
    super();
  }
  override recordAttempt(...args: Parameters<GreylistStore['recordAttempt']>) {
    if (this.mode === 'hang') return new Promise<never>(() => undefined);
    if (this.mode === 'throw') return Promise.reject(new Error('SQLITE_IOERR: disk I/O error'));
    return super.recordAttempt(...args);
  }
}

async function withDaemon(
  store: GreylistStore,
  run: (c: PolicyConnection, metrics: () => Promise<string>) => Promise<void>,
) {
  const config = parseConfig({
    listen: ['127.0.0.1:0'],
    db: ':memory:',
    deadlineMs: 200,
    os: { static: ['192.0.2.0/24=Windows XP'] },
  });
  const daemon = await startDaemon(config, { store, logger: pino({ level: 'silent' }) });
  const [host, port] = (daemon.addresses[0] ?? '').split(':');
  const conn = await PolicyConnection.open(host ?? '', Number(port));
  try {
    await run(conn, () => daemon.metrics.registry.metrics());
  } finally {
    conn.close();
    await daemon.close();
  }
}

describe('fail open on internal faults', () => {
  test('a store error answers DUNNO and counts greyprint_failopen_total{reason="store"}', async () => {
    await withDaemon(new FaultyStore('throw'), async (conn, metrics) => {
      assert.equal(await conn.ask(rcpt({ client_address: '192.0.2.1' })), 'DUNNO');
      assert.match(await metrics(), /greyprint_failopen_total\{reason="store"\} 1/);
    });
  });

  test('a store that never answers gets DUNNO at the deadline and later requests still flow in order', async () => {
    await withDaemon(new FaultyStore('hang'), async (conn, metrics) => {
      assert.equal(await conn.ask(rcpt({ client_address: '192.0.2.1' })), 'DUNNO');
      assert.equal(await conn.ask(rcpt({ client_address: '198.51.100.1' })), 'DUNNO');
      assert.match(await metrics(), /greyprint_failopen_total\{reason="deadline"\} 1/);
    });
  });

  test('close() answers the requests in flight before it resolves', async () => {
    const config = parseConfig({
      listen: ['127.0.0.1:0'],
      db: ':memory:',
      deadlineMs: 300,
      os: { static: ['192.0.2.0/24=Windows XP'] },
    });
    const daemon = await startDaemon(config, {
      store: new FaultyStore('hang'),
      logger: pino({ level: 'silent' }),
    });
    const [host, port] = (daemon.addresses[0] ?? '').split(':');
    const conn = await PolicyConnection.open(host ?? '', Number(port));
    try {
      conn.write(serializeRequest(rcpt({ client_address: '192.0.2.1' })));
      // Let the request reach the daemon, then stop it while the store still hangs.
      await new Promise((r) => setTimeout(r, 50));
      const closing = daemon.close();
      assert.equal(await conn.next(), 'DUNNO');
      await closing;
      await conn.closed;
    } finally {
      conn.close();
    }
  });
});
