import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PolicyConnection, type RunningDaemon, rcpt, runCli, sleep, startServe } from '../helpers/daemon.js';

describe('greyprint serve (child process, memory store)', () => {
  let d: RunningDaemon;
  let conn: PolicyConnection;
  const dir = mkdtempSync(join(tmpdir(), 'gpc-serve-'));
  const allowFile = join(dir, 'allow.conf');
  const configFile = join(dir, 'greyprint.json');

  before(async () => {
    writeFileSync(allowFile, '# empty at start\n');
    writeFileSync(configFile, JSON.stringify({ os: { static: ['203.0.113.0/24=Windows 7 or 8'] } }));
    d = await startServe([
      '--config',
      configFile,
      '--delay',
      '1',
      '--allow-file',
      allowFile,
      '--os-static',
      '192.0.2.0/24=Windows XP',
      '--os-static',
      '198.51.100.0/24=Linux 3.11 and newer',
    ]);
    conn = await PolicyConnection.open(d.host, d.port);
  });
  after(async () => {
    conn?.close();
    await d?.stop();
  });

  test('greylists a desktop Windows client on first try and accepts the retry after the delay', async () => {
    const req = rcpt({ client_address: '192.0.2.10', sender: 'prvs=0123456789=alice@example.org' });
    // Times are whole seconds (as postgrey's): a first try at x.99 s and a retry at (x+1).01 s count as
    // one second apart, which is the whole 1 s delay here. Start early in a second so both tries share it.
    while (Date.now() % 1000 > 300) await sleep(20);
    const first = await conn.ask(req);
    assert.match(
      first,
      /^DEFER_IF_PERMIT Greylisted by greyprint: desktop Windows client, retry in 1 seconds$/,
    );
    assert.match(await conn.ask({ ...req, sender: 'alice@example.org' }), /^DEFER_IF_PERMIT /);
    await sleep(1100);
    assert.equal(await conn.ask(req), 'DUNNO');
    const line = await d.waitForLog((l) => l.verdict === 'pass' && l.client === '192.0.2.10');
    assert.equal(line.triplet, '192.0.2.0/24/alice@example.org/bob@example.net');
    assert.equal(line.os, 'Windows XP');
    assert.equal(line.rule, 'desktop-windows');
    assert.equal(typeof line.ms, 'number');
  });

  test('accepts a Linux client and an unknown OS at once', async () => {
    assert.equal(await conn.ask(rcpt({ client_address: '198.51.100.7' })), 'DUNNO');
    assert.equal(await conn.ask(rcpt({ client_address: '2001:db8::7' })), 'DUNNO');
    const line = await d.waitForLog((l) => l.client === '198.51.100.7');
    assert.equal(line.verdict, 'accept');
  });

  test('accepts desktop Windows with a verified mail-server name, greylists a dynamic one', async () => {
    assert.equal(
      await conn.ask(rcpt({ client_address: '192.0.2.20', client_name: 'mail.example.com' })),
      'DUNNO',
    );
    assert.match(
      await conn.ask(
        rcpt({
          client_address: '192.0.2.21',
          client_name: 'dsl-192-0-2-21.pool.example.net',
          sender: 'z@x.example',
        }),
      ),
      /^DEFER_IF_PERMIT /,
    );
  });

  test('adds X-P0f-OS once per message at DATA, never at RCPT or END-OF-MESSAGE', async () => {
    const instance = 'msg.many.rcpts';
    const base = { client_address: '198.51.100.8', instance };
    for (const r of ['a@example.net', 'b@example.net', 'c@example.net']) {
      assert.equal(await conn.ask(rcpt({ ...base, recipient: r })), 'DUNNO');
    }
    assert.equal(
      await conn.ask(rcpt({ ...base, protocol_state: 'DATA', recipient: '' })),
      'PREPEND X-P0f-OS: Linux 3.11 and newer',
    );
    // The same message asked again (policy listed twice) gets no second header.
    assert.equal(await conn.ask(rcpt({ ...base, protocol_state: 'DATA', recipient: '' })), 'DUNNO');
    assert.equal(await conn.ask(rcpt({ ...base, protocol_state: 'END-OF-MESSAGE', recipient: '' })), 'DUNNO');
    assert.equal(
      await conn.ask(rcpt({ client_address: '2001:db8::9', protocol_state: 'DATA', recipient: '' })),
      'PREPEND X-P0f-OS: unknown',
    );
  });

  test('pins from the config file apply (Windows 7 or 8)', async () => {
    assert.match(await conn.ask(rcpt({ client_address: '203.0.113.5' })), /^DEFER_IF_PERMIT /);
  });

  test('allow-list entries added with `allow add` apply after SIGHUP', async () => {
    const req = rcpt({ client_address: '192.0.2.30', sender: 'friend@partner.example' });
    assert.match(await conn.ask(req), /^DEFER_IF_PERMIT /);
    const added = await runCli(['allow', 'add', 'sender', 'partner.example', '--file', allowFile]);
    assert.equal(added.code, 0, added.stderr);
    // And a config-file change: the 203.0.113.0/24 pin becomes Linux.
    // maxConnections is restart-only: the reload warns and keeps the running value.
    writeFileSync(
      configFile,
      JSON.stringify({ os: { static: ['203.0.113.0/24=Linux 2.2.x-3.x'] }, maxConnections: 100 }),
    );
    const reloads = d.logs.filter((l) => l.msg === 'reloaded').length;
    d.child.kill('SIGHUP');
    await d.waitForLog(
      (l) => l.msg === 'reloaded' && d.logs.filter((x) => x.msg === 'reloaded').length > reloads,
    );
    const restartOnly = d.logs.filter((l) => l.event === 'reload' && l.level === 'warn').map((l) => l.key);
    assert.deepEqual(restartOnly, ['maxConnections']);
    assert.equal(await conn.ask(req), 'DUNNO');
    const line = await d.waitForLog((l) => l.verdict === 'allow');
    assert.match(String(line.reason), /sender partner\.example/);
    assert.equal(await conn.ask(rcpt({ client_address: '203.0.113.6', sender: 'q@r.example' })), 'DUNNO');
    // The command-line pins survive the reload.
    assert.match(
      await conn.ask(rcpt({ client_address: '192.0.2.31', sender: 'new@x.example' })),
      /^DEFER_IF_PERMIT /,
    );
  });

  test('a broken config file on SIGHUP keeps the running configuration', async () => {
    writeFileSync(configFile, '{ broken');
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.msg === 'reload failed; keeping the previous configuration');
    assert.equal(await conn.ask(rcpt({ client_address: '198.51.100.9' })), 'DUNNO');
    assert.match(
      await conn.ask(rcpt({ client_address: '192.0.2.40', sender: 's@t.example' })),
      /^DEFER_IF_PERMIT /,
    );
  });
});

describe('fail open', () => {
  let hung: Server;
  let d: RunningDaemon;
  const dir = mkdtempSync(join(tmpdir(), 'gpc-failopen-'));
  const sock = join(dir, 'p0f.sock');
  const held: import('node:net').Socket[] = [];

  before(async () => {
    // A "p0f" that accepts and never answers.
    hung = createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hung.listen(sock, r));
    d = await startServe(['--p0f-socket', sock, '--delay', '300']);
  });
  after(async () => {
    await d?.stop();
    for (const s of held) s.destroy();
    await new Promise((r) => hung.close(r));
  });

  test('answers DUNNO with OS unknown when the OS source never answers', async () => {
    const conn = await PolicyConnection.open(d.host, d.port);
    try {
      assert.equal(await conn.ask(rcpt({ client_address: '192.0.2.50' })), 'DUNNO');
      assert.equal(
        await conn.ask(rcpt({ client_address: '192.0.2.50', protocol_state: 'DATA', recipient: '' })),
        'PREPEND X-P0f-OS: unknown',
      );
      const line = await d.waitForLog((l) => l.client === '192.0.2.50' && l.state === 'RCPT');
      assert.equal(line.os, 'unknown');
      assert.equal(line.verdict, 'accept');
    } finally {
      conn.close();
    }
  });
});
