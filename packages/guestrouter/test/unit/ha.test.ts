import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import {
  type HaSettings,
  parseStateFile,
  parseTransitions,
  renderKeepalivedConfig,
  renderNotifyScript,
  vridFor,
  vrrpInstances,
} from '../../src/ha/vrrp.js';
import { diff } from '../../src/plan/diff.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

const ha: HaSettings = {
  routerId: 'r1',
  priority: 150,
  interface: 'eth1',
  peers: ['192.0.2.2'],
  sourceAddress: '192.0.2.1',
  authPass: 's3cret',
  advertIntervalSeconds: 1,
  nopreempt: true,
};

function links(networks = [guestNetwork(1), guestNetwork(2)], vrrp = true) {
  return desiredState(inventoryOf(networks), {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: parseConfig({}).vxlan,
    selection: parseConfig({}).networks,
    publicRouting: true,
    vrrp,
  });
}

describe('VRRP instances and keepalived configuration', () => {
  test('one instance per network, id from the VNI, gateway as virtual address on its guest link', () => {
    const d = links();
    const instances = vrrpInstances(d.links);
    assert.deepEqual(
      instances.map((i) => [i.name, i.vrid, i.addresses, i.networkIds]),
      [
        ['gr_157', 157, [{ address: '10.0.1.1/24', dev: 'vxlan5001' }], ['net-1']],
        ['gr_158', 158, [{ address: '10.0.2.1/24', dev: 'vxlan5002' }], ['net-2']],
      ],
    );
    assert.equal(vridFor(d.links[0] as (typeof d.links)[0]), (5001 % 255) + 1);
  });

  test('networks whose ids collide share one instance instead of being refused', () => {
    const d = links([guestNetwork(1), guestNetwork(2, { isolation: { kind: 'vxlan', vni: 5001 + 255 } })]);
    const instances = vrrpInstances(d.links);
    assert.equal(instances.length, 1);
    assert.deepEqual(instances[0]?.networkIds, ['net-1', 'net-2']);
    assert.equal(instances[0]?.addresses.length, 2);
  });

  test('rendered configuration: nopreempt, unicast peers, auth, tracked link, notify', () => {
    const text = renderKeepalivedConfig(vrrpInstances(links().links), ha, { notifyScript: '/s/notify.sh' });
    assert.match(
      text,
      /vrrp_instance gr_157 \{\n {2}state BACKUP\n {2}interface eth1\n {2}virtual_router_id 157\n {2}priority 150\n/,
    );
    assert.match(
      text,
      / {2}nopreempt\n {2}unicast_src_ip 192\.0\.2\.1\n {2}unicast_peer \{\n {4}192\.0\.2\.2\n {2}\}/,
    );
    assert.match(text, /auth_type PASS\n {4}auth_pass s3cret/);
    assert.match(text, /track_interface \{\n {4}vxlan5001\n {2}\}/);
    assert.match(
      text,
      /virtual_ipaddress \{\n {4}10\.0\.1\.1\/24 dev vxlan5001\n {2}\}\n {2}notify \/s\/notify\.sh/,
    );
    const multicast = renderKeepalivedConfig(
      vrrpInstances(links().links),
      { ...ha, peers: [], nopreempt: false, authPass: undefined } as HaSettings,
      { notifyScript: '/n' },
    );
    assert.doesNotMatch(multicast, /unicast|nopreempt|authentication/);
    assert.doesNotMatch(text, /version 3/);
    const fast = renderKeepalivedConfig(
      vrrpInstances(links().links),
      { ...ha, advertIntervalSeconds: 0.5 },
      { notifyScript: '/n' },
    );
    assert.match(fast, /advert_int 0\.5\n {2}version 3\n/);
  });

  test("a network's NAT public addresses join its instance on the uplink, labelled; the uplink is not tracked", () => {
    const uplink = {
      uplink: 'eth0',
      label: 'eth0:gr',
      addresses: [
        { address: '203.0.113.7', networkId: 'net-2' },
        { address: '203.0.113.5', networkId: 'net-2' },
        { address: '203.0.113.9', networkId: 'net-unserved' },
        { address: '203.0.113.5', networkId: 'net-1' },
      ],
    };
    const instances = vrrpInstances(links().links, uplink);
    assert.deepEqual(
      instances.map((i) => i.addresses),
      [
        [{ address: '10.0.1.1/24', dev: 'vxlan5001' }],
        [
          { address: '10.0.2.1/24', dev: 'vxlan5002' },
          { address: '203.0.113.5/32', dev: 'eth0', label: 'eth0:gr' },
          { address: '203.0.113.7/32', dev: 'eth0', label: 'eth0:gr' },
        ],
      ],
      'gateway first; an unserved network is skipped; an address is held by one instance only',
    );
    const text = renderKeepalivedConfig(instances, ha, { notifyScript: '/n' });
    assert.match(text, / {4}203\.0\.113\.5\/32 dev eth0 label eth0:gr\n/);
    assert.match(text, /track_interface \{\n {4}vxlan5002\n {2}\}/);
  });

  test('keepalived itself accepts the rendered configuration (in a namespace with the links)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gr-ha-'));
    const ns = `gr${process.pid}-haconf`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    try {
      ip('netns', 'add', ns);
      // keepalived refuses interfaces the host lacks: eth1 and the two guest links exist in the namespace.
      ip('-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p');
      for (const vni of ['5001', '5002'])
        ip(
          '-n',
          ns,
          'link',
          'add',
          `vxlan${vni}`,
          'type',
          'vxlan',
          'id',
          vni,
          'dstport',
          '8472',
          'dev',
          'eth1',
        );
      const file = join(dir, 'keepalived.conf');
      const check = () =>
        execFileSync('ip', ['netns', 'exec', ns, 'keepalived', '--config-test', '--use-file', file], {
          stdio: 'pipe',
        });
      writeFileSync(
        file,
        renderKeepalivedConfig(
          vrrpInstances(links().links, {
            uplink: 'eth1',
            label: 'eth1:gr',
            addresses: [{ address: '203.0.113.5', networkId: 'net-1' }],
          }),
          ha,
          { notifyScript: '/bin/true' },
        ),
      );
      check(); // exit 0: no error
      writeFileSync(file, 'vrrp_instance x {\n  interface eth1\n  virtual_router_id 999\n}\n');
      assert.throws(check);
    } finally {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with ha the plan never adds the gateway address (keepalived does) nor deletes it', () => {
    const d = links([guestNetwork(1)]);
    assert.ok(d.sysctls.some((s) => s.key === 'net.ipv4.ip_nonlocal_bind' && s.value === '1'));
    assert.ok(d.sysctls.some((s) => s.key === 'net.ipv6.conf.vxlan5001.disable_ipv6' && s.value === '1'));
    const empty = { links: new Map(), proxyNeighbours: [], sysctls: new Map() };
    const plan = diff(d, empty, { trunk: 'eth1', uplink: 'eth0', maxDeletes: 5 });
    assert.ok(
      plan.ipCommands.some((c) => c.startsWith('link add vxlan5001')),
      plan.ipCommands.join('\n'),
    );
    assert.ok(!plan.ipCommands.some((c) => c.includes('addr add 10.0.1.1/24')));
    // Without ha the same inventory adds it: the control.
    const plain = diff(links([guestNetwork(1)], false), empty, {
      trunk: 'eth1',
      uplink: 'eth0',
      maxDeletes: 5,
    });
    assert.ok(plain.ipCommands.some((c) => c.includes('addr add 10.0.1.1/24')));
  });

  test('state files and the transitions log parse; garbage is skipped', () => {
    assert.deepEqual(parseStateFile('MASTER 1764521000\n'), { role: 'MASTER', since: 1764521000 });
    assert.deepEqual(parseStateFile('bogus'), { role: 'UNKNOWN' });
    assert.deepEqual(parseTransitions('1 gr_1 BACKUP\nnoise\n2 gr_1 MASTER\n'), [
      { at: 1, instance: 'gr_1', role: 'BACKUP' },
      { at: 2, instance: 'gr_1', role: 'MASTER' },
    ]);
  });

  test('the notify script writes the state file and appends a transition; odd names are ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), "gr-ha-'q"));
    try {
      const script = join(dir, 'notify.sh');
      writeFileSync(script, renderNotifyScript(dir), { mode: 0o700 });
      execFileSync(script, ['INSTANCE', 'gr_7', 'MASTER', '100']);
      execFileSync(script, ['INSTANCE', '../x', 'MASTER', '100']);
      const state = execFileSync('cat', [join(dir, 'gr_7')], { encoding: 'utf8' });
      assert.equal(parseStateFile(state).role, 'MASTER');
      const log = parseTransitions(execFileSync('cat', [join(dir, 'transitions')], { encoding: 'utf8' }));
      assert.deepEqual(
        log.map((t) => [t.instance, t.role]),
        [['gr_7', 'MASTER']],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('config: ha off by default, nopreempt on; bad peer and auth refused by key', () => {
    const c = parseConfig({});
    assert.equal(c.ha.enabled, false);
    assert.equal(c.ha.nopreempt, true);
    assert.throws(() => parseConfig({ ha: { peers: ['nope'] } }), /ha\.peers\[0\]: must be an IPv4 address/);
    assert.throws(() => parseConfig({ ha: { authPass: 'far too long' } }), /ha\.authPass/);
    // VRRPv3 (sub-second adverts) has no authentication.
    assert.throws(() => parseConfig({ ha: { authPass: 'abc' } }), /ha\.authPass: authPass needs a whole/);
    assert.equal(parseConfig({ ha: { authPass: 'abc', advertIntervalSeconds: 1 } }).ha.authPass, 'abc');
    // Password replication: off by default; listen or peers need the shared secret.
    assert.deepEqual(c.ha.passwordSync, { peers: [] });
    assert.throws(
      () => parseConfig({ ha: { passwordSync: { peers: ['http://10.0.0.2:8089'] } } }),
      /ha\.passwordSync\.secret: required when ha\.passwordSync\.listen or peers are set/,
    );
    assert.throws(() => parseConfig({ ha: { passwordSync: { listen: 'nohost' } } }), /must be HOST:PORT/);
    assert.throws(() => parseConfig({ ha: { passwordSync: { peers: ['not a url'] } } }), /must be a URL/);
    assert.throws(() => parseConfig({ ha: { passwordSync: { secret: 'short' } } }), /at least 16/);
  });
});
