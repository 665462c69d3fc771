import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { renderConntrackdConfig, renderConntrackHook } from '../../src/ha/conntrackd.js';
import { type HaSettings, renderKeepalivedConfig, type VrrpInstance } from '../../src/ha/vrrp.js';

const sync = { interface: 'trunk', localAddress: '10.255.0.1', peerAddress: '10.255.0.2', port: 3780 };

describe('conntrackd configuration and transition hook', () => {
  test('FTFW over unicast UDP between the two addresses; the files under the state dir', () => {
    const text = renderConntrackdConfig(sync, '/var/lib/guestrouter/ha/conntrackd');
    assert.match(text, /Mode FTFW \{/);
    assert.match(text, /IPv4_address 10\.255\.0\.1\n\s+IPv4_Destination_Address 10\.255\.0\.2\n\s+Port 3780/);
    assert.match(text, /Interface trunk/);
    assert.match(text, /LockFile \/var\/lib\/guestrouter\/ha\/conntrackd\/conntrackd\.lock/);
    assert.match(text, /UNIX \{ Path \/var\/lib\/guestrouter\/ha\/conntrackd\/conntrackd\.ctl \}/);
    // The routers' own connections (the sync itself among them) are not synced.
    assert.match(text, /Address Ignore \{[^}]*IPv4_address 10\.255\.0\.2/);
  });

  test('the real conntrackd parses the configuration (a syntax error would be reported first)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gr-ctd-'));
    try {
      // `-s` asks a running daemon for its statistics; the file is parsed before the daemon is looked for.
      const check = (text: string) => {
        const file = join(dir, 'conntrackd.conf');
        writeFileSync(file, text);
        const r = spawnSync('conntrackd', ['-C', file, '-s'], { encoding: 'utf8' });
        return `${r.stdout}${r.stderr}`;
      };
      assert.match(check('Sync { Mode FTFW { nonsense } }\n'), /syntax error/);
      const good = check(renderConntrackdConfig(sync, dir));
      assert.doesNotMatch(good, /syntax error/);
      assert.match(good, /can't connect: is conntrackd running/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('hook: primary commits, flushes, resyncs and sends in bulk; backup asks for a resync; a held lock skips a second commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gr-ctd-'));
    try {
      // A recorder in place of conntrackd: the hook's own logic (order, lock) is what is under test here;
      // the real conntrackd runs in the e2e test (test/e2e/ha-conntrack.test.ts).
      const calls = join(dir, 'calls');
      const binary = join(dir, 'recorder');
      writeFileSync(
        binary,
        `#!/bin/sh\nprintf "%s\\n" "$3" >> ${calls}\n[ "$3" = -c ] && sleep "\${SLOW:-0}"\nexit 0\n`,
      );
      chmodSync(binary, 0o755);
      const hook = join(dir, 'transition.sh');
      writeFileSync(hook, renderConntrackHook(binary, join(dir, 'c.conf'), join(dir, 'transition.lock')));
      chmodSync(hook, 0o700);
      execFileSync(hook, ['primary']);
      execFileSync(hook, ['backup']);
      execFileSync(hook, ['fault']);
      assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['-c', '-f', '-R', '-B', '-n']);
      // Many instances become master at once: while one commit runs, the others leave it to that one.
      writeFileSync(calls, '');
      const slow = spawn(hook, ['primary'], { env: { ...process.env, SLOW: '1' }, stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
      execFileSync(hook, ['primary']);
      await new Promise((r) => slow.once('close', r));
      assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['-c', '-f', '-R', '-B']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('keepalived calls the hook on master, backup and fault only when one is given', () => {
    const settings: HaSettings = {
      routerId: 'r1',
      priority: 100,
      interface: 'trunk',
      peers: ['10.255.0.2'],
      advertIntervalSeconds: 1,
      nopreempt: true,
    };
    const instances: VrrpInstance[] = [
      { name: 'gr_7', vrid: 7, addresses: [{ address: '10.0.1.1/24', dev: 'vxlan5001' }], networkIds: ['n'] },
    ];
    const without = renderKeepalivedConfig(instances, settings, { notifyScript: '/s/notify.sh' });
    assert.doesNotMatch(without, /notify_master/);
    const withHook = renderKeepalivedConfig(instances, settings, {
      notifyScript: '/s/notify.sh',
      transitionHook: '/s/conntrackd/transition.sh',
    });
    assert.match(withHook, /notify \/s\/notify\.sh\n/);
    assert.match(withHook, /notify_master "\/s\/conntrackd\/transition\.sh primary"/);
    assert.match(withHook, /notify_backup "\/s\/conntrackd\/transition\.sh backup"/);
    assert.match(withHook, /notify_fault "\/s\/conntrackd\/transition\.sh fault"/);
  });

  test('config: off by default; on, it needs both sync addresses (its own or ha.sourceAddress / ha.peers)', () => {
    const off = parseConfig({}).ha.conntrack;
    assert.equal(off.enabled, false);
    assert.equal(off.port, 3780);
    assert.throws(
      () => parseConfig({ ha: { enabled: true, peers: ['10.255.0.2'], conntrack: { enabled: true } } }),
      /conntrack\.localAddress \(or ha\.sourceAddress\)/,
    );
    assert.throws(
      () => parseConfig({ ha: { enabled: true, conntrack: { enabled: true, localAddress: '10.255.0.1' } } }),
      /conntrack\.peerAddress \(or ha\.peers\)/,
    );
    const on = parseConfig({
      ha: { enabled: true, peers: ['10.255.0.2'], sourceAddress: '10.255.0.1', conntrack: { enabled: true } },
    }).ha.conntrack;
    assert.equal(on.enabled, true);
    assert.throws(
      () => parseConfig({ ha: { conntrack: { enabled: true, peerAddress: 'router-b' } } }),
      /must be an IPv4 address/,
    );
  });
});
