import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { type DesiredOptions, desiredState } from '../../src/desired/desired.js';
import { gatewayMac } from '../../src/desired/mac.js';
import type { CurrentLink, CurrentState } from '../../src/kernel/types.js';
import { defaultMaxDeletes, diff } from '../../src/plan/diff.js';
import { renderPlan, renderShellPlan } from '../../src/plan/render.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

const base: DesiredOptions = {
  trunk: 'eth1',
  uplink: 'eth0',
  vxlan: parseConfig({}).vxlan,
  selection: parseConfig({}).networks,
  publicRouting: true,
};

function plain(name: string, extra: Partial<CurrentLink> = {}): CurrentLink {
  return { name, up: true, addresses: [], ...extra };
}

/** Kernel defaults as read on this machine: forwarding off, a socket joins at most 20 multicast groups. */
const kernelDefaults = {
  'net.ipv4.ip_forward': '0',
  'net.ipv4.igmp_max_memberships': '20',
  'net.ipv4.conf.default.arp_notify': '0',
};

function currentOf(links: CurrentLink[], sysctls: Record<string, string> = {}): CurrentState {
  return {
    links: new Map(links.map((l) => [l.name, l])),
    sysctls: new Map(Object.entries({ ...kernelDefaults, ...sysctls })),
    proxyNeighbours: [],
  };
}

const hostLinks = [plain('lo'), plain('eth0', { addresses: ['192.0.2.2/24'] }), plain('eth1')];

function planFor(networks = [guestNetwork(1)], current = currentOf(hostLinks), options = base) {
  return diff(desiredState(inventoryOf(networks), options), current, options);
}

/** The kernel after a plan for vxlan5001 (net-1) ran. */
function appliedVxlan5001(extra: Partial<CurrentLink> = {}): CurrentLink {
  return plain('vxlan5001', {
    alias: 'guestrouter:net-1',
    kind: 'vxlan',
    vxlan: { vni: 5001, port: 8472, group: '239.0.19.137', dev: 'eth1', learning: true },
    addresses: ['10.0.1.1/24'],
    ...extra,
  });
}

/** The MAC guestrouter gives net-1's link. */
const mac1 = gatewayMac('net-1');

const appliedSysctls = {
  'net.ipv4.ip_forward': '1',
  'net.ipv4.conf.default.arp_notify': '1',
  'net.ipv4.conf.vxlan5001.arp_notify': '1',
  'net.ipv4.conf.vxlan5001.forwarding': '1',
  'net.ipv4.conf.vxlan5001.proxy_arp': '1',
  'net.ipv4.conf.vxlan5001.rp_filter': '1',
  'net.ipv4.conf.vxlan5001.promote_secondaries': '1',
};

describe('diff and plan rendering', () => {
  test('prints the plan as commands a shell can run, in the namespace when one is given', () => {
    const plan = planFor();
    const batch = renderPlan(plan);
    const shell = renderShellPlan(plan);
    assert.equal(shell.length, batch.length);
    assert.ok(
      shell.includes(
        `ip link add vxlan5001 address ${mac1} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev eth1`,
      ),
    );
    assert.ok(shell.includes('sysctl -w net.ipv4.ip_forward=1'));
    assert.ok(shell.every((line) => line.startsWith('ip ') || line.startsWith('sysctl -w ')));
    const inNs = renderShellPlan(plan, 'r1');
    assert.ok(
      inNs.includes(
        `ip -n r1 link add vxlan5001 address ${mac1} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev eth1`,
      ),
    );
    assert.ok(inNs.includes('ip netns exec r1 sysctl -w net.ipv4.ip_forward=1'));
  });

  test('plans a new VXLAN network as global sysctls, ip -batch lines, then per-link sysctls', () => {
    assert.deepEqual(renderPlan(planFor()), [
      'sysctl -w net.ipv4.ip_forward=1',
      'sysctl -w net.ipv4.conf.default.arp_notify=1',
      `link add vxlan5001 address ${mac1} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev eth1`,
      'link set dev vxlan5001 alias guestrouter:net-1',
      'addr add 10.0.1.1/24 dev vxlan5001',
      'link set dev vxlan5001 up',
      'sysctl -w net.ipv4.conf.vxlan5001.forwarding=1',
      'sysctl -w net.ipv4.conf.vxlan5001.proxy_arp=1',
      'sysctl -w net.ipv4.conf.vxlan5001.rp_filter=1',
      'sysctl -w net.ipv4.conf.vxlan5001.promote_secondaries=1',
      'sysctl -w net.ipv4.conf.vxlan5001.arp_notify=1',
    ]);
  });
  test('plans a VLAN network as <trunk>.<vlan> with a "/" sysctl key (the VLAN path, checked through plan output)', () => {
    const plan = planFor([guestNetwork(1, { isolation: { kind: 'vlan', id: 1234 } })]);
    assert.deepEqual(renderPlan(plan), [
      'sysctl -w net.ipv4.ip_forward=1',
      'sysctl -w net.ipv4.conf.default.arp_notify=1',
      `link add link eth1 name eth1.1234 address ${gatewayMac('net-1')} type vlan id 1234`,
      'link set dev eth1.1234 alias guestrouter:net-1',
      'addr add 10.0.1.1/24 dev eth1.1234',
      'link set dev eth1.1234 up',
      'sysctl -w net.ipv4.conf.eth1/1234.forwarding=1',
      'sysctl -w net.ipv4.conf.eth1/1234.proxy_arp=1',
      'sysctl -w net.ipv4.conf.eth1/1234.rp_filter=1',
      'sysctl -w net.ipv4.conf.eth1/1234.promote_secondaries=1',
      'sysctl -w net.ipv4.conf.eth1/1234.arp_notify=1',
    ]);
  });
  test('plans an evpn VXLAN link with port 4789 and nolearning', () => {
    const options = { ...base, vxlan: parseConfig({ vxlan: { mode: 'evpn', local: '192.0.2.2' } }).vxlan };
    assert.equal(
      renderPlan(planFor([guestNetwork(1)], currentOf(hostLinks), options))[2],
      `link add vxlan5001 address ${mac1} type vxlan id 5001 local 192.0.2.2 dstport 4789 nolearning dev eth1`,
    );
  });
  test('plans nothing when the kernel already matches (a second apply is a no-op)', () => {
    const plan = planFor([guestNetwork(1)], currentOf([...hostLinks, appliedVxlan5001()], appliedSysctls));
    assert.deepEqual(renderPlan(plan), []);
    assert.equal(plan.served, 1);
  });
  test('adds the uplink proxy_arp for a public subnet and nothing else when the rest is in place', () => {
    const pub = guestNetwork(1, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const current = currentOf(
      [...hostLinks, appliedVxlan5001({ addresses: ['198.51.100.1/24'] })],
      appliedSysctls,
    );
    assert.deepEqual(renderPlan(planFor([pub], current)), ['sysctl -w net.ipv4.conf.eth0.proxy_arp=1']);
  });
  test('deletes a marked link whose network left the inventory, and never an unmarked one', () => {
    const stale = plain('vxlan6000', {
      alias: 'guestrouter:gone',
      kind: 'vxlan',
      vxlan: { vni: 6000, learning: true },
    });
    const foreign = plain('vxlan7000', { kind: 'vxlan', vxlan: { vni: 7000, learning: true } });
    const current = currentOf([...hostLinks, appliedVxlan5001(), stale, foreign], appliedSysctls);
    const plan = planFor([guestNetwork(1)], current);
    assert.deepEqual(renderPlan(plan), ['link del dev vxlan6000']);
    assert.deepEqual(plan.changes[0], {
      action: 'delete-link',
      link: 'vxlan6000',
      networkId: 'gone',
      detail: 'its network is no longer served',
    });
  });
  test('keeps the link of a network that is still in the inventory but now refused', () => {
    const broken = guestNetwork(1, { gateway: '10.99.0.1' });
    const current = currentOf([...hostLinks, appliedVxlan5001()], appliedSysctls);
    const plan = planFor([broken, guestNetwork(2)], current);
    assert.ok(!renderPlan(plan).some((line) => line.includes('vxlan5001')));
    assert.deepEqual(plan.kept, [{ link: 'vxlan5001', networkId: 'net-1', reason: 'refused' }]);
    assert.equal(plan.refused[0]?.code, 'gateway-outside-cidr');
  });
  test('refuses a network whose interface name is held by an unmarked link, and touches neither', () => {
    const handMade = plain('vxlan5001', { kind: 'vxlan', vxlan: { vni: 5001, learning: true } });
    const plan = planFor([guestNetwork(1), guestNetwork(2)], currentOf([...hostLinks, handMade]));
    const lines = renderPlan(plan);
    assert.ok(!lines.some((line) => line.includes('vxlan5001')));
    assert.ok(lines.includes('link set dev vxlan5002 up'));
    assert.equal(plan.refused[0]?.code, 'interface-conflict');
    assert.match(plan.refused[0]?.message ?? '', /not managed by guestrouter/);
  });
  test('recreates a marked link whose settings differ (port changed)', () => {
    const current = currentOf(
      [
        ...hostLinks,
        appliedVxlan5001({
          vxlan: { vni: 5001, port: 4789, group: '239.0.19.137', dev: 'eth1', learning: true },
        }),
      ],
      appliedSysctls,
    );
    const lines = renderPlan(planFor([guestNetwork(1)], current));
    assert.equal(lines[0], 'link del dev vxlan5001');
    assert.equal(
      lines[1],
      `link add vxlan5001 address ${mac1} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev eth1`,
    );
    assert.ok(lines.includes('sysctl -w net.ipv4.conf.vxlan5001.proxy_arp=1'));
  });
  test('fixes addresses and state of an existing marked link in place', () => {
    const current = currentOf(
      [...hostLinks, appliedVxlan5001({ up: false, addresses: ['10.0.1.254/24'] })],
      appliedSysctls,
    );
    assert.deepEqual(renderPlan(planFor([guestNetwork(1)], current)), [
      'addr del 10.0.1.254/24 dev vxlan5001',
      'addr add 10.0.1.1/24 dev vxlan5001',
      'link set dev vxlan5001 up',
    ]);
  });
  test('rewrites a sysctl somebody turned off', () => {
    const current = currentOf([...hostLinks, appliedVxlan5001()], {
      ...appliedSysctls,
      'net.ipv4.conf.vxlan5001.proxy_arp': '0',
    });
    assert.deepEqual(renderPlan(planFor([guestNetwork(1)], current)), [
      'sysctl -w net.ipv4.conf.vxlan5001.proxy_arp=1',
    ]);
  });
  test('raises igmp_max_memberships before the batch when more than 20 multicast VXLAN networks are served', () => {
    const networks = Array.from({ length: 25 }, (_, i) => guestNetwork(i + 1));
    const lines = renderPlan(planFor(networks));
    assert.deepEqual(lines.slice(0, 3), [
      'sysctl -w net.ipv4.ip_forward=1',
      'sysctl -w net.ipv4.conf.default.arp_notify=1',
      'sysctl -w net.ipv4.igmp_max_memberships=25',
    ]);
    assert.ok(lines[3]?.startsWith('link add'));
    const raised = currentOf(hostLinks, { 'net.ipv4.igmp_max_memberships': '512' });
    assert.ok(
      !renderPlan(planFor(networks, raised)).some((l) => l.includes('igmp')),
      'a higher limit is never lowered',
    );
    const evpn = { ...base, vxlan: parseConfig({ vxlan: { mode: 'evpn' } }).vxlan };
    assert.ok(!renderPlan(planFor(networks, currentOf(hostLinks), evpn)).some((l) => l.includes('igmp')));
  });
  test('still computes the plan when the trunk is missing, and reports it', () => {
    const plan = planFor([guestNetwork(1)], currentOf([plain('lo')]));
    assert.equal(renderPlan(plan).length, 11);
    assert.deepEqual(plan.missingInterfaces, [
      { role: 'trunk', name: 'eth1' },
      { role: 'uplink', name: 'eth0' },
    ]);
  });
  test('deletes before creating so a VNI moved to another network id is recreated with the new mark', () => {
    const current = currentOf(
      [...hostLinks, appliedVxlan5001({ alias: 'guestrouter:old-net' })],
      appliedSysctls,
    );
    const lines = renderPlan(planFor([guestNetwork(1)], current));
    assert.deepEqual(lines.slice(0, 3), [
      'link del dev vxlan5001',
      `link add vxlan5001 address ${mac1} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev eth1`,
      'link set dev vxlan5001 alias guestrouter:net-1',
    ]);
  });
  test('in addresses mode adds missing proxy neighbours with the mark and deletes only stale marked ones', () => {
    const pub = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const options = { ...base, proxyArp: 'addresses' as const };
    const desired = desiredState(inventoryOf([pub], 2), options);
    const current: CurrentState = {
      ...currentOf(hostLinks),
      proxyNeighbours: [
        { address: '198.51.100.10', dev: 'eth0', protocol: '147' },
        { address: '198.51.100.77', dev: 'eth0', protocol: '147' },
        { address: '198.51.100.78', dev: 'eth0' },
        { address: '198.51.100.79', dev: 'eth0', protocol: '186' },
      ],
    };
    const lines = renderPlan(diff(desired, current, options)).filter((l) => l.startsWith('neigh'));
    assert.deepEqual(lines, [
      'neigh del proxy 198.51.100.77 dev eth0',
      'neigh add proxy 198.51.100.11 dev eth0 protocol 147',
    ]);
  });
  test('switching to addresses mode turns a blanket uplink proxy_arp off', () => {
    const pub = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    const options = { ...base, proxyArp: 'addresses' as const };
    const current = currentOf(hostLinks, { 'net.ipv4.conf.eth0.proxy_arp': '1' });
    assert.ok(
      renderPlan(diff(desiredState(inventoryOf([pub], 1), options), current, options)).includes(
        'sysctl -w net.ipv4.conf.eth0.proxy_arp=0',
      ),
    );
  });
  test('keeps the proxy neighbours of a network that is refused but still in the inventory', () => {
    const broken = guestNetwork(2, { cidr: '198.51.100.0/24', gateway: '203.0.113.1' });
    const options = { ...base, proxyArp: 'addresses' as const };
    const current: CurrentState = {
      ...currentOf(hostLinks),
      proxyNeighbours: [{ address: '198.51.100.10', dev: 'eth0', protocol: '147' }],
    };
    const lines = renderPlan(diff(desiredState(inventoryOf([broken], 1), options), current, options));
    assert.ok(!lines.some((l) => l.startsWith('neigh')));
  });
});

describe('the deletion budget', () => {
  /** n marked links of networks net-1..net-n, as the kernel has them after an apply. */
  function markedLinks(n: number): CurrentLink[] {
    return Array.from({ length: n }, (_, i) =>
      plain(`vxlan${5001 + i}`, {
        alias: `guestrouter:net-${i + 1}`,
        kind: 'vxlan',
        addresses: [`10.0.${i + 1}.1/24`],
      }),
    );
  }

  test('is 5 networks or 10 % of the marked links, whichever is larger', () => {
    assert.equal(defaultMaxDeletes(0), 5);
    assert.equal(defaultMaxDeletes(50), 5);
    assert.equal(defaultMaxDeletes(51), 6);
    assert.equal(defaultMaxDeletes(2000), 200);
  });

  test('within the budget, the links of removed networks are deleted', () => {
    const current = currentOf([...hostLinks, ...markedLinks(8)]);
    const plan = diff(
      desiredState(inventoryOf([guestNetwork(1), guestNetwork(2), guestNetwork(3)]), base),
      current,
      {
        ...base,
        maxDeletes: 5,
      },
    );
    assert.equal(plan.changes.filter((c) => c.action === 'delete-link').length, 5);
    assert.equal(plan.deletionsWithheld, undefined);
  });

  test('above the budget nothing is deleted, the links are kept with the reason, the rest is planned', () => {
    const current = currentOf([...hostLinks, ...markedLinks(8)]);
    const plan = diff(desiredState(inventoryOf([guestNetwork(9)]), base), current, {
      ...base,
      maxDeletes: 5,
    });
    assert.ok(!renderPlan(plan).some((l) => l.startsWith('link del')), renderPlan(plan).join('\n'));
    assert.deepEqual(plan.deletionsWithheld?.links, [
      'vxlan5001',
      'vxlan5002',
      'vxlan5003',
      'vxlan5004',
      'vxlan5005',
      'vxlan5006',
      'vxlan5007',
      'vxlan5008',
    ]);
    assert.equal(plan.deletionsWithheld?.limit, 5);
    assert.ok(plan.kept.every((k) => k.reason === 'deletion-budget'));
    assert.ok(
      renderPlan(plan).some((l) => l.startsWith('link add vxlan5009')),
      'a new network is still added',
    );
  });

  test('above the budget the proxy neighbours of the kept links stay too', () => {
    const options = { ...base, proxyArp: 'addresses' as const };
    const links = markedLinks(7).map((l, i) => ({ ...l, addresses: [`198.51.${100 + i}.1/24`] }));
    const current: CurrentState = {
      ...currentOf([...hostLinks, ...links]),
      proxyNeighbours: [{ address: '198.51.102.10', dev: 'eth0', protocol: '147' }],
    };
    const plan = diff(desiredState(inventoryOf([]), options), current, { ...options, maxDeletes: 5 });
    assert.ok(plan.deletionsWithheld);
    assert.ok(!renderPlan(plan).some((l) => l.startsWith('neigh del')));
  });
});

describe('crash consistency, gateway MACs and gateway changes', () => {
  test('gateway MACs are derived from the network id: stable, locally administered, unicast, distinct', () => {
    assert.equal(gatewayMac('net-1'), gatewayMac('net-1'));
    assert.notEqual(gatewayMac('net-1'), gatewayMac('net-2'));
    for (const id of ['net-1', 'net-2', 'b0000000-0000-4000-8000-000000000001']) {
      const first = Number.parseInt(gatewayMac(id).slice(0, 2), 16);
      assert.equal(first & 0x02, 0x02, 'locally administered');
      assert.equal(first & 0x01, 0, 'unicast');
      assert.match(gatewayMac(id), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
  });

  test('an unmarked link exactly as an interrupted apply left it (down, no address) is adopted and completed', () => {
    const leftover = appliedVxlan5001({ alias: undefined, up: false, addresses: [], mac: mac1 });
    const plan = planFor([guestNetwork(1)], currentOf([...hostLinks, leftover], appliedSysctls));
    assert.deepEqual(plan.refused, []);
    assert.equal(plan.served, 1);
    assert.deepEqual(plan.ipCommands, [
      'link set dev vxlan5001 alias guestrouter:net-1',
      'addr add 10.0.1.1/24 dev vxlan5001',
      'link set dev vxlan5001 up',
    ]);
    assert.ok(plan.changes.some((c) => c.action === 'adopt-link'));
  });

  test('an unmarked link that is up, addressed, or has other settings is an operator link: refused, untouched', () => {
    for (const extra of [
      { up: true },
      { addresses: ['10.0.1.1/24'] },
      { vxlan: { vni: 5001, learning: true } },
    ]) {
      const handMade = appliedVxlan5001({ alias: undefined, up: false, addresses: [], ...extra });
      const plan = planFor([guestNetwork(1)], currentOf([...hostLinks, handMade]));
      assert.equal(plan.refused[0]?.code, 'interface-conflict', JSON.stringify(extra));
      assert.ok(!plan.ipCommands.some((l) => l.includes('vxlan5001')));
    }
  });

  test('a gateway change on an existing link turns promote_secondaries on before the batch deletes the old address', () => {
    const current = currentOf(
      [...hostLinks, appliedVxlan5001({ addresses: ['10.0.1.1/24', '10.0.1.200/24'] })],
      {
        ...appliedSysctls,
        'net.ipv4.conf.vxlan5001.promote_secondaries': '0',
      },
    );
    const plan = planFor([guestNetwork(1, { gateway: '10.0.1.254' })], current);
    assert.deepEqual(renderPlan(plan), [
      'sysctl -w net.ipv4.conf.vxlan5001.promote_secondaries=1',
      'addr del 10.0.1.1/24 dev vxlan5001',
      'addr del 10.0.1.200/24 dev vxlan5001',
      'addr add 10.0.1.254/24 dev vxlan5001',
    ]);
  });
});
