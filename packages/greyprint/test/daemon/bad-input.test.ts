import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { serializeRequest } from '../../src/index.js';
import { PolicyConnection, type RunningDaemon, rcpt, startServe } from '../helpers/daemon.js';

describe('bad input against a running daemon', () => {
  let d: RunningDaemon;
  let conn: PolicyConnection;

  before(async () => {
    d = await startServe([
      '--os-static',
      '192.0.2.0/24=Windows XP',
      '--request-timeout',
      '1',
      '--idle-timeout',
      '3',
      '--log-level',
      'info',
    ]);
    conn = await PolicyConnection.open(d.host, d.port);
  });
  after(async () => {
    conn?.close();
    await d?.stop();
  });

  const good = () => rcpt({ client_address: '198.51.100.1' });
  /** After each bad request the same connection must still answer a good one. */
  const stillSane = async (c: PolicyConnection) => assert.equal(await c.ask(good()), 'DUNNO');

  test('a request without request= gets DUNNO, is logged, and the connection goes on', async () => {
    conn.write('protocol_state=RCPT\nclient_address=192.0.2.1\nsender=a@b\nrecipient=c@d\n\n');
    assert.equal(await conn.next(), 'DUNNO');
    await d.waitForLog((l) => l.code === 'missing_request');
    await stillSane(conn);
  });

  test('unknown attributes are ignored', async () => {
    const req = { ...rcpt({ client_address: '192.0.2.1' }), future_attribute: 'x', another_one: 'y=z' };
    assert.match(await conn.ask(req), /^DEFER_IF_PERMIT /);
  });

  test('an over-long line rejects that request only; the next request on the connection is answered', async () => {
    conn.write(
      serializeRequest(rcpt({ sender: `${'x'.repeat(10000)}@example.org` })) + serializeRequest(good()),
    );
    assert.equal(await conn.next(), 'DUNNO');
    assert.equal(await conn.next(), 'DUNNO');
    const line = await d.waitForLog((l) => l.code === 'line_too_long');
    assert.equal(line.limit, 4096);
    await stillSane(conn);
  });

  test('NUL bytes reject the request and keep the connection', async () => {
    conn.write(
      Buffer.concat([
        Buffer.from('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nsender=a'),
        Buffer.from([0]),
        Buffer.from('b@example.org\nrecipient=c@example.net\n\n'),
      ]),
    );
    assert.equal(await conn.next(), 'DUNNO');
    await d.waitForLog((l) => l.code === 'nul_byte');
    await stillSane(conn);
  });

  test('invalid UTF-8 is read byte for byte and decided normally', async () => {
    conn.write(
      Buffer.concat([
        Buffer.from('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.2\nsender=caf'),
        Buffer.from([0xe9, 0xfe]),
        Buffer.from('@example.org\nrecipient=c@example.net\n\n'),
      ]),
    );
    assert.match(await conn.next(), /^DEFER_IF_PERMIT /);
    const line = await d.waitForLog((l) => l.client === '192.0.2.2');
    assert.equal(line.triplet, '192.0.2.0/24/caf\u00e9\u00fe@example.org/c@example.net');
  });

  test('a client address that is not an IP gets DUNNO and a log line', async () => {
    assert.equal(await conn.ask(rcpt({ client_address: 'not-an-ip' })), 'DUNNO');
    assert.equal(await conn.ask(rcpt({ client_address: '' })), 'DUNNO');
    const line = await d.waitForLog((l) => l.verdict === 'bad_address');
    assert.equal(line.client, 'not-an-ip');
    await stillSane(conn);
  });

  test('many requests in one write are answered in order', async () => {
    const reqs = [];
    for (let i = 0; i < 50; i++)
      reqs.push(rcpt({ client_address: i % 2 ? '198.51.100.3' : '192.0.2.3', recipient: `r${i}@x.example` }));
    conn.write(reqs.map((r) => serializeRequest(r)).join(''));
    for (let i = 0; i < 50; i++) {
      const a = await conn.next();
      if (i % 2) assert.equal(a, 'DUNNO');
      else assert.match(a, /^DEFER_IF_PERMIT /);
    }
  });

  test('a stalled half request is closed after the request timeout', async () => {
    const c = await PolicyConnection.open(d.host, d.port);
    c.write('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_addr');
    await c.closed;
    await d.waitForLog((l) => /^closing connection: request not complete within \d+ s$/.test(l.msg ?? ''));
  });

  test('a silent connection is closed after the idle timeout, a busy one is not', async () => {
    const silent = await PolicyConnection.open(d.host, d.port);
    const busy = await PolicyConnection.open(d.host, d.port);
    let silentClosed = false;
    silent.closed.then(() => {
      silentClosed = true;
    });
    // Keep `busy` talking more often than the 3 s idle timeout until `silent` is gone.
    while (!silentClosed) {
      await stillSane(busy);
      await new Promise((r) => setTimeout(r, 500));
    }
    await stillSane(busy);
    busy.close();
    await d.waitForLog((l) => l.msg === 'closing idle connection');
  });
});

describe('many idle connections', () => {
  let d: RunningDaemon;
  before(async () => {
    // Default idle and request timeouts (minutes): nothing is closed during the test.
    d = await startServe(['--os-static', '192.0.2.0/24=Windows XP']);
  });
  after(async () => {
    await d?.stop();
  });

  test('keeps answering while 1,000 idle connections are open', async () => {
    const idle: Socket[] = [];
    try {
      await Promise.all(
        Array.from(
          { length: 1000 },
          () =>
            new Promise<void>((resolve, reject) => {
              const s = connect({ host: d.host, port: d.port });
              s.on('error', () => undefined);
              s.once('connect', () => {
                idle.push(s);
                resolve();
              });
              s.once('error', reject);
            }),
        ),
      );
      // Half of them also leave a half request hanging.
      for (const s of idle.slice(0, 500)) s.write('request=smtpd_access_policy\nprotocol_state=RC');
      const other = await PolicyConnection.open(d.host, d.port);
      for (let i = 0; i < 20; i++) {
        assert.match(
          await other.ask(rcpt({ client_address: '192.0.2.60', recipient: `n${i}@example.net` })),
          /^DEFER_IF_PERMIT /,
        );
      }
      other.close();
      assert.equal(idle.filter((s) => !s.destroyed).length, 1000);
    } finally {
      for (const s of idle) s.destroy();
    }
  });
});
