import type { GuestNetwork, Inventory, VmNic } from '../../src/inventory/types.js';
import { formatIpv4, maskOf } from '../../src/net/ipv4.js';

function netmaskOf(cidr: string): string {
  const prefix = Number(cidr.split('/')[1]);
  return Number.isInteger(prefix) && prefix >= 0 && prefix <= 32
    ? formatIpv4(maskOf(prefix))
    : '255.255.255.0';
}

/** A valid VXLAN guest network without Virtual Router services; override what a test is about. */
export function guestNetwork(n: number, overrides: Partial<GuestNetwork> = {}): GuestNetwork {
  const cidr = overrides.cidr ?? `10.${Math.floor(n / 256)}.${n % 256}.0/24`;
  return {
    id: `net-${n}`,
    name: `tenant-${n}`,
    zoneId: 'zone-1',
    isolation: { kind: 'vxlan', vni: 5000 + n },
    cidr: `10.${Math.floor(n / 256)}.${n % 256}.0/24`,
    gateway: `10.${Math.floor(n / 256)}.${n % 256}.1`,
    netmask: netmaskOf(cidr),
    services: [{ name: 'UserData', provider: 'ConfigDrive' }],
    tags: [],
    state: 'Implemented',
    ...overrides,
  };
}

export function vmNic(network: GuestNetwork, host: number): VmNic {
  const base = network.cidr.split('/')[0]?.split('.').slice(0, 3).join('.');
  return {
    vmId: `vm-${network.id}-${host}`,
    vmName: `vm-${host}`,
    hostname: `vm-${host}`,
    networkId: network.id,
    macAddress: `02:00:00:00:${(host >> 8).toString(16).padStart(2, '0')}:${(host & 255).toString(16).padStart(2, '0')}`,
    ipAddress: `${base}.${host}`,
    isDefault: true,
  };
}

export function inventoryOf(networks: GuestNetwork[], vmsPerNetwork = 0): Inventory {
  return {
    zones: [{ id: 'zone-1', name: 'zone one', networkType: 'Advanced' }],
    networks,
    nics: networks.flatMap((n) => Array.from({ length: vmsPerNetwork }, (_, i) => vmNic(n, 10 + i))),
    publicIps: [],
    fetchedAt: 0,
  };
}
