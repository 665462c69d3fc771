import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PACKAGE_DIR, PolicyConnection, rcpt, runCli, startServe } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'gpc-edges-'));

describe('exit codes and --version', () => {
  test('--version prints the package version and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${pkg.version}\n`);
    }
  });

  test('usage errors exit 2: a bad --server, an unknown option, a non-integer --limit', async () => {
    const bad = await runCli(['check', '--server', 'bad']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--server: "bad" is not HOST:PORT or unix:\/PATH/);
    assert.equal((await runCli(['check', '--no-such-option'])).code, 2);
    assert.equal((await runCli(['list', '--db', ':memory:', '--limit', '1.5'])).code, 2);
    assert.equal((await runCli(['no-such-command'])).code, 2);
  });

  test('check refuses values with line breaks or NUL instead of sending extra attributes', async () => {
    for (const value of ['x\ny=1', 'x\r\ny=1', 'x\ry=1']) {
      const r = await runCli(['check', '--recipient', value, '--server', '127.0.0.1:9']);
      assert.equal(r.code, 2, JSON.stringify(value));
      assert.match(r.stderr, /the value of recipient contains a line break or NUL/);
    }
  });
});

describe('store commands on a missing database', () => {
  for (const cmd of [['list'], ['purge'], ['purge', '--all'], ['list', '--json']]) {
    test(`${cmd.join(' ')} on a mistyped path exits 1 naming it and creates nothing`, async () => {
      const db = join(dir, `typo-${cmd.join('-')}`, 'greylist.sqlite');
      const r = await runCli([...cmd, '--db', db]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`greylist store ${db.replaceAll('.', '\\.')} does not exist`));
      assert.equal(existsSync(db), false);
      assert.equal(existsSync(join(dir, `typo-${cmd.join('-')}`)), false);
    });
  }

  test('allow add, remove and list --file on a missing file exit 1 naming it and create nothing', async () => {
    const file = join(dir, 'no-such-allow.conf');
    for (const args of [
      ['allow', 'add', 'client', '192.0.2.1', '--file', file],
      ['allow', 'remove', 'client', '192.0.2.1', '--file', file],
      ['allow', 'list', '--file', file],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /allow file .*no-such-allow\.conf does not exist/);
      assert.equal(existsSync(file), false);
    }
  });
});

describe('list and purge filters', () => {
  const db = join(dir, 'filters.sqlite');
  let stopped = false;

  test('bad filters exit 2; an address finds the triplets of the network it falls in', async () => {
    // A real daemon writes the store the commands read.
    const d = await startServe(['--db', db, '--os-static', '192.0.2.0/24=Windows XP']);
    try {
      const c = await PolicyConnection.open(d.host, d.port);
      assert.match(await c.ask(rcpt({ client_address: '192.0.2.7' })), /^DEFER_IF_PERMIT /);
      c.close();
    } finally {
      assert.equal(await d.stop(), 0);
      stopped = true;
    }
    for (const args of [
      ['--client', '192.0.2.0/40'],
      ['--client', '192.0.2.7/32'],
      ['--client', 'not an address'],
      ['--confirmed', '--unconfirmed'],
      ['--sender', 'a b@example.org'],
    ]) {
      for (const cmd of ['list', 'purge']) {
        if (cmd === 'purge' && args[0] === '--confirmed') continue;
        const r = await runCli([cmd, '--db', db, ...args]);
        assert.equal(r.code, 2, `${cmd} ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /^greyprint: /);
      }
    }
    const byAddress = await runCli(['list', '--db', db, '--json', '--client', '192.0.2.200']);
    assert.equal(byAddress.code, 0, byAddress.stderr);
    assert.equal((JSON.parse(byAddress.stdout) as { client: string }).client, '192.0.2.0/24');
    const byKey = await runCli(['list', '--db', db, '--json', '--client', '192.0.2.0/24', '--unconfirmed']);
    assert.equal(byKey.stdout, byAddress.stdout);
    const purged = await runCli(['purge', '--db', db, '--client', '192.0.2.9']);
    assert.equal(purged.stdout, 'removed 1 triplets\n');
  });

  after(() => assert.equal(stopped, true));
});

describe('allow-list round trip', () => {
  // Legal addresses (RFC 5321 atext and dot-atom) that the allow file format must keep whole.
  const odd = [
    'x#y@example.com',
    'a#b#c@example.org',
    "o'brien@example.net",
    'user+tag=1@example.com',
    'a!b$c%d&e*f/g=h?i^j_k`l{m|n}~o@example.com',
    'x@sub.example.com',
    'müller@example.de',
    'x#@example.com',
    'postmaster@',
  ];

  test('odd but legal addresses read back identical; unstorable values exit 2 and change nothing', async () => {
    const file = join(dir, 'roundtrip.conf');
    writeFileSync(file, '# greyprint allow-list\n');
    for (const value of odd) {
      const kind = value.endsWith('@') ? 'recipient' : 'sender';
      const r = await runCli(['allow', 'add', kind, value, '--file', file]);
      assert.equal(r.code, 0, `${value}: ${r.stderr}`);
    }
    const listed = await runCli(['allow', 'list', '--file', file]);
    assert.deepEqual(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[1]),
      odd,
    );
    const before = readFileSync(file, 'utf8');
    for (const value of [
      '#x@example.com',
      'a b@example.com',
      '"john doe"@example.com',
      'x\ty@example.com',
      '',
    ]) {
      const r = await runCli(['allow', 'add', 'sender', value, '--file', file]);
      assert.equal(r.code, 2, JSON.stringify(value));
      assert.match(r.stderr, /cannot store|expected "KIND VALUE"/);
    }
    assert.equal(readFileSync(file, 'utf8'), before);
    const removed = await runCli(['allow', 'remove', 'sender', 'x#y@example.com', '--file', file]);
    assert.equal(removed.stdout, `removed 1 from ${file}\n`);
    assert.equal((await runCli(['allow', 'add', 'sender', 'x#y@example.com', '--file', file])).code, 0);
  });

  test('the daemon allows x#y@example.com itself and not the whole domain x', async () => {
    const file = join(dir, 'roundtrip-daemon.conf');
    writeFileSync(file, 'client 203.0.113.0/24 # a trailing comment still works\n');
    assert.equal((await runCli(['allow', 'add', 'sender', 'x#y@example.com', '--file', file])).code, 0);
    const d = await startServe(['--allow-file', file, '--os-static', '192.0.2.0/24=Windows XP']);
    try {
      const c = await PolicyConnection.open(d.host, d.port);
      assert.equal(await c.ask(rcpt({ client_address: '192.0.2.7', sender: 'x#y@example.com' })), 'DUNNO');
      assert.match(
        await c.ask(rcpt({ client_address: '192.0.2.7', sender: 'someone@x' })),
        /^DEFER_IF_PERMIT /,
      );
      assert.match(
        await c.ask(rcpt({ client_address: '192.0.2.7', sender: 'x@example.com' })),
        /^DEFER_IF_PERMIT /,
      );
      assert.equal(await c.ask(rcpt({ client_address: '203.0.113.9' })), 'DUNNO');
      c.close();
    } finally {
      await d.stop();
    }
  });
});
