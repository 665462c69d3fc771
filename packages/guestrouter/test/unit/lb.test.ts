import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import type { LoadBalancerRule } from '../../src/inventory/rules.js';
import type { Inventory } from '../../src/inventory/types.js';
import { desiredLoadBalancers } from '../../src/lb/desired.js';
import { renderHaproxyConfig } from '../../src/lb/haproxy-config.js';
import { haproxyDir, haproxyOperation } from '../../src/lb/plan.js';
import { desiredNft } from '../../src/nft/desired.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

const net = guestNetwork(1);

function lbRule(id: string, over: Partial<LoadBalancerRule> = {}): LoadBalancerRule {
  return {
    id,
    name: id,
    publicIpId: 'ip-lb',
    publicPort: '80',
    privatePort: '8080',
    algorithm: 'leastconn',
    protocol: 'tcp',
    networkId: net.id,
    cidrs: [],
    members: [{ vmId: `vm-${net.id}-10` }, { vmId: `vm-${net.id}-11` }],
    ...over,
  };
}

function inventory(rules: LoadBalancerRule[]): Inventory {
  const inv = inventoryOf([net], 2);
  return {
    ...inv,
    publicIps: [{ id: 'ip-lb', address: '203.0.113.20', networkId: net.id }],
    rules: { portForwards: [], firewall: [], egress: [], loadBalancers: rules },
  };
}

const defaults = parseConfig({});
const links = desiredState(inventoryOf([net]), {
  trunk: 'eth1',
  uplink: 'eth0',
  vxlan: defaults.vxlan,
  selection: defaults.networks,
  publicRouting: true,
}).links;

describe('load balancer rules', () => {
  test('a rule becomes a frontend with its members; its port is opened and its address answered', () => {
    const inv = inventory([lbRule('lb-1', { cidrs: ['192.0.2.0/24'] })]);
    const lb = desiredLoadBalancers(inv, links);
    assert.deepEqual(lb.refused, []);
    assert.deepEqual(
      lb.frontends.map((f) => [
        f.publicAddress,
        f.publicPort,
        f.privatePort,
        f.algorithm,
        f.backends.map((b) => b.address),
      ]),
      [['203.0.113.20', 80, 8080, 'leastconn', ['10.0.1.10', '10.0.1.11']]],
    );
    const nft = desiredNft(inv, links, { uplink: 'eth0', isolation: true }, lb);
    assert.ok(
      nft.rules.some((r) => r.text === 'ip daddr 203.0.113.20 ip saddr 192.0.2.0/24 tcp dport 80 accept'),
    );
    assert.deepEqual(
      nft.publicAddresses.map((a) => a.address),
      ['203.0.113.20'],
    );
    const cfg = renderHaproxyConfig(lb, { statsSocket: '/run/gr/stats.sock' });
    assert.match(cfg, /frontend lb_lb-1\n {4}bind 203\.0\.113\.20:80\n/);
    assert.match(
      cfg,
      /balance leastconn\n {4}server vm-net-1-10 10\.0\.1\.10:8080 check\n {4}server vm-net-1-11 10\.0\.1\.11:8080 check\n/,
    );
    assert.match(cfg, /stats socket \/run\/gr\/stats\.sock mode 600 level admin/);
    assert.match(cfg, /default-server inter 1000ms fall 2 rise 2/);
  });

  test('bad rules are refused by name, the others kept', () => {
    const lb = desiredLoadBalancers(
      inventory([
        lbRule('lb-ok'),
        lbRule('lb-ip', { publicIpId: 'nope' }),
        lbRule('lb-algo', { algorithm: 'random', publicPort: '81' }),
        lbRule('lb-port', { publicPort: '0' }),
        lbRule('lb-dup'),
        lbRule('lb-udp', { protocol: 'udp', publicPort: '53' }),
      ]),
      links,
    );
    const refused = new Map(lb.refused.map((r) => [r.ruleId, r.message]));
    assert.match(refused.get('lb-ip') ?? '', /router does not answer for its public address nope/);
    assert.match(refused.get('lb-algo') ?? '', /algorithm "random" is not roundrobin, leastconn or source/);
    assert.match(refused.get('lb-port') ?? '', /public port 0 is out of range/);
    assert.match(
      refused.get('lb-dup') ?? '',
      /203\.0\.113\.20:80 is already used by load balancer rule lb-ok/,
    );
    assert.match(refused.get('lb-udp') ?? '', /protocol udp is not served/);
    assert.deepEqual(
      lb.frontends.map((f) => f.ruleId),
      ['lb-ok'],
    );
  });

  test('a member without a NIC in the network is left out with a message', () => {
    const lb = desiredLoadBalancers(
      inventory([lbRule('lb-1', { members: [{ vmId: 'ghost' }, { vmId: `vm-${net.id}-10` }] })]),
      links,
    );
    assert.equal(lb.frontends[0]?.backends.length, 1);
    assert.match(lb.refused[0]?.message ?? '', /member VM ghost left out/);
  });
});

describe('the haproxy configuration in the typed plan', () => {
  test('create when missing, nothing when equal, update when changed, delete when no rule is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gr-lbplan-'));
    try {
      const lb = desiredLoadBalancers(inventory([lbRule('lb-1')]), links);
      const created = await haproxyOperation(lb, dir, 1000);
      assert.deepEqual([created?.action, created?.object.kind], ['create', 'service-config']);
      mkdirSync(haproxyDir(dir), { recursive: true });
      const file = join(haproxyDir(dir), 'haproxy.cfg');
      writeFileSync(
        file,
        renderHaproxyConfig(lb, { statsSocket: join(haproxyDir(dir), 'stats.sock'), checkIntervalMs: 1000 }),
      );
      assert.equal(await haproxyOperation(lb, dir, 1000), undefined);
      assert.equal((await haproxyOperation(lb, dir, 2000))?.action, 'update');
      assert.equal((await haproxyOperation({ frontends: [], refused: [] }, dir, 1000))?.action, 'delete');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
