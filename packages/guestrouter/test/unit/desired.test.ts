import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { confKey, type DesiredOptions, desiredState } from '../../src/desired/desired.js';
import { networkIdFromMark } from '../../src/desired/types.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

function options(overrides: Partial<DesiredOptions> = {}): DesiredOptions {
  const config = parseConfig({});
  return {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: config.vxlan,
    selection: config.networks,
    publicRouting: true,
    ...overrides,
  };
}

describe('desiredState', () => {
  test('gives a VXLAN network vxlan<VNI> on the trunk with CloudStack multicast group, port 8472 and the gateway', () => {
    const state = desiredState(inventoryOf([guestNetwork(1)]), options());
    assert.equal(state.links.length, 1);
    const link = state.links[0];
    assert.deepEqual(link?.spec, {
      kind: 'vxlan',
      vni: 5001,
      port: 8472,
      dev: 'eth1',
      learning: true,
      group: '239.0.19.137',
    });
    assert.equal(link?.name, 'vxlan5001');
    assert.deepEqual(link?.addresses, ['10.0.1.1/24']);
    assert.equal(networkIdFromMark(link?.alias), 'net-1');
  });
  test('in evpn mode uses port 4789, no group and no learning', () => {
    const config = parseConfig({ vxlan: { mode: 'evpn', local: '192.0.2.10' } });
    const state = desiredState(inventoryOf([guestNetwork(1)]), options({ vxlan: config.vxlan }));
    assert.deepEqual(state.links[0]?.spec, {
      kind: 'vxlan',
      vni: 5001,
      port: 4789,
      dev: 'eth1',
      learning: false,
      local: '192.0.2.10',
    });
  });
  test('gives a VLAN network <trunk>.<vlan> as in the seed', () => {
    const state = desiredState(
      inventoryOf([guestNetwork(1, { isolation: { kind: 'vlan', id: 1234 } })]),
      options(),
    );
    assert.equal(state.links[0]?.name, 'eth1.1234');
    assert.deepEqual(state.links[0]?.spec, { kind: 'vlan', id: 1234, parent: 'eth1' });
  });
  test('refuses a VLAN whose interface name would exceed 15 characters', () => {
    const state = desiredState(
      inventoryOf([guestNetwork(1, { isolation: { kind: 'vlan', id: 1234 } })]),
      options({ trunk: 'enp129s0f1np1' }),
    );
    assert.equal(state.links.length, 0);
    assert.equal(state.refused[0]?.code, 'interface-name-too-long');
  });
  test('enables ip_forward, proxy_arp and forwarding per link, and proxy_arp on the uplink for a public subnet', () => {
    const pub = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const state = desiredState(inventoryOf([guestNetwork(1), pub]), options());
    const keys = state.sysctls.map((s) => `${s.key}=${s.value}`);
    assert.deepEqual(keys, [
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.default.arp_notify=1',
      'net.ipv4.igmp_max_memberships=2',
      'net.ipv4.conf.eth0.proxy_arp=1',
      'net.ipv4.conf.vxlan5001.forwarding=1',
      'net.ipv4.conf.vxlan5001.proxy_arp=1',
      'net.ipv4.conf.vxlan5001.rp_filter=1',
      'net.ipv4.conf.vxlan5001.promote_secondaries=1',
      'net.ipv4.conf.vxlan5001.arp_notify=1',
      'net.ipv4.conf.vxlan5002.forwarding=1',
      'net.ipv4.conf.vxlan5002.proxy_arp=1',
      'net.ipv4.conf.vxlan5002.rp_filter=1',
      'net.ipv4.conf.vxlan5002.promote_secondaries=1',
      'net.ipv4.conf.vxlan5002.arp_notify=1',
    ]);
    assert.equal(state.links.find((l) => l.name === 'vxlan5002')?.public, true);
    assert.equal(state.links.find((l) => l.name === 'vxlan5001')?.public, false);
  });
  test('leaves the uplink alone when only private subnets are served or public routing is off', () => {
    const pub = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const onlyPrivate = desiredState(inventoryOf([guestNetwork(1)]), options());
    assert.ok(!onlyPrivate.sysctls.some((s) => s.key.includes('eth0')));
    const off = desiredState(inventoryOf([pub]), options({ publicRouting: false }));
    assert.ok(!off.sysctls.some((s) => s.key.includes('eth0')));
  });
  test('writes a dotted VLAN interface name with "/" in sysctl keys', () => {
    assert.equal(confKey('eth1.1234', 'proxy_arp'), 'net.ipv4.conf.eth1/1234.proxy_arp');
  });
  test('selects networks by id, name or tag and reports the rest as skipped', () => {
    const nets = [guestNetwork(1), guestNetwork(2), guestNetwork(3, { tags: ['routed'] }), guestNetwork(4)];
    const config = parseConfig({ networks: { ids: ['net-1'], names: ['tenant-2'], tags: ['routed'] } });
    const state = desiredState(inventoryOf(nets), options({ selection: config.networks }));
    assert.deepEqual(
      state.links.map((l) => l.networkId),
      ['net-1', 'net-2', 'net-3'],
    );
    assert.deepEqual(
      state.skipped.map((s) => s.networkId),
      ['net-4'],
    );
    assert.equal(state.inventoryNetworkIds.has('net-4'), true);
  });
  test('serves every network when the selection is empty, in numeric link order', () => {
    const nets = [guestNetwork(10), guestNetwork(9), guestNetwork(100)];
    const state = desiredState(inventoryOf(nets), options());
    assert.deepEqual(
      state.links.map((l) => l.name),
      ['vxlan5009', 'vxlan5010', 'vxlan5100'],
    );
  });
  test('in addresses mode lists one proxy neighbour per VM address of a public network and turns the uplink proxy_arp off', () => {
    const pub = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const inventory = inventoryOf([guestNetwork(1), pub], 2);
    const stray = {
      ...(inventory.nics[2] as (typeof inventory.nics)[number]),
      vmId: 'stray',
      ipAddress: '192.0.2.50',
    };
    const state = desiredState(
      { ...inventory, nics: [...inventory.nics, stray] },
      options({ proxyArp: 'addresses' }),
    );
    assert.deepEqual(state.proxyNeighbours, [
      { address: '198.51.100.10', dev: 'eth0', networkId: 'net-2' },
      { address: '198.51.100.11', dev: 'eth0', networkId: 'net-2' },
    ]);
    assert.ok(state.sysctls.some((s) => s.key === 'net.ipv4.conf.eth0.proxy_arp' && s.value === '0'));
    assert.deepEqual(desiredState(inventory, options()).proxyNeighbours, [], 'none in interface mode');
  });
  test('remembers the VM addresses of refused networks so their proxy entries are kept', () => {
    const broken = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '203.0.113.1' });
    const state = desiredState(inventoryOf([broken], 1), options({ proxyArp: 'addresses' }));
    assert.deepEqual(state.proxyNeighbours, []);
    assert.deepEqual([...state.keepProxyAddresses], ['198.51.100.10']);
  });
});
