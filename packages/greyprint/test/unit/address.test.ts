import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import { describe, test } from 'node:test';
import ipaddr from 'ipaddr.js';
import { parseAddress } from '../../src/index.js';
import { networkOf } from '../../src/net/cidr.js';

describe('parseAddress', () => {
  test('takes dotted-quad IPv4 as Postfix writes it', () => {
    for (const text of ['0.0.0.0', '192.0.2.10', '255.255.255.255', '10.0.0.1', '1.22.133.244']) {
      const a = parseAddress(text);
      assert.equal(a?.kind(), 'ipv4', text);
      assert.equal(a?.toString(), text);
    }
  });

  test('refuses what is not a strict dotted quad, as node isIPv4 does', () => {
    const bad = [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.256',
      '01.2.3.4',
      '1.2.3.04',
      '1..2.3',
      '.1.2.3',
      '1.2.3.',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.4x',
      '0x7f.0.0.1',
      '1234.1.1.1',
      'unknown',
      '１.2.3.4',
    ];
    for (const text of bad) {
      assert.equal(isIPv4(text), false, `node also refuses ${JSON.stringify(text)}`);
      assert.equal(parseAddress(text), undefined, JSON.stringify(text));
    }
  });

  test('agrees with node isIPv4 on every one- to three-digit octet', () => {
    for (let n = 0; n < 1000; n++) {
      for (const text of [`${n}.0.0.1`, `1.2.3.${n}`, `1.2.3.0${n}`]) {
        assert.equal(parseAddress(text) !== undefined, isIPv4(text), text);
      }
    }
  });

  test('takes IPv6 and folds IPv4-mapped IPv6 to IPv4', () => {
    assert.equal(parseAddress('2001:db8::1')?.kind(), 'ipv6');
    assert.equal(parseAddress('::ffff:192.0.2.1')?.toString(), '192.0.2.1');
    assert.equal(parseAddress('2001:db8::g'), undefined);
  });
});

describe('networkOf', () => {
  test('masks IPv4 at every prefix length as ipaddr.js does', () => {
    for (const text of ['192.0.2.77', '255.255.255.255', '10.1.2.3', '0.0.0.0']) {
      const a = parseAddress(text);
      assert.ok(a);
      for (let bits = 0; bits <= 32; bits++) {
        const expected = ipaddr.IPv4.networkAddressFromCIDR(`${text}/${bits}`).toString();
        assert.equal(networkOf(a, bits), `${expected}/${bits}`, `${text}/${bits}`);
      }
    }
  });

  test('masks IPv6 at /64 and /48', () => {
    const a = parseAddress('2001:db8:1:2:3:4:5:6');
    assert.ok(a);
    assert.equal(networkOf(a, 64), '2001:db8:1:2::/64');
    assert.equal(networkOf(a, 48), '2001:db8:1::/48');
  });
});
