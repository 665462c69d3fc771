import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { multicastGroupForVni, vlanLinkName, vxlanLinkName } from '../../src/desired/vxlan.js';

describe('VXLAN multicast group (CloudStack modifyvxlan.sh)', () => {
  test('maps VNI 5001 to 239.0.19.137', () => {
    assert.equal(multicastGroupForVni(5001), '239.0.19.137');
  });
  test('maps the ends of the VNI range to 239.0.0.1 and 239.255.255.255', () => {
    assert.equal(multicastGroupForVni(1), '239.0.0.1');
    assert.equal(multicastGroupForVni(16777215), '239.255.255.255');
    assert.equal(multicastGroupForVni(0x123456), '239.18.52.86');
  });
  test('throws for VNIs outside 1-16777215', () => {
    assert.throws(() => multicastGroupForVni(0), RangeError);
    assert.throws(() => multicastGroupForVni(16777216), RangeError);
    assert.throws(() => multicastGroupForVni(1.5), RangeError);
  });
  test('names links vxlan<VNI> and <trunk>.<vlan> like the hosts and the seed', () => {
    assert.equal(vxlanLinkName(5001), 'vxlan5001');
    assert.equal(vlanLinkName('eth1', 1234), 'eth1.1234');
  });
});
