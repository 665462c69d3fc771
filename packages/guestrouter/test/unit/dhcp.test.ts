import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import type { Inventory } from '../../src/inventory/types.js';
import type { CurrentLink, CurrentState } from '../../src/kernel/types.js';
import { diff } from '../../src/plan/diff.js';
import { droppedHosts, renderDhcp } from '../../src/services/dhcp.js';
import { servingNetworks } from '../../src/services/serving.js';
import { guestNetwork, inventoryOf, vmNic } from '../helpers/inventory.js';

const files = { hostsFile: '/run/gr/dhcp-hosts', pidFile: '/run/gr/dnsmasq.pid', leaseTime: '12h' };

function render(
  inventory: Inventory,
  extra: Partial<typeof files & { domain: string; dns: { hostsFile: string; upstream: string[] } }> = {},
) {
  const config = parseConfig({});
  const desired = desiredState(inventory, {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: config.vxlan,
    selection: config.networks,
    publicRouting: true,
  });
  const current: CurrentState = { links: new Map(), sysctls: new Map(), proxyNeighbours: [] };
  const plan = diff(desired, current, { trunk: 'eth1', uplink: 'eth0' });
  return renderDhcp(servingNetworks(inventory, desired, current, plan), inventory, { ...files, ...extra });
}

/** Every one of `lines` is a whole line of `conf`. */
function assertLines(conf: string, lines: readonly string[]): void {
  const have = conf.split('\n');
  for (const line of lines) assert.ok(have.includes(line), `missing: ${line}\n${conf}`);
}

describe('renderDhcp', () => {
  test('one static range and router per served network, one host line per VM NIC', () => {
    const r = render(inventoryOf([guestNetwork(1), guestNetwork(2)], 2), { domain: 'cloud.example' });
    assert.equal(r.networks, 2);
    assert.equal(r.leases, 4);
    assert.deepEqual(r.skipped, []);
    assertLines(r.conf, [
      'port=0',
      'leasefile-ro',
      'dhcp-authoritative',
      'dhcp-hostsfile=/run/gr/dhcp-hosts',
      'pid-file=/run/gr/dnsmasq.pid',
      'interface=vxlan5001',
      'dhcp-range=set:gr_vxlan5001,10.0.1.0,static,255.255.255.0,12h',
      'dhcp-option=tag:gr_vxlan5001,option:router,10.0.1.1',
      'dhcp-option=tag:gr_vxlan5001,option:domain-name,cloud.example',
      'interface=vxlan5002',
      'dhcp-range=set:gr_vxlan5002,10.0.2.0,static,255.255.255.0,12h',
      'dhcp-option=tag:gr_vxlan5002,option:router,10.0.2.1',
    ]);
    assert.equal(
      r.hosts,
      [
        '02:00:00:00:00:0a,10.0.1.10,vm-10',
        '02:00:00:00:00:0b,10.0.1.11,vm-11',
        '02:00:00:00:00:0a,10.0.2.10,vm-10',
        '02:00:00:00:00:0b,10.0.2.11,vm-11',
        '',
      ].join('\n'),
    );
  });

  test('refused networks get no DHCP, and NICs that cannot be served are skipped with why', () => {
    const ok = guestNetwork(1);
    const vr = guestNetwork(2, { services: [{ name: 'Dhcp', provider: 'VirtualRouter' }] });
    const base = inventoryOf([ok, vr], 1);
    const inventory: Inventory = {
      ...base,
      nics: [
        ...base.nics,
        { ...vmNic(ok, 20), macAddress: 'not-a-mac' },
        { ...vmNic(ok, 21), ipAddress: '172.16.0.5' },
        { ...vmNic(ok, 22), macAddress: '02:00:00:00:00:0A' },
        { ...vmNic(ok, 23), hostname: 'bad name!', vmName: 'also bad' },
      ],
    };
    const r = render(inventory);
    assert.equal(r.networks, 1);
    assert.doesNotMatch(r.conf, /vxlan5002/);
    assert.equal(
      r.hosts,
      ['02:00:00:00:00:0a,10.0.1.10,vm-10', '02:00:00:00:00:17,10.0.1.23', ''].join('\n'),
    );
    assert.equal(r.skipped.length, 3);
    assert.match(r.skipped[0] as string, /NIC not-a-mac 10\.0\.1\.20: not a MAC address/);
    assert.match(r.skipped[1] as string, /10\.0\.1\.22: MAC already given another address in this network/);
    assert.match(r.skipped[2] as string, /172\.16\.0\.5: address outside its network/);
  });

  test('with DNS: port 53, the VM names (and NAME.DOMAIN), the gateway as DNS server, the rest forwarded', () => {
    const dns = { hostsFile: '/run/gr/dns-hosts', upstream: ['192.0.2.53', '198.51.100.53'] };
    const r = render(inventoryOf([guestNetwork(1)], 2), { domain: 'cloud.example', dns });
    assertLines(r.conf, [
      'port=53',
      'addn-hosts=/run/gr/dns-hosts',
      'domain=cloud.example',
      'local=/cloud.example/',
      'server=192.0.2.53',
      'server=198.51.100.53',
      'dhcp-option=tag:gr_vxlan5001,option:dns-server,10.0.1.1',
    ]);
    assert.ok(!r.conf.split('\n').includes('port=0'));
    assert.equal(r.dnsHosts, '10.0.1.10 vm-10 vm-10.cloud.example\n10.0.1.11 vm-11 vm-11.cloud.example\n');
    const plain = render(inventoryOf([guestNetwork(1)], 1));
    assert.ok(plain.conf.split('\n').includes('port=0'), 'DNS stays off unless asked for');
    assert.doesNotMatch(plain.conf, /addn-hosts|dns-server/);
  });

  test('nothing served: no network in the configuration and no host lines', () => {
    const r = render(inventoryOf([], 0));
    assert.equal(r.networks, 0);
    assert.equal(r.hosts, '');
    assert.doesNotMatch(r.conf, /^interface=/m);
  });
});

describe('servingNetworks: services follow what is served', () => {
  const options = {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: parseConfig({}).vxlan,
    selection: parseConfig({}).networks,
    publicRouting: true,
  };
  const link = (name: string, extra: Partial<CurrentLink>): CurrentLink => ({
    name,
    up: true,
    addresses: [],
    ...extra,
  });
  const stateOf = (links: CurrentLink[]): CurrentState => ({
    links: new Map(links.map((l) => [l.name, l])),
    sysctls: new Map(),
    proxyNeighbours: [],
  });

  test('a link somebody else made under the name of a network is never served', () => {
    const inventory = inventoryOf([guestNetwork(1), guestNetwork(2)], 1);
    const desired = desiredState(inventory, options);
    const current = stateOf([
      link('vxlan5002', { kind: 'vxlan', vxlan: { vni: 5002, learning: true }, addresses: ['10.9.9.9/24'] }),
    ]);
    const plan = diff(desired, current, options);
    assert.deepEqual(
      servingNetworks(inventory, desired, current, plan).map((n) => n.link),
      ['vxlan5001'],
    );
  });

  test('a network refused for an overlap but kept is served with the gateway its link carries', () => {
    const kept = guestNetwork(1);
    const overlapping = guestNetwork(2, {
      cidr: '10.0.1.0/25',
      gateway: '10.0.1.126',
      netmask: '255.255.255.128',
    });
    const inventory = inventoryOf([kept, overlapping], 1);
    const desired = desiredState(inventory, options);
    const current = stateOf([
      link('vxlan5001', { alias: 'guestrouter:net-1', kind: 'vxlan', addresses: ['10.0.1.1/24'] }),
    ]);
    const plan = diff(desired, current, options);
    const serving = servingNetworks(inventory, desired, current, plan);
    assert.deepEqual(
      serving.map((n) => [n.link, n.gateway, n.kept]),
      [['vxlan5001', '10.0.1.1', true]],
    );
    const r = renderDhcp(serving, inventory, files);
    assert.ok(r.conf.includes('dhcp-range=set:gr_vxlan5001,10.0.1.0,static,255.255.255.0,12h'));
    assert.ok(r.hosts.includes('10.0.1.10'), 'its VMs keep their leases');
  });

  test('a link whose plan lines failed is not served', () => {
    const inventory = inventoryOf([guestNetwork(1), guestNetwork(2)], 1);
    const desired = desiredState(inventory, options);
    const current = stateOf([]);
    const plan = diff(desired, current, options);
    assert.deepEqual(
      servingNetworks(inventory, desired, current, plan, new Set(['vxlan5001'])).map((n) => n.link),
      ['vxlan5002'],
    );
  });
});

describe('leases of removed NICs', () => {
  test('a host line gone, or its address given to another MAC, is released; unchanged and new ones are not', () => {
    const before = '02:00:00:00:00:01,10.0.0.2,a\n02:00:00:00:00:02,10.0.0.3,b\n02:00:00:00:00:03,10.0.0.4\n';
    const after = '02:00:00:00:00:02,10.0.0.3,b2\n02:00:00:00:00:09,10.0.0.4\n02:00:00:00:00:05,10.0.0.5\n';
    assert.deepEqual(droppedHosts(before, after), [
      { mac: '02:00:00:00:00:01', ip: '10.0.0.2' },
      { mac: '02:00:00:00:00:03', ip: '10.0.0.4' },
    ]);
    assert.deepEqual(droppedHosts('', after), []);
    assert.deepEqual(droppedHosts(before, before), []);
  });
});
