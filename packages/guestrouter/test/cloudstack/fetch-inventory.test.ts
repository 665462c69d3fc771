import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fetchInventory, missingIsolationReason } from '../../src/cloudstack/inventory.js';
import { FIXTURE_ZONE_ID, generateSimState, networkId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';
import { clientFor } from './helpers.js';

const started: SimulatorHandle[] = [];
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function simulator(...args: Parameters<typeof startSimulator>): Promise<SimulatorHandle> {
  const sim = await startSimulator(...args);
  started.push(sim);
  return sim;
}

describe('fetchInventory against the simulator', () => {
  test('maps VLAN networks, their VMs and public addresses', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 3, vmsPerNetwork: 4, isolation: 'vlan', publicIpsPerNetwork: 2 }),
    });
    const { client } = clientFor(sim, { pageSize: 3 });
    const inventory = await fetchInventory(client, { now: () => 1234 });
    client.close();
    assert.equal(inventory.fetchedAt, 1234);
    assert.deepEqual(inventory.zones, [{ id: FIXTURE_ZONE_ID, name: 'zone1', networkType: 'Advanced' }]);
    assert.deepEqual(
      inventory.networks.map((n) => [n.name, n.isolation, n.cidr, n.gateway]),
      [
        ['guest-1', { kind: 'vlan', id: 101 }, '192.0.2.0/24', '192.0.2.1'],
        ['guest-2', { kind: 'vlan', id: 102 }, '198.51.100.0/24', '198.51.100.1'],
        ['guest-3', { kind: 'vlan', id: 103 }, '203.0.113.0/24', '203.0.113.1'],
      ],
    );
    assert.equal(inventory.nics.length, 12);
    const nic = inventory.nics.find((n) => n.hostname === 'vm-2-3');
    assert.deepEqual(nic, {
      vmId: nic?.vmId,
      vmName: 'vm-2-3',
      hostname: 'vm-2-3',
      networkId: networkId(2),
      macAddress: '02:00:00:02:00:03',
      ipAddress: '198.51.100.4',
      isDefault: true,
      state: 'Running',
      zoneName: 'zone1',
      serviceOfferingName: 'Small Instance',
      hypervisorHost: 'kvm-3',
    });
    assert.equal(inventory.publicIps.length, 6);
    const ip = inventory.publicIps.find((p) => p.vmId === nic?.vmId);
    assert.equal(ip, undefined, 'only the first two VMs of a network have public addresses');
    const first = inventory.publicIps[0];
    assert.equal(first?.networkId, networkId(1));
    assert.equal(first?.state, 'Allocated');
    assert.match(first?.address ?? '', /^198\.1[89]\./);
    // listall on every list call, allocatedonly on public addresses.
    const commands = new Set(sim.requests.map((r) => r.command));
    assert.deepEqual([...commands].sort(), [
      'listEgressFirewallRules',
      'listFirewallRules',
      'listLoadBalancerRules',
      'listNetworks',
      'listPortForwardingRules',
      'listPublicIpAddresses',
      'listVirtualMachines',
      'listZones',
    ]);
  });

  test('reads NAT flags, port forwards, firewall, egress and load balancer rules in CloudStack shapes', async () => {
    const state = generateSimState({
      networks: 1,
      vmsPerNetwork: 2,
      isolation: 'vxlan',
      publicIpsPerNetwork: 1,
    });
    const net = state.networks[0];
    const vm = state.virtualMachines[1];
    const ip = state.publicIpAddresses[0];
    assert.ok(net && vm && ip);
    net.egressdefaultpolicy = false;
    state.publicIpAddresses.push({
      id: 'ip-snat',
      ipaddress: '198.18.9.9',
      associatednetworkid: net.id,
      state: 'Allocated',
      issourcenat: true,
      isstaticnat: false,
    });
    state.portForwardingRules = [
      {
        id: 'pf-1',
        ipaddressid: 'ip-snat',
        ipaddress: '198.18.9.9',
        protocol: 'TCP',
        publicport: '2222',
        publicendport: '2222',
        privateport: '22',
        privateendport: '22',
        virtualmachineid: vm.id,
        vmguestip: '192.0.2.3',
        networkid: net.id,
        state: 'Active',
        cidrlist: '',
      },
      {
        id: 'pf-gone',
        ipaddressid: 'ip-snat',
        protocol: 'tcp',
        publicport: '80',
        privateport: '80',
        virtualmachineid: vm.id,
        state: 'Revoke',
      },
    ];
    state.firewallRules = [
      {
        id: 'fw-1',
        ipaddressid: 'ip-snat',
        protocol: 'tcp',
        startport: 2222,
        endport: 2222,
        cidrlist: '0.0.0.0/0,10.0.0.0/8',
        state: 'Active',
        traffictype: 'Ingress',
      },
    ];
    state.egressFirewallRules = [
      {
        id: 'eg-1',
        networkid: net.id,
        protocol: 'icmp',
        icmptype: 8,
        icmpcode: -1,
        cidrlist: '192.0.2.0/24',
        destcidrlist: '100.64.0.1/32',
        state: 'Active',
        traffictype: 'Egress',
      },
    ];
    state.loadBalancerRules = [
      {
        id: 'lb-1',
        name: 'web',
        publicipid: 'ip-snat',
        publicip: '198.18.9.9',
        publicport: '80',
        privateport: '8080',
        algorithm: 'roundrobin',
        networkid: net.id,
        state: 'Active',
        protocol: 'tcp',
      },
    ];
    state.loadBalancerInstances = { 'lb-1': [vm.id] };
    const sim = await simulator({ state });
    const { client } = clientFor(sim);
    const inventory = await fetchInventory(client);
    client.close();
    assert.equal(inventory.networks[0]?.egressDefaultAllow, false);
    const snat = inventory.publicIps.find((p) => p.id === 'ip-snat');
    assert.deepEqual([snat?.isSourceNat, snat?.isStaticNat], [true, false]);
    const staticIp = inventory.publicIps.find((p) => p.id === ip.id);
    assert.deepEqual([staticIp?.isStaticNat, staticIp?.vmIpAddress], [true, '192.0.2.2']);
    assert.deepEqual(inventory.rules?.portForwards, [
      {
        id: 'pf-1',
        publicIpId: 'ip-snat',
        protocol: 'tcp',
        publicStartPort: '2222',
        publicEndPort: '2222',
        privateStartPort: '22',
        privateEndPort: '22',
        vmId: vm.id,
        vmGuestIp: '192.0.2.3',
        networkId: net.id,
        cidrs: [],
        state: 'Active',
      },
    ]);
    assert.deepEqual(inventory.rules?.firewall[0]?.cidrs, ['0.0.0.0/0', '10.0.0.0/8']);
    assert.deepEqual(inventory.rules?.firewall[0]?.startPort, '2222');
    assert.deepEqual(
      [
        inventory.rules?.egress[0]?.icmpType,
        inventory.rules?.egress[0]?.icmpCode,
        inventory.rules?.egress[0]?.destCidrs,
      ],
      ['8', '-1', ['100.64.0.1/32']],
    );
    assert.deepEqual(inventory.rules?.loadBalancers[0]?.members, [{ vmId: vm.id, ipAddress: '192.0.2.3' }]);
    assert.ok(sim.requests.some((r) => r.command === 'listLoadBalancerRuleInstances' && r.status === 200));
  });

  test('maps VXLAN networks to their VNI', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim);
    const inventory = await fetchInventory(client);
    client.close();
    assert.deepEqual(
      inventory.networks.map((n) => n.isolation),
      [
        { kind: 'vxlan', vni: 5001 },
        { kind: 'vxlan', vni: 5002 },
      ],
    );
    assert.deepEqual(
      inventory.networks.map((n) => n.broadcastUri),
      ['vxlan://5001', 'vxlan://5002'],
    );
  });

  test('leaves isolation undefined for a non-admin key and explains that vlan is returned to root admins only', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vlan' }),
      rootAdmin: false,
    });
    const { client } = clientFor(sim);
    const inventory = await fetchInventory(client);
    client.close();
    assert.equal(inventory.networks.length, 2);
    for (const network of inventory.networks) {
      assert.equal(network.isolation, undefined);
      assert.equal(network.broadcastUri, undefined);
      assert.match(missingIsolationReason(network) ?? '', /returned to root admin accounts only/);
    }
    assert.equal(inventory.nics.length, 2, 'VMs are still listed');
  });

  test('sees a VM added and a network removed between two fetches', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 3, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim);
    const before = await fetchInventory(client);
    assert.equal(before.nics.length, 3);
    const extra = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan', firstId: 2 })
      .virtualMachines[1];
    assert.ok(extra);
    sim.state.virtualMachines.push(extra);
    sim.state.networks = sim.state.networks.filter((n) => n.id !== networkId(3));
    const afterChange = await fetchInventory(client);
    client.close();
    assert.deepEqual(afterChange.nics.map((n) => n.hostname).sort(), [
      'vm-1-1',
      'vm-2-1',
      'vm-2-2',
      'vm-3-1',
    ]);
    assert.deepEqual(
      afterChange.networks.map((n) => n.name),
      ['guest-1', 'guest-2'],
    );
  });

  test('passes the zone filter to every list call', async () => {
    const state = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vlan' });
    const sim = await simulator({ state });
    const { client } = clientFor(sim);
    const none = await fetchInventory(client, { zoneId: 'other-zone' });
    assert.deepEqual([none.zones.length, none.networks.length, none.nics.length], [0, 0, 0]);
    const some = await fetchInventory(client, { zoneId: FIXTURE_ZONE_ID });
    assert.deepEqual([some.zones.length, some.networks.length, some.nics.length], [1, 2, 2]);
    client.close();
  });

  test('rejects the whole fetch when one list call fails, so no partial inventory is returned', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vlan' }),
    });
    const { client } = clientFor(sim, { retries: 0 });
    sim.failNext(1, 'errorcode431', 'listVirtualMachines');
    await assert.rejects(
      () => fetchInventory(client),
      /CloudStack listVirtualMachines failed: errorcode 431/,
    );
    assert.deepEqual(
      sim.requests.map((r) => `${r.command}:${r.status}`),
      ['listZones:200', 'listNetworks:200', 'listNetworks:200', 'listVirtualMachines:431'],
    );
    client.close();
  });

  test('lists 1,000 networks and 10,000 VMs in pages of 500', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 1000, vmsPerNetwork: 10, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim);
    const inventory = await fetchInventory(client);
    client.close();
    assert.equal(inventory.networks.length, 1000);
    assert.equal(inventory.nics.length, 10_000);
    assert.equal(new Set(inventory.networks.map((n) => n.cidr)).size, 1000);
    const byCommand = new Map<string, number>();
    for (const r of sim.requests) byCommand.set(r.command, (byCommand.get(r.command) ?? 0) + 1);
    // Two pages plus the (empty) projects pass each.
    assert.equal(byCommand.get('listNetworks'), 3);
    assert.equal(byCommand.get('listVirtualMachines'), 21);
  });
});

describe('fetchInventory and projects', () => {
  test('includes networks, VMs and addresses owned by projects, which listall alone leaves out', async () => {
    const state = generateSimState({
      networks: 3,
      vmsPerNetwork: 1,
      isolation: 'vlan',
      publicIpsPerNetwork: 1,
    });
    const project = 'p0000000-0000-4000-8000-000000000001';
    for (const item of [state.networks[2], state.virtualMachines[2], state.publicIpAddresses[2]]) {
      if (item) item.projectid = project;
    }
    const sim = await simulator({ state });
    const { client } = clientFor(sim);
    const withProjects = await fetchInventory(client);
    assert.deepEqual(
      [withProjects.networks.length, withProjects.nics.length, withProjects.publicIps.length],
      [3, 3, 3],
    );
    const accountOnly = await fetchInventory(client, { includeProjects: false });
    assert.deepEqual(
      [accountOnly.networks.length, accountOnly.nics.length, accountOnly.publicIps.length],
      [2, 2, 2],
    );
    client.close();
  });
});

describe('fetchInventory uses complete lists only', () => {
  test('a page that ends short of its count fails the read, naming the command and the numbers', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 5, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim);
    sim.failNext(1, 'shortPage', 'listNetworks');
    await assert.rejects(fetchInventory(client), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'incomplete-list');
      assert.match(e.message, /CloudStack listNetworks: incomplete list: received 4 of the 5 items/);
      assert.match(e.message, /nothing is changed/);
      return true;
    });
    client.close();
  });

  test('a short page in the middle of a paged list fails the read', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 7, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim, { pageSize: 3 });
    // Page 1 whole, page 2 short by one: a client that stops at the first short page would take 5 of 7.
    sim.failNext(1, 'shortPage', 'listVirtualMachines', 1);
    await assert.rejects(
      fetchInventory(client),
      /listVirtualMachines: incomplete list: received 5 of the 7 items/,
    );
    client.close();
  });

  test('a page that comes back without items before count is reached fails the read', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 7, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim, { pageSize: 3 });
    // Page 1 of listNetworks passes, page 2 has the count and no items.
    sim.failNext(1, 'missingPage', 'listNetworks', 1);
    await assert.rejects(
      fetchInventory(client),
      /listNetworks: incomplete list: the page came back without items after 3 of 7 \(page 2, pagesize 3\)/,
    );
    assert.equal((await fetchInventory(client)).networks.length, 7, 'the next read, whole, is used');
    client.close();
  });

  test('an empty list is a complete list', async () => {
    const sim = await simulator({
      state: generateSimState({ networks: 0, vmsPerNetwork: 0, isolation: 'vxlan' }),
    });
    const { client } = clientFor(sim);
    const inventory = await fetchInventory(client);
    assert.deepEqual(inventory.networks, []);
    client.close();
  });
});
