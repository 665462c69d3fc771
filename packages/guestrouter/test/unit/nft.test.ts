import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import type { FirewallRule, InventoryRules, PortForwardRule } from '../../src/inventory/rules.js';
import type { Inventory, PublicIp } from '../../src/inventory/types.js';
import { parseNftRuleset } from '../../src/nft/current.js';
import { desiredNft } from '../../src/nft/desired.js';
import { diffNft } from '../../src/nft/diff.js';
import { ruleHash } from '../../src/nft/render.js';
import type { CurrentNft, DesiredNft } from '../../src/nft/types.js';
import { cidrMatch, parsePortRange, protocolMatch } from '../../src/nft/validate.js';
import { operationsFromChanges } from '../../src/plan/operations.js';
import { diffPublicAddresses, parseLabelledAddresses } from '../../src/publicip/publicip.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

// Two private networks (10.0.1.0/24 vxlan5001, 10.0.2.0/24 vxlan5002) and one public (198.51.100.0/24 vxlan5003).
const netA = guestNetwork(1);
const netB = guestNetwork(2);
const netPub = guestNetwork(3, {
  cidr: '198.51.100.0/24',
  gateway: '198.51.100.1',
  netmask: '255.255.255.0',
});

const snatA: PublicIp = { id: 'ip-snat-a', address: '203.0.113.10', networkId: netA.id, isSourceNat: true };
const staticA: PublicIp = {
  id: 'ip-static-a',
  address: '203.0.113.11',
  networkId: netA.id,
  isStaticNat: true,
  vmId: `vm-${netA.id}-10`,
  vmIpAddress: '10.0.1.10',
};

function pf(id: string, over: Partial<PortForwardRule> = {}): PortForwardRule {
  return {
    id,
    publicIpId: snatA.id,
    protocol: 'tcp',
    publicStartPort: '2222',
    publicEndPort: '2222',
    privateStartPort: '22',
    privateEndPort: '22',
    vmId: `vm-${netA.id}-11`,
    cidrs: [],
    ...over,
  };
}

function fw(id: string, over: Partial<FirewallRule> = {}): FirewallRule {
  return {
    id,
    publicIpId: snatA.id,
    protocol: 'tcp',
    startPort: '2222',
    endPort: '2222',
    cidrs: ['0.0.0.0/0'],
    destCidrs: [],
    ...over,
  };
}

function lab(rules: Partial<InventoryRules> = {}, publicIps: PublicIp[] = [snatA, staticA]): Inventory {
  const inv = inventoryOf([netA, netB, netPub], 2);
  return {
    ...inv,
    publicIps,
    rules: { portForwards: [], firewall: [], egress: [], loadBalancers: [], ...rules },
  };
}

function plan(inv: Inventory, isolation = true): DesiredNft {
  const config = parseConfig({});
  const desired = desiredState(inv, {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: config.vxlan,
    selection: config.networks,
    publicRouting: true,
  });
  return desiredNft(inv, desired.links, { uplink: 'eth0', isolation });
}

const texts = (d: DesiredNft, chain?: string) =>
  d.rules.filter((r) => chain === undefined || `${r.table.name} ${r.chain}` === chain).map((r) => r.text);

/** What nft -j would give back after the desired rule set was applied. */
function appliedState(d: DesiredNft): CurrentNft {
  return {
    tables: [...new Map(d.chains.map((c) => [c.table.name, c.table])).values()],
    chains: d.chains,
    rules: d.rules.map((r, i) => ({
      table: r.table,
      chain: r.chain,
      handle: i + 1,
      key: r.key,
      hash: ruleHash(r),
    })),
  };
}

describe('nft desired state', () => {
  test('a private network with a source NAT address gets isolation, anti-spoofing and source NAT', () => {
    const d = plan(lab());
    assert.ok(
      texts(d, 'guestrouter_nat postrouting').includes(
        'oifname "eth0" ip saddr 10.0.1.0/24 snat to 203.0.113.10',
      ),
    );
    assert.ok(
      texts(d, 'guestrouter forward').includes('oifname { "vxlan5001", "vxlan5002" } drop'),
      'only the private links are isolated; the public one is reached as from the internet',
    );
    assert.ok(
      texts(d, 'guestrouter prerouting').includes(
        'iifname "vxlan5001" ether saddr . ip saddr != { 02:00:00:00:00:0a . 10.0.1.10, 02:00:00:00:00:0b . 10.0.1.11 } drop',
      ),
    );
    assert.deepEqual(
      d.publicAddresses.map((a) => a.address),
      ['203.0.113.10', '203.0.113.11'],
    );
    assert.deepEqual(d.refused, []);
  });

  test('static NAT goes both ways, its outbound rule before source NAT, with hairpin in the network', () => {
    const d = plan(lab());
    const post = texts(d, 'guestrouter_nat postrouting');
    assert.ok(texts(d, 'guestrouter_nat prerouting').includes('ip daddr 203.0.113.11 dnat to 10.0.1.10'));
    const out = post.indexOf('oifname "eth0" ip saddr 10.0.1.10 snat to 203.0.113.11');
    const snat = post.indexOf('oifname "eth0" ip saddr 10.0.1.0/24 snat to 203.0.113.10');
    assert.ok(out >= 0 && snat > out, 'a static NAT VM leaves with its own address, not the network one');
    assert.ok(post.includes('ct status dnat ip saddr 10.0.1.0/24 ip daddr 10.0.1.0/24 snat to 10.0.1.1'));
  });

  test('port forwards, single and ranges, and firewall rules; public addresses closed at the end', () => {
    const d = plan(
      lab({
        portForwards: [
          pf('pf-ssh'),
          pf('pf-range', {
            protocol: 'udp',
            publicStartPort: '6000',
            publicEndPort: '6010',
            privateStartPort: '6000',
            privateEndPort: '6010',
          }),
        ],
        firewall: [
          fw('fw-ssh', { cidrs: ['192.0.2.0/24', '192.0.2.7/32', '198.18.0.1'] }),
          fw('fw-ping', {
            protocol: 'icmp',
            startPort: undefined,
            endPort: undefined,
            icmpType: '8',
            icmpCode: '-1',
          }),
        ],
      }),
    );
    const dnat = texts(d, 'guestrouter_nat prerouting');
    assert.ok(dnat.includes('ip daddr 203.0.113.10 tcp dport 2222 dnat to 10.0.1.11:22'));
    assert.ok(dnat.includes('ip daddr 203.0.113.10 udp dport 6000-6010 dnat to 10.0.1.11'));
    const pre = texts(d, 'guestrouter prerouting');
    assert.ok(
      pre.includes('ip daddr 203.0.113.10 ip saddr { 192.0.2.0/24, 198.18.0.1 } tcp dport 2222 accept'),
      pre.join('\n'),
    );
    assert.ok(pre.includes('ip daddr 203.0.113.10 icmp type 8 accept'));
    assert.equal(pre.at(-1), 'ip daddr { 203.0.113.10, 203.0.113.11 } drop');
  });

  test('bad rules are refused one by one with a message naming them; the good ones stay', () => {
    const d = plan(
      lab({
        portForwards: [
          pf('pf-good'),
          pf('pf-unknown-vm', { vmId: 'nope', publicStartPort: '80', publicEndPort: '80' }),
          pf('pf-port', { publicStartPort: '70000', publicEndPort: '70000' }),
          pf('pf-ip', { publicIpId: 'no-such-ip' }),
          pf('pf-over-1', {
            publicStartPort: '8000',
            publicEndPort: '8010',
            privateStartPort: '8000',
            privateEndPort: '8010',
          }),
          pf('pf-over-2', {
            publicStartPort: '8005',
            publicEndPort: '8005',
            privateStartPort: '80',
            privateEndPort: '80',
          }),
        ],
        firewall: [fw('fw-cidr', { cidrs: ['10.0.0.300/8'] }), fw('fw-ok')],
        egress: [
          {
            id: 'eg-net',
            networkId: netA.id,
            protocol: 'tcp',
            startPort: '25',
            endPort: '25',
            cidrs: ['10.9.0.0/16'],
            destCidrs: [],
          },
        ],
      }),
    );
    const refused = new Map(d.refused.map((r) => [r.ruleId, r.message]));
    assert.match(
      refused.get('pf-unknown-vm') ?? '',
      /port forward pf-unknown-vm refused: VM nope has no NIC/,
    );
    assert.match(refused.get('pf-port') ?? '', /public start port 70000 is out of range 1-65535/);
    assert.match(refused.get('pf-ip') ?? '', /public address no-such-ip is unknown/);
    assert.match(refused.get('pf-over-1') ?? '', /overlaps port forward pf-over-2/);
    assert.match(refused.get('pf-over-2') ?? '', /overlaps port forward pf-over-1/);
    assert.match(refused.get('fw-cidr') ?? '', /source CIDR "10.0.0.300\/8" is not an IPv4 CIDR/);
    assert.match(
      refused.get('eg-net') ?? '',
      /source CIDR 10.9.0.0\/16 is not inside the network's 10.0.1.0\/24/,
    );
    assert.equal(refused.size, 7);
    assert.ok(
      texts(d).includes('ip daddr 203.0.113.10 tcp dport 2222 dnat to 10.0.1.11:22'),
      'pf-good served',
    );
    assert.ok(d.rules.some((r) => r.key === 'fw:fw-ok'));
  });

  test('egress: listed rules are exceptions to the offering default (deny-by-default allows, allow-by-default denies)', () => {
    const egress: FirewallRule[] = [
      {
        id: 'eg-a',
        networkId: netA.id,
        protocol: 'tcp',
        startPort: '443',
        endPort: '443',
        cidrs: [],
        destCidrs: ['198.18.0.0/15'],
      },
      { id: 'eg-b', networkId: netB.id, protocol: 'all', cidrs: [], destCidrs: ['100.64.0.1/32'] },
    ];
    const inv = lab({ egress });
    const denyA: Inventory = {
      ...inv,
      networks: inv.networks.map((n) => (n.id === netA.id ? { ...n, egressDefaultAllow: false } : n)),
    };
    const fwd = texts(plan(denyA), 'guestrouter forward');
    assert.ok(fwd.includes('iifname "vxlan5001" oifname "eth0" ip daddr 198.18.0.0/15 tcp dport 443 accept'));
    assert.ok(fwd.includes('iifname "vxlan5001" oifname "eth0" drop'), 'default deny after the exceptions');
    assert.ok(
      fwd.includes('iifname "vxlan5002" oifname "eth0" ip daddr 100.64.0.1 drop'),
      'allow by default: the rule denies',
    );
    assert.ok(!fwd.includes('iifname "vxlan5002" oifname "eth0" drop'));
  });

  test('isolation off keeps only the internet out of private networks', () => {
    const fwd = texts(plan(lab(), false), 'guestrouter forward');
    assert.ok(fwd.includes('iifname "eth0" oifname { "vxlan5001", "vxlan5002" } drop'));
  });

  test('no served network: no chains, no rules', () => {
    const d = desiredNft(inventoryOf([]), [], { uplink: 'eth0', isolation: true });
    assert.deepEqual([d.chains.length, d.rules.length], [0, 0]);
  });
});

describe('nft diff', () => {
  test('an empty kernel gets the whole rule set in one script, every rule a create operation', () => {
    const d = plan(lab({ portForwards: [pf('pf-ssh')] }));
    const p = diffNft(d, { tables: [], chains: [], rules: [] });
    assert.equal(
      p.operations.filter((o) => o.object.kind === 'nft-rule' && o.action === 'create').length,
      d.rules.length,
    );
    assert.deepEqual(p.script.slice(0, 3), [
      'add table inet guestrouter',
      'delete table inet guestrouter',
      'add table inet guestrouter',
    ]);
    assert.ok(
      p.script.some((l) =>
        l.startsWith(
          'add rule ip guestrouter_nat prerouting ip daddr 203.0.113.10 tcp dport 2222 dnat to 10.0.1.11:22 comment "pf:pf-ssh ',
        ),
      ),
    );
  });

  test('the applied rule set diffs to nothing (a second apply is a no-op)', () => {
    const d = plan(lab({ portForwards: [pf('pf-ssh')] }));
    assert.deepEqual(diffNft(d, appliedState(d)), { operations: [], script: [] });
  });

  test('a changed rule is an update, a gone one a delete, a hand-added one a delete', () => {
    const before = plan(
      lab({
        portForwards: [
          pf('pf-ssh'),
          pf('pf-web', {
            publicStartPort: '80',
            publicEndPort: '80',
            privateStartPort: '80',
            privateEndPort: '80',
          }),
        ],
      }),
    );
    const current = appliedState(before);
    const withForeign: CurrentNft = {
      ...current,
      rules: [
        ...current.rules,
        {
          table: current.rules[0]?.table ?? { family: 'inet', name: 'guestrouter' },
          chain: 'forward',
          handle: 999,
        },
      ],
    };
    const after = plan(
      lab({ portForwards: [pf('pf-ssh', { privateStartPort: '2200', privateEndPort: '2200' })] }),
    );
    const ops = diffNft(after, withForeign).operations.map(
      (o) => `${o.action} ${o.object.kind === 'nft-rule' ? o.object.key : o.object.kind}`,
    );
    assert.ok(ops.includes('update pf:pf-ssh'), ops.join(', '));
    assert.ok(ops.includes('delete pf:pf-web'));
    assert.ok(ops.includes('delete handle 999'));
  });

  test('nothing desired and tables present: the script only deletes them', () => {
    const empty = desiredNft(inventoryOf([]), [], { uplink: 'eth0', isolation: true });
    const d = plan(lab());
    const p = diffNft(empty, appliedState(d));
    assert.deepEqual(p.script, [
      'add table inet guestrouter',
      'delete table inet guestrouter',
      'add table ip guestrouter_nat',
      'delete table ip guestrouter_nat',
    ]);
  });

  test('nft -j output: only owned tables are read, comments split into key and hash', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { table: { family: 'inet', name: 'guestrouter', handle: 1 } },
        { table: { family: 'inet', name: 'filter', handle: 2 } },
        {
          chain: {
            family: 'inet',
            table: 'guestrouter',
            name: 'forward',
            handle: 1,
            type: 'filter',
            hook: 'forward',
            prio: 0,
            policy: 'accept',
          },
        },
        {
          chain: {
            family: 'inet',
            table: 'filter',
            name: 'input',
            handle: 1,
            type: 'filter',
            hook: 'input',
            prio: 0,
            policy: 'drop',
          },
        },
        {
          rule: {
            family: 'inet',
            table: 'guestrouter',
            chain: 'forward',
            handle: 4,
            comment: 'dnat 0ecd6d4d8e',
            expr: [],
          },
        },
        { rule: { family: 'inet', table: 'guestrouter', chain: 'forward', handle: 5, expr: [] } },
        {
          rule: {
            family: 'inet',
            table: 'filter',
            chain: 'input',
            handle: 6,
            comment: 'dnat 0ecd6d4d8e',
            expr: [],
          },
        },
      ],
    });
    const current = parseNftRuleset(json);
    assert.deepEqual(
      current.tables.map((t) => t.name),
      ['guestrouter'],
    );
    assert.deepEqual(
      current.chains.map((c) => `${c.table.name} ${c.name} ${c.hook} ${c.priority}`),
      ['guestrouter forward forward 0'],
    );
    assert.deepEqual(current.rules, [
      {
        table: { family: 'inet', name: 'guestrouter' },
        chain: 'forward',
        handle: 4,
        key: 'dnat',
        hash: '0ecd6d4d8e',
      },
      { table: { family: 'inet', name: 'guestrouter' }, chain: 'forward', handle: 5 },
    ]);
  });
});

describe('rule field checks', () => {
  test('ports, ranges, CIDR lists and protocols', () => {
    assert.deepEqual(parsePortRange('22', '', 'x'), { ok: true, value: { start: 22, end: 22 } });
    assert.equal(parsePortRange('30', '20', 'public').ok, false);
    assert.equal(parsePortRange('0', '0', 'public').ok, false);
    assert.equal(parsePortRange('22a', '22', 'public').ok, false);
    assert.deepEqual(cidrMatch(['0.0.0.0/0', '10.0.0.0/8'], 'ip saddr', 'x'), { ok: true, value: '' });
    assert.deepEqual(cidrMatch(['10.1.2.3/8'], 'ip saddr', 'x'), { ok: true, value: 'ip saddr 10.0.0.0/8' });
    assert.deepEqual(protocolMatch({ protocol: 'udp' }, 'x'), { ok: true, value: 'meta l4proto udp' });
    assert.deepEqual(protocolMatch({ protocol: 'icmp', icmpType: '-1', icmpCode: '-1' }, 'x'), {
      ok: true,
      value: 'meta l4proto icmp',
    });
    assert.equal(protocolMatch({ protocol: 'gre' }, 'x').ok, false);
  });
});

describe('public addresses on the uplink and the typed plan', () => {
  test('only labelled addresses are read and removed; missing ones added with the label', () => {
    const json = JSON.stringify([
      {
        ifname: 'eth0',
        addr_info: [
          { family: 'inet', local: '100.64.0.2', prefixlen: 24, label: 'eth0' },
          { family: 'inet', local: '203.0.113.99', prefixlen: 32, label: 'eth0:gr' },
          { family: 'inet', local: '203.0.113.10', prefixlen: 32, label: 'eth0:gr' },
        ],
      },
    ]);
    const current = parseLabelledAddresses(json, 'eth0:gr');
    assert.deepEqual(current, ['203.0.113.99', '203.0.113.10']);
    const p = diffPublicAddresses(
      [
        { address: '203.0.113.10', networkId: 'n', purpose: 'source NAT' },
        { address: '203.0.113.11', networkId: 'n', purpose: 'static NAT' },
      ],
      current,
      'eth0',
      'eth0:gr',
    );
    assert.deepEqual(p.lines, [
      'addr del 203.0.113.99/32 dev eth0',
      'addr add 203.0.113.11/32 dev eth0 label eth0:gr',
    ]);
    assert.deepEqual(
      operationsFromChanges(p.changes).map((o) => `${o.action} ${o.object.kind}`),
      ['delete address', 'create address'],
    );
  });

  test('link changes map to Terraform-style actions', () => {
    const ops = operationsFromChanges([
      { action: 'create-link', link: 'vxlan5001', networkId: 'n', detail: 'link add ...' },
      { action: 'recreate-link', link: 'vxlan5002', networkId: 'm', detail: 'its settings differ' },
      { action: 'set-sysctl', link: 'vxlan5001', detail: 'net.ipv4.conf.vxlan5001.forwarding=1' },
    ]);
    assert.deepEqual(
      ops.map((o) => `${o.action} ${o.object.kind}`),
      ['create link', 'replace link', 'update sysctl'],
    );
    assert.deepEqual(ops[2]?.object, { kind: 'sysctl', key: 'net.ipv4.conf.vxlan5001.forwarding' });
  });
});
