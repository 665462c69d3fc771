import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import { vridFor, vrrpInstances } from '../../src/ha/vrrp.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

function links(count: number) {
  const networks = Array.from({ length: count }, (_, i) => guestNetwork(i + 1));
  return desiredState(inventoryOf(networks), {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: parseConfig({}).vxlan,
    selection: parseConfig({}).networks,
    publicRouting: true,
    vrrp: true,
  }).links;
}

describe('VRRP instance groups (ha.instanceGroups)', () => {
  test('default 255: one instance per network; 1: one instance carrying every gateway', () => {
    const l = links(6);
    assert.equal(vrrpInstances(l).length, 6);
    const one = vrrpInstances(l, undefined, 1);
    assert.equal(one.length, 1);
    assert.equal(one[0]?.vrid, 1);
    assert.equal(one[0]?.addresses.length, 6);
    assert.equal(one[0]?.networkIds.length, 6);
  });

  test('a network keeps its group when others are added (VNI modulo groups, not position)', () => {
    const small = vrrpInstances(links(4), undefined, 3);
    const big = vrrpInstances(links(9), undefined, 3);
    assert.equal(big.length, 3);
    for (const instance of small) {
      const same = big.find((b) => b.vrid === instance.vrid);
      for (const id of instance.networkIds)
        assert.ok(same?.networkIds.includes(id), `${id} stays in ${instance.name}`);
    }
    const first = links(1)[0];
    assert.ok(first);
    assert.equal(vridFor(first, 3), ((first.spec.kind === 'vxlan' ? first.spec.vni : first.spec.id) % 3) + 1);
  });

  test("a group's instance carries the NAT public addresses of all its networks", () => {
    const l = links(4);
    const uplink = {
      uplink: 'eth0',
      label: 'eth0:gr',
      addresses: l.map((link, i) => ({ address: `203.0.113.${i + 10}`, networkId: link.networkId })),
    };
    const grouped = vrrpInstances(l, uplink, 2);
    assert.equal(grouped.length, 2);
    for (const instance of grouped) {
      const nat = instance.addresses.filter((a) => a.dev === 'eth0').map((a) => a.address);
      const expected = l
        .filter((link) => instance.networkIds.includes(link.networkId))
        .map((link) => `203.0.113.${l.indexOf(link) + 10}/32`)
        .sort();
      assert.deepEqual(nat, expected, `${instance.name} holds the NAT addresses of its networks`);
      assert.ok(instance.addresses.every((a) => a.dev !== 'eth0' || a.label === 'eth0:gr'));
    }
  });

  test('config: 1-255, default 255', () => {
    assert.equal(parseConfig({}).ha.instanceGroups, 255);
    assert.throws(() => parseConfig({ ha: { instanceGroups: 0 } }), /instanceGroups/);
    assert.throws(() => parseConfig({ ha: { instanceGroups: 256 } }), /instanceGroups/);
  });
});
