import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateNetwork, validateNetworks } from '../../src/desired/validate.js';
import { guestNetwork } from '../helpers/inventory.js';

function codeOf(result: ReturnType<typeof validateNetwork>): string {
  return 'code' in result ? result.code : 'valid';
}

describe('validateNetwork', () => {
  test('accepts a VXLAN network whose gateway is inside its CIDR', () => {
    assert.equal(codeOf(validateNetwork(guestNetwork(1))), 'valid');
  });
  test('refuses VLAN ids outside 1-4094 and accepts the ends', () => {
    assert.equal(
      codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vlan', id: 0 } }))),
      'vlan-out-of-range',
    );
    assert.equal(
      codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vlan', id: 4095 } }))),
      'vlan-out-of-range',
    );
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vlan', id: 1 } }))), 'valid');
    assert.equal(
      codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vlan', id: 4094 } }))),
      'valid',
    );
  });
  test('refuses VNIs outside 1-16777215', () => {
    assert.equal(
      codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vxlan', vni: 0 } }))),
      'vni-out-of-range',
    );
    assert.equal(
      codeOf(validateNetwork(guestNetwork(1, { isolation: { kind: 'vxlan', vni: 16777216 } }))),
      'vni-out-of-range',
    );
  });
  test('refuses a gateway outside its CIDR and names both', () => {
    const result = validateNetwork(guestNetwork(1, { gateway: '10.9.9.1' }));
    assert.ok('code' in result);
    assert.equal(result.code, 'gateway-outside-cidr');
    assert.match(result.message, /10\.9\.9\.1 is outside its cidr 10\.0\.1\.0\/24/);
  });
  test('refuses a gateway on the network or broadcast address, and a malformed CIDR', () => {
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { gateway: '10.0.1.0' }))), 'gateway-invalid');
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { gateway: '10.0.1.255' }))), 'gateway-invalid');
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { cidr: '10.0.1.5/24' }))), 'cidr-invalid');
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { cidr: 'nonsense' }))), 'cidr-invalid');
    assert.equal(codeOf(validateNetwork(guestNetwork(1, { netmask: '255.255.0.0' }))), 'netmask-mismatch');
  });
  test('refuses a network without isolation and says a root-admin key is needed', () => {
    const { isolation: _hidden, ...rest } = guestNetwork(1);
    const result = validateNetwork(rest);
    assert.ok('code' in result);
    assert.equal(result.code, 'isolation-missing');
    assert.match(result.message, /root admins only/);
    assert.match(result.message, /root-admin API key/);
  });
  test('refuses an unusable broadcasturi with its value', () => {
    const { isolation: _hidden, ...rest } = guestNetwork(1);
    const result = validateNetwork({ ...rest, broadcastUri: 'vlan://untagged' });
    assert.ok('code' in result);
    assert.match(result.message, /vlan:\/\/untagged/);
  });
  test('says an Allocated network is served once CloudStack implements it', () => {
    const { isolation: _hidden, ...rest } = guestNetwork(1);
    assert.equal(codeOf(validateNetwork({ ...rest, state: 'Allocated' })), 'network-not-implemented');
  });
  test('refuses a network with Virtual Router services and lists them', () => {
    const result = validateNetwork(
      guestNetwork(1, {
        services: [
          { name: 'Dhcp', provider: 'VirtualRouter' },
          { name: 'SourceNat', provider: 'VirtualRouter' },
          { name: 'UserData', provider: 'ConfigDrive' },
        ],
      }),
    );
    assert.ok('code' in result);
    assert.equal(result.code, 'virtual-router-services');
    assert.match(result.message, /Dhcp by VirtualRouter, SourceNat by VirtualRouter/);
    assert.equal(
      codeOf(
        validateNetwork(guestNetwork(1, { services: [{ name: 'Gateway', provider: 'VpcVirtualRouter' }] })),
      ),
      'virtual-router-services',
    );
  });
});

describe('validateNetworks', () => {
  test('refuses both networks of an overlapping pair and still serves the others', () => {
    const a = guestNetwork(1, { cidr: '10.0.0.0/16', gateway: '10.0.0.1' });
    const b = guestNetwork(2, { cidr: '10.0.5.0/24', gateway: '10.0.5.1' });
    const c = guestNetwork(3, { cidr: '192.168.3.0/24', gateway: '192.168.3.1' });
    const result = validateNetworks([a, b, c]);
    assert.deepEqual(
      result.valid.map((v) => v.network.id),
      ['net-3'],
    );
    assert.deepEqual(result.refused.map((r) => [r.networkId, r.code]).sort(), [
      ['net-1', 'cidr-overlap'],
      ['net-2', 'cidr-overlap'],
    ]);
    assert.match(
      result.refused[0]?.message ?? '',
      /10\.0\.0\.0\/16 of tenant-1 \(net-1\) and 10\.0\.5\.0\/24/,
    );
  });
  test('finds an overlap hidden behind a non-overlapping network in address order', () => {
    const wide = guestNetwork(1, { cidr: '10.0.0.0/8', gateway: '10.0.0.1' });
    const inner1 = guestNetwork(2, { cidr: '10.1.0.0/24', gateway: '10.1.0.1' });
    const inner2 = guestNetwork(3, { cidr: '10.200.0.0/24', gateway: '10.200.0.1' });
    const result = validateNetworks([inner2, inner1, wide]);
    assert.equal(result.valid.length, 0);
    assert.equal(result.refused.length, 3);
  });
  test('refuses two networks claiming the same VNI', () => {
    const a = guestNetwork(1);
    const b = guestNetwork(2, { isolation: { kind: 'vxlan', vni: 5001 } });
    const result = validateNetworks([a, b, guestNetwork(3)]);
    assert.deepEqual(
      result.refused.map((r) => r.code),
      ['isolation-duplicate', 'isolation-duplicate'],
    );
    assert.deepEqual(
      result.valid.map((v) => v.network.id),
      ['net-3'],
    );
  });
  test('a refused network does not take the others down with it', () => {
    const result = validateNetworks([
      guestNetwork(1, { isolation: { kind: 'vlan', id: 5000 } }),
      guestNetwork(2),
      guestNetwork(3, { gateway: '1.2.3.4' }),
    ]);
    assert.deepEqual(
      result.valid.map((v) => v.network.id),
      ['net-2'],
    );
    assert.equal(result.refused.length, 2);
  });
});
