import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { KernelStateParseError } from '../../src/errors.js';
import { parseBatchFailures } from '../../src/kernel/kernel.js';
import {
  combineLinksAndAddresses,
  parseAddresses,
  parseLinks,
  parseProxyNeighbours,
  parseSysctlDump,
  sysctlKeyFromPath,
  sysctlPath,
} from '../../src/kernel/parse.js';

// Captured on this machine: `ip -json -details link show` / `ip -json addr show` in a namespace holding a
// veth pair, a multicast vxlan5001 (marked, addressed, up), an evpn-style vxlan77 and a bridge.
const linkJson = readFileSync(new URL('../fixtures/ip-link-details.json', import.meta.url), 'utf8');
const addrJson = readFileSync(new URL('../fixtures/ip-addr.json', import.meta.url), 'utf8');

describe('ip -json parsers', () => {
  test('reads a multicast VXLAN link with its mark, group, port, parent and state', () => {
    const links = combineLinksAndAddresses(parseLinks(linkJson), parseAddresses(addrJson));
    assert.deepEqual(links.get('vxlan5001'), {
      name: 'vxlan5001',
      up: true,
      alias: 'guestrouter:net-1',
      mac: 'd2:4d:26:b7:00:de',
      kind: 'vxlan',
      vxlan: { vni: 5001, port: 8472, group: '239.0.19.137', dev: 'veth0', learning: true },
      addresses: ['10.1.0.1/24'],
    });
  });
  test('reads an evpn-style VXLAN link (no group, nolearning, local) and unmarked links', () => {
    const links = parseLinks(linkJson);
    assert.deepEqual(links.get('vxlan77')?.vxlan, {
      vni: 77,
      port: 4789,
      local: '10.0.0.1',
      dev: 'veth0',
      learning: false,
    });
    assert.equal(links.get('vxlan77')?.up, false);
    assert.equal(links.get('veth0')?.alias, undefined);
    assert.equal(links.get('veth0')?.kind, 'veth');
    assert.equal(links.get('lo')?.kind, undefined);
    assert.equal(links.get('br0')?.kind, 'bridge');
  });
  test('keeps only IPv4 addresses', () => {
    const addrs = parseAddresses(addrJson);
    assert.deepEqual(addrs.get('veth0'), []);
    assert.deepEqual(addrs.get('vxlan5001'), ['10.1.0.1/24']);
  });
  test('reads a VLAN link in the shape iproute2 prints (hand-written: this kernel has no 802.1Q)', () => {
    const sample = JSON.stringify([
      {
        ifindex: 7,
        link: 'eth1',
        ifname: 'eth1.1234',
        flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
        ifalias: 'guestrouter:net-9',
        linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 1234, flags: ['REORDER_HDR'] } },
      },
    ]);
    assert.deepEqual(parseLinks(sample).get('eth1.1234'), {
      name: 'eth1.1234',
      up: true,
      alias: 'guestrouter:net-9',
      kind: 'vlan',
      vlan: { id: 1234, parent: 'eth1' },
    });
  });
  test('treats empty output as no links and rejects output that is not ip -json', () => {
    assert.equal(parseLinks('').size, 0);
    assert.throws(() => parseLinks('{"ifname":"x"}'), KernelStateParseError);
    assert.throws(() => parseLinks('[{"mtu":1500}]'), /no ifname/);
    assert.throws(() => parseAddresses('[{"ifname":'), KernelStateParseError);
    assert.throws(
      () => parseLinks('[{"ifname":"vx","linkinfo":{"info_kind":"vxlan","info_data":{}}}]'),
      /has no id/,
    );
  });
});

describe('sysctl paths', () => {
  test('maps keys with dotted interface names to /proc/sys paths and back', () => {
    assert.equal(
      sysctlPath('net.ipv4.conf.eth1/1234.proxy_arp'),
      '/proc/sys/net/ipv4/conf/eth1.1234/proxy_arp',
    );
    assert.equal(
      sysctlKeyFromPath('/proc/sys/net/ipv4/conf/eth1.1234/proxy_arp'),
      'net.ipv4.conf.eth1/1234.proxy_arp',
    );
    assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
  });
  test('parses grep -H output into values by key', () => {
    const values = parseSysctlDump(
      '/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/ipv4/conf/eth1.1234/proxy_arp:0\nnoise\n',
    );
    assert.deepEqual(
      [...values],
      [
        ['net.ipv4.ip_forward', '1'],
        ['net.ipv4.conf.eth1/1234.proxy_arp', '0'],
      ],
    );
  });
});

describe('ip -batch failures', () => {
  test('pins each "Command failed -:N" to its plan line with the error text before it', () => {
    const lines = [
      'link add link trunk name trunk.5 type vlan id 5',
      'link set dev trunk.5 alias guestrouter:n5',
      'link add vxlan9 type vxlan id 9 dstport 8472 dev trunk',
    ];
    const stderr =
      'Error: Unknown device type.\nCommand failed -:1\nCannot find device "trunk.5"\nCommand failed -:2\n';
    assert.deepEqual(parseBatchFailures(stderr, lines), [
      { index: 0, line: lines[0], error: 'Error: Unknown device type.' },
      { index: 1, line: lines[1], error: 'Cannot find device "trunk.5"' },
    ]);
    assert.deepEqual(parseBatchFailures('', lines), []);
  });
});

describe('proxy neighbour parser', () => {
  test('reads ip -N -json neigh show proxy as captured here, with and without a protocol', () => {
    // Captured: one entry added by hand, one with protocol 147 (guestrouter's mark), one with bgp (186).
    const text =
      '[{"dst":"198.51.100.8","dev":"aa","proxy":null},{"dst":"198.51.100.9","dev":"aa","proxy":null,"protocol":"147"},' +
      '{"dst":"198.51.100.7","dev":"aa","proxy":null,"protocol":"186"}]';
    assert.deepEqual(parseProxyNeighbours(text), [
      { address: '198.51.100.8', dev: 'aa' },
      { address: '198.51.100.9', dev: 'aa', protocol: '147' },
      { address: '198.51.100.7', dev: 'aa', protocol: '186' },
    ]);
    assert.deepEqual(parseProxyNeighbours(''), []);
    assert.throws(() => parseProxyNeighbours('[{"dev":"aa"}]'), /no dst/);
  });
});
