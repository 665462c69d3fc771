import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildInventory,
  ISOLATION_HIDDEN_REASON,
  mapNetwork,
  mapPublicIp,
  mapVirtualMachineNics,
  missingIsolationReason,
  parseIsolation,
} from '../../src/cloudstack/inventory.js';
import type { RawNetwork, RawVirtualMachine } from '../../src/cloudstack/messages.js';

const BASE: RawNetwork = {
  id: 'net-1',
  name: 'web',
  zoneid: 'zone-1',
  cidr: '203.0.113.0/24',
  gateway: '203.0.113.1',
  netmask: '255.255.255.0',
};

describe('isolation from broadcasturi and vlan', () => {
  test('reads a VLAN from vlan://1234', () => {
    assert.deepEqual(parseIsolation({ broadcasturi: 'vlan://1234' }), { kind: 'vlan', id: 1234 });
  });

  test('reads a VXLAN segment from vxlan://5001', () => {
    assert.deepEqual(parseIsolation({ broadcasturi: 'vxlan://5001' }), { kind: 'vxlan', vni: 5001 });
  });

  test('accepts the scheme in any case', () => {
    assert.deepEqual(parseIsolation({ broadcasturi: 'VLAN://77' }), { kind: 'vlan', id: 77 });
  });

  test('gives no isolation for vlan://untagged and private VLANs', () => {
    assert.equal(parseIsolation({ broadcasturi: 'vlan://untagged' }), undefined);
    assert.equal(parseIsolation({ broadcasturi: 'pvlan://100-i200' }), undefined);
    assert.equal(parseIsolation({ broadcasturi: 'lswitch://abc', vlan: 'N/A' }), undefined);
  });

  test('falls back to the vlan field, with broadcastdomaintype choosing VLAN or VXLAN', () => {
    assert.deepEqual(parseIsolation({ vlan: '1234' }), { kind: 'vlan', id: 1234 });
    assert.deepEqual(parseIsolation({ vlan: '5001', broadcastdomaintype: 'Vxlan' }), {
      kind: 'vxlan',
      vni: 5001,
    });
    assert.deepEqual(parseIsolation({ broadcasturi: '42', broadcastdomaintype: 'Vlan' }), {
      kind: 'vlan',
      id: 42,
    });
  });

  test('keeps an out-of-range VLAN number so the planner can refuse it with the number', () => {
    assert.deepEqual(parseIsolation({ broadcasturi: 'vlan://5000' }), { kind: 'vlan', id: 5000 });
  });

  test('gives no isolation when both vlan and broadcasturi are absent', () => {
    assert.equal(parseIsolation({}), undefined);
  });
});

describe('missingIsolationReason', () => {
  test('says that vlan and broadcasturi are returned to root admins only when both are absent', () => {
    const network = mapNetwork(BASE);
    assert.ok(network);
    const reason = missingIsolationReason(network);
    assert.ok(reason?.includes(ISOLATION_HIDDEN_REASON));
    assert.match(reason ?? '', /network web \(net-1\)/);
    assert.match(reason ?? '', /root admin/);
  });

  test('names the unusable broadcasturi instead when CloudStack sent one', () => {
    const network = mapNetwork({ ...BASE, broadcasturi: 'vlan://untagged' });
    assert.ok(network);
    assert.match(missingIsolationReason(network) ?? '', /broadcasturi vlan:\/\/untagged/);
  });

  test('is undefined for a network with isolation', () => {
    const network = mapNetwork({ ...BASE, broadcasturi: 'vlan://10' });
    assert.ok(network);
    assert.equal(missingIsolationReason(network), undefined);
  });
});

describe('network mapping', () => {
  test('maps services with their first provider, tags as key=value, and keeps the raw broadcasturi', () => {
    const network = mapNetwork({
      ...BASE,
      broadcasturi: 'vxlan://5001',
      state: 'Implemented',
      service: [
        { name: 'Dhcp', provider: [{ name: 'VirtualRouter' }, { name: 'Other' }] },
        { name: 'UserData', provider: [] },
      ],
      tags: [
        { key: 'router', value: 'guestrouter' },
        { key: '', value: 'bare' },
      ],
    });
    assert.deepEqual(network, {
      id: 'net-1',
      name: 'web',
      zoneId: 'zone-1',
      isolation: { kind: 'vxlan', vni: 5001 },
      broadcastUri: 'vxlan://5001',
      cidr: '203.0.113.0/24',
      gateway: '203.0.113.1',
      netmask: '255.255.255.0',
      services: [{ name: 'Dhcp', provider: 'VirtualRouter' }, { name: 'UserData' }],
      tags: ['router=guestrouter', 'bare'],
      state: 'Implemented',
    });
  });

  test('leaves out an L2 network, which has no cidr, and reports it as skipped', () => {
    const l2: RawNetwork = { id: 'l2', name: 'l2', zoneid: 'zone-1', broadcasturi: 'vlan://5', type: 'L2' };
    assert.equal(mapNetwork(l2), undefined);
    const { inventory, skipped } = buildInventory(
      { zones: [], networks: [l2, BASE], virtualMachines: [], publicIpAddresses: [] },
      1,
    );
    assert.deepEqual(
      inventory.networks.map((n) => n.id),
      ['net-1'],
    );
    assert.deepEqual(skipped, [{ kind: 'network', id: 'l2', reason: 'no IPv4 cidr/gateway (L2 network)' }]);
  });
});

describe('VM and public address mapping', () => {
  const vm: RawVirtualMachine = {
    id: 'vm-id',
    name: 'web-1',
    displayname: 'Web server 1',
    hostname: 'kvm-host-07',
    state: 'Running',
    nic: [
      {
        id: 'n1',
        networkid: 'net-1',
        macaddress: '02:00:AB:CD:00:01',
        ipaddress: '203.0.113.5',
        isdefault: true,
      },
      { id: 'n2', networkid: 'net-2', macaddress: '02:00:ab:cd:00:02' },
    ],
  };

  test('uses the VM name as hostname, not the hypervisor host CloudStack calls hostname', () => {
    const nics = mapVirtualMachineNics(vm);
    assert.deepEqual(nics, [
      {
        vmId: 'vm-id',
        vmName: 'Web server 1',
        hostname: 'web-1',
        networkId: 'net-1',
        macAddress: '02:00:ab:cd:00:01',
        ipAddress: '203.0.113.5',
        isDefault: true,
        state: 'Running',
        hypervisorHost: 'kvm-host-07',
      },
    ]);
  });

  test('reports NICs without an IPv4 address as skipped', () => {
    const { skipped } = buildInventory(
      { zones: [], networks: [], virtualMachines: [vm], publicIpAddresses: [] },
      1,
    );
    assert.deepEqual(skipped, [{ kind: 'nic', id: 'vm-id', reason: '1 NIC(s) without IPv4 address or MAC' }]);
  });

  test('takes the guest network of a public address from associatednetworkid, not networkid', () => {
    assert.deepEqual(
      mapPublicIp({
        id: 'ip-1',
        ipaddress: '198.18.0.5',
        networkid: 'public-net',
        associatednetworkid: 'net-1',
        virtualmachineid: 'vm-id',
        state: 'Allocated',
      }),
      { id: 'ip-1', address: '198.18.0.5', networkId: 'net-1', vmId: 'vm-id', state: 'Allocated' },
    );
  });
});

describe('what the meta data server takes from a VM', () => {
  const vm: RawVirtualMachine = {
    id: 'vm-1',
    name: 'web-1',
    account: 'alice',
    domainid: 'd1',
    nic: [{ id: 'nic-1', networkid: 'net-1', macaddress: '02:00:00:00:00:01', ipaddress: '203.0.113.10' }],
  };

  test('key pair names (keypairs, or the older keypair) with their owner, and user data variables', () => {
    const [nic] = mapVirtualMachineNics({
      ...vm,
      keypairs: 'laptop, ci',
      keypair: 'ignored',
      userdatadetails: '{variable1=one, role=web}',
    });
    assert.deepEqual(nic?.keyPairs, ['laptop', 'ci']);
    assert.deepEqual(nic?.owner, { account: 'alice', domainId: 'd1' });
    assert.deepEqual(nic?.userDataDetails, [
      ['variable1', 'one'],
      ['role', 'web'],
    ]);
    assert.deepEqual(mapVirtualMachineNics({ ...vm, keypair: 'old' })[0]?.keyPairs, ['old']);
  });

  test('a VM without key pairs or variables gets none of those fields', () => {
    const [nic] = mapVirtualMachineNics(vm);
    assert.equal(nic !== undefined && 'keyPairs' in nic, false);
    assert.equal(nic !== undefined && 'owner' in nic, false);
    assert.equal(nic !== undefined && 'userDataDetails' in nic, false);
  });
});
