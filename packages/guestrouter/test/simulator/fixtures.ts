/**
 * Deterministic CloudStack inventories for tests, the demo and the benchmark.
 * Network n (1-based, continuing from `firstId`) gets:
 * - CIDR: networks 1-3 the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and
 *   203.0.113.0/24 (public-looking guest subnets, the seed's second option),
 *   the others 10.<n/256>.<n%256>.0/24; gateway .1, VMs from .2 up;
 * - VLAN 100+n (`vlan://<id>`) or VNI 5000+n (`vxlan://<vni>`);
 * - VMs `vm-<n>-<m>` with MACs 02:00:<n hi>:<n lo>:<m hi>:<m lo>;
 * - optionally public addresses from 198.18.0.0/15 (benchmarking range),
 *   static-NATed to the network's first VMs.
 * Ids are UUID-shaped and depend only on the numbers, so two calls with the
 * same options produce equal states and calls with different `firstId` never collide.
 */
import type { RawNetwork, RawPublicIp, RawVirtualMachine, RawZone, SimState } from './server.js';

export interface GenerateOptions {
  networks: number;
  vmsPerNetwork: number;
  isolation: 'vlan' | 'vxlan';
  /** Number of the first network (default 1). */
  firstId?: number;
  publicIpsPerNetwork?: number;
}

export const FIXTURE_ZONE_ID = 'a0000000-0000-4000-8000-000000000001';

function uuid(kind: string, ...parts: number[]): string {
  // kind is one hex digit per resource type; the numbers fill the last group.
  const tail = parts
    .map((p) => p.toString(16).padStart(6, '0'))
    .join('')
    .padStart(12, '0')
    .slice(-12);
  return `${kind}0000000-0000-4000-8000-${tail}`;
}

export function networkId(n: number): string {
  return uuid('b', n);
}

export function vmId(n: number, m: number): string {
  return uuid('c', n, m);
}

const DOC_RANGES = ['192.0.2', '198.51.100', '203.0.113'];

/** The first three octets of network n's /24. */
export function networkPrefix(n: number): string {
  if (n >= 1 && n <= DOC_RANGES.length) return DOC_RANGES[n - 1] as string;
  if (n > 0xffff) throw new RangeError(`network number ${n} exceeds the 10.0.0.0/8 fixture space`);
  return `10.${(n >> 8) & 255}.${n & 255}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export function vmMac(n: number, m: number): string {
  return `02:00:${hex2((n >> 8) & 255)}:${hex2(n & 255)}:${hex2((m >> 8) & 255)}:${hex2(m & 255)}`;
}

function publicAddress(index: number): string {
  // 198.18.0.0/15: 131072 addresses.
  const base = (198 << 24) + (18 << 16);
  const v = base + index;
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

export function generateSimState(opts: GenerateOptions): SimState {
  const first = opts.firstId ?? 1;
  const ipsPerNetwork = opts.publicIpsPerNetwork ?? 0;
  if (!Number.isInteger(opts.networks) || opts.networks < 0)
    throw new RangeError('networks must be a whole number');
  if (opts.vmsPerNetwork > 253) throw new RangeError('at most 253 VMs fit a /24 next to the gateway');
  if (ipsPerNetwork > 16 || ipsPerNetwork > Math.max(opts.vmsPerNetwork, 0)) {
    throw new RangeError('publicIpsPerNetwork must be at most 16 and at most vmsPerNetwork');
  }
  const zone: RawZone = {
    id: FIXTURE_ZONE_ID,
    name: 'zone1',
    networktype: 'Advanced',
    allocationstate: 'Enabled',
    securitygroupsenabled: false,
  };
  const networks: RawNetwork[] = [];
  const virtualMachines: RawVirtualMachine[] = [];
  const publicIpAddresses: RawPublicIp[] = [];
  for (let i = 0; i < opts.networks; i++) {
    const n = first + i;
    const prefix = networkPrefix(n);
    const segment = opts.isolation === 'vlan' ? 100 + n : 5000 + n;
    if (opts.isolation === 'vlan' && segment > 4094)
      throw new RangeError(`network ${n} would need VLAN ${segment} > 4094`);
    const broadcasturi = `${opts.isolation}://${segment}`;
    const id = networkId(n);
    const name = `guest-${n}`;
    const gateway = `${prefix}.1`;
    networks.push({
      id,
      name,
      displaytext: `guest network ${n}`,
      zoneid: zone.id,
      zonename: zone.name,
      cidr: `${prefix}.0/24`,
      gateway,
      netmask: '255.255.255.0',
      vlan: String(segment),
      broadcasturi,
      broadcastdomaintype: opts.isolation === 'vlan' ? 'Vlan' : 'Vxlan',
      traffictype: 'Guest',
      type: 'Shared',
      state: 'Setup',
      service: [{ name: 'UserData', provider: [{ name: 'ConfigDrive' }] }],
      tags: [{ key: 'router', value: 'guestrouter', resourcetype: 'Network', resourceid: id }],
      networkofferingname: 'DefaultSharedNetworkOffering',
      issystem: false,
      acltype: 'Domain',
    });
    for (let m = 1; m <= opts.vmsPerNetwork; m++) {
      const id = vmId(n, m);
      const ipaddress = `${prefix}.${m + 1}`;
      virtualMachines.push({
        id,
        name: `vm-${n}-${m}`,
        displayname: `vm-${n}-${m}`,
        hostname: `kvm-${(n % 4) + 1}`,
        zoneid: zone.id,
        zonename: zone.name,
        serviceofferingname: 'Small Instance',
        state: 'Running',
        nic: [
          {
            id: uuid('d', n, m),
            networkid: networks[networks.length - 1]?.id ?? '',
            networkname: name,
            macaddress: vmMac(n, m),
            ipaddress,
            gateway,
            netmask: '255.255.255.0',
            isdefault: true,
            broadcasturi,
            isolationuri: broadcasturi,
            traffictype: 'Guest',
            type: 'Shared',
            deviceid: '0',
          },
        ],
      });
      if (m <= ipsPerNetwork) {
        publicIpAddresses.push({
          id: uuid('e', n, m),
          ipaddress: publicAddress(n * 16 + m - 1),
          zoneid: zone.id,
          networkid: uuid('f', 0, 1),
          associatednetworkid: networks[networks.length - 1]?.id ?? '',
          associatednetworkname: name,
          virtualmachineid: id,
          virtualmachinename: `vm-${n}-${m}`,
          vmipaddress: ipaddress,
          state: 'Allocated',
          issourcenat: false,
          isstaticnat: true,
        });
      }
    }
  }
  return { zones: [zone], networks, virtualMachines, publicIpAddresses };
}
