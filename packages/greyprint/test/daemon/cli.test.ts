import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from 'opskit/testing';
import { type RunningDaemon, runCli, startServe } from '../helpers/daemon.js';

/** A port nothing listens on: bound, then released (opskit's free port). */
const deadPort = freePort;

describe('greyprint CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpc-cli-'));
  const db = join(dir, 'greylist.sqlite');
  let d: RunningDaemon;

  before(async () => {
    d = await startServe(['--db', db, '--os-static', '192.0.2.0/24=Windows 7 or 8']);
  });
  after(async () => {
    await d?.stop();
  });

  test('check prints the action of a running daemon and exits 0', async () => {
    const r = await runCli([
      'check',
      '--server',
      d.address,
      '--client-address',
      '192.0.2.44',
      '--sender',
      'someone@example.org',
      '--recipient',
      'user@example.net',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^DEFER_IF_PERMIT Greylisted by greyprint: desktop Windows client, retry in 300 seconds\n$/,
    );
    const header = await runCli([
      'check',
      '--server',
      d.address,
      '--client-address',
      '192.0.2.44',
      '--state',
      'DATA',
    ]);
    assert.equal(header.stdout, 'PREPEND X-P0f-OS: Windows 7 or 8\n');
  });

  test('list shows the greylisted triplet from the SQLite file, purge removes it', async () => {
    assert.equal(await d.stop(), 0);
    const listed = await runCli(['list', '--db', db, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { client: string; sender: string; recipient: string; passes: number });
    assert.deepEqual(
      rows.map((r) => [r.client, r.sender, r.recipient, r.passes]),
      [['192.0.2.0/24', 'someone@example.org', 'user@example.net', 0]],
    );
    const purged = await runCli(['purge', '--db', db, '--client', '192.0.2.0/24']);
    assert.equal(purged.stdout, 'removed 1 triplets\n');
    assert.equal((await runCli(['list', '--db', db, '--json'])).stdout, '');
  });

  test('check exits 1 with a clear message when no daemon listens', async () => {
    const r = await runCli(['check', '--server', `127.0.0.1:${await deadPort()}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot talk to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });

  test('config check prints the effective config as JSON', async () => {
    const file = join(dir, 'good.json');
    writeFileSync(
      file,
      JSON.stringify({ greylist: { delaySec: 120 }, os: { static: ['192.0.2.0/24=Windows XP'] } }),
    );
    const r = await runCli(['config', 'check', '--config', file, '--os-static', '198.51.100.0/24=Linux']);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as {
      greylist: { delaySec: number };
      os: { static: string[] };
      listen: string[];
    };
    assert.equal(c.greylist.delaySec, 120);
    assert.deepEqual(c.os.static, ['192.0.2.0/24=Windows XP', '198.51.100.0/24=Linux']);
    assert.deepEqual(c.listen, ['127.0.0.1:10023']);
  });

  test('config check names the file and key of a bad value and exits 2', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ greylist: { delaySec: 'soon' } }));
    const r = await runCli(['config', 'check', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`${file.replaceAll('.', '\\.')}: greylist\\.delaySec: Expected number`),
    );
    const flag = await runCli(['config', 'check', '--listen', 'nowhere']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /command line: listen\[0\]: expected HOST:PORT/);
  });

  test('serve refuses a bad config with exit 2 before listening', async () => {
    const r = await runCli(['serve', '--os-static', '192.0.2.0/24 Windows', '--db', ':memory:']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /os\.static\[0\]: "192\.0\.2\.0\/24 Windows" is not CIDR=LABEL/);
  });

  test('allow add, list and remove edit the allow file', async () => {
    const file = join(dir, 'allow.conf');
    writeFileSync(file, '');
    assert.equal((await runCli(['allow', 'add', 'client', '198.51.100.0/24', '--file', file])).code, 0);
    const bad = await runCli(['allow', 'add', 'client', 'nonsense', '--file', file]);
    assert.equal(bad.code, 2);
    const listed = await runCli(['allow', 'list', '--file', file]);
    assert.equal(listed.stdout, `client\t198.51.100.0/24\t${file}:1\n`);
    assert.equal(
      (await runCli(['allow', 'remove', 'client', '198.51.100.0/24', '--file', file])).stdout,
      `removed 1 from ${file}\n`,
    );
  });

  test('--help shows an example for each command', async () => {
    for (const cmd of [['serve'], ['check'], ['list'], ['purge'], ['allow', 'add'], ['config', 'check']]) {
      const r = await runCli([...cmd, '--help']);
      assert.equal(r.code, 0, cmd.join(' '));
      assert.match(r.stdout, /Example/, cmd.join(' '));
    }
  });
});
