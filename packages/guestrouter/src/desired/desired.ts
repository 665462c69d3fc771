import type { NetworkSelection } from '../config/schema.js';
import { type VxlanConfig, vxlanPort } from '../config/schema.js';
import type { GuestNetwork, Inventory } from '../inventory/types.js';
import { cidrContains, isPublicCidr, parseIpv4 } from '../net/ipv4.js';
import { gatewayMac } from './mac.js';
import { isSelected } from './select.js';
import type { DesiredLink, DesiredState, LinkSpec, ProxyNeighbour, Refusal, SysctlSetting } from './types.js';
import { markFor } from './types.js';
import { type ValidNetwork, validateNetworks } from './validate.js';
import { multicastGroupForVni, vlanLinkName, vxlanLinkName } from './vxlan.js';

export interface DesiredOptions {
  readonly trunk: string;
  readonly uplink: string;
  readonly vxlan: VxlanConfig;
  readonly selection: NetworkSelection;
  readonly publicRouting: boolean;
  /** How public subnets are answered for on the uplink; default `interface` (proxy_arp=1). */
  readonly proxyArp?: 'interface' | 'addresses';
  /** ha.enabled: keepalived holds the gateway addresses (only on the VRRP master); the plan leaves them alone. */
  readonly vrrp?: boolean;
}

const MAX_IFNAME = 15;

function linkFor(v: ValidNetwork, options: DesiredOptions): { name: string; spec: LinkSpec } {
  const iso = v.network.isolation;
  if (!iso) throw new Error('validated network without isolation');
  if (iso.kind === 'vlan') {
    return {
      name: vlanLinkName(options.trunk, iso.id),
      spec: { kind: 'vlan', id: iso.id, parent: options.trunk },
    };
  }
  const { vxlan } = options;
  const spec: LinkSpec = {
    kind: 'vxlan',
    vni: iso.vni,
    port: vxlanPort(vxlan),
    dev: options.trunk,
    learning: vxlan.mode === 'multicast',
    ...(vxlan.mode === 'multicast' ? { group: multicastGroupForVni(iso.vni) } : {}),
    ...(vxlan.local ? { local: vxlan.local } : {}),
    ...(vxlan.ttl ? { ttl: vxlan.ttl } : {}),
  };
  return { name: vxlanLinkName(iso.vni), spec };
}

/** Per-interface sysctl key; sysctl(8) writes a dot inside an interface name as "/". */
export function confKey(link: string, setting: string): string {
  return `net.ipv4.conf.${link.replaceAll('.', '/')}.${setting}`;
}

/**
 * Pure: inventory + options -> the links, addresses and sysctls the router
 * should have, plus the networks refused (with why) and skipped.
 */
export function desiredState(inventory: Inventory, options: DesiredOptions): DesiredState {
  const selected: GuestNetwork[] = [];
  const skipped: { networkId: string; networkName: string }[] = [];
  for (const network of inventory.networks) {
    if (isSelected(network, options.selection)) selected.push(network);
    else skipped.push({ networkId: network.id, networkName: network.name });
  }

  const { valid, refused: validationRefusals } = validateNetworks(selected);
  const refused: Refusal[] = [...validationRefusals];
  const links: DesiredLink[] = [];
  for (const v of valid) {
    const { name, spec } = linkFor(v, options);
    if (name.length > MAX_IFNAME) {
      refused.push({
        networkId: v.network.id,
        networkName: v.network.name,
        code: 'interface-name-too-long',
        message: `network ${v.network.name} (${v.network.id}) refused: interface name ${name} is longer than ${MAX_IFNAME} characters (shorten the trunk name)`,
      });
      continue;
    }
    links.push({
      name,
      networkId: v.network.id,
      networkName: v.network.name,
      alias: markFor(v.network.id),
      spec,
      addresses: [`${v.gateway}/${v.cidr.prefix}`],
      public: isPublicCidr(v.cidr),
      mac: gatewayMac(v.network.id),
      ...(options.vrrp ? { vrrpAddresses: [`${v.gateway}/${v.cidr.prefix}`] } : {}),
    });
  }
  links.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

  const byAddresses = options.publicRouting && options.proxyArp === 'addresses';
  const publicCidrs = new Map(
    valid
      .filter((v) => isPublicCidr(v.cidr))
      .map((v) => [v.network.id, { cidr: v.cidr, gateway: v.gateway }]),
  );
  const servedIds = new Set(links.map((l) => l.networkId));
  const refusedIds = new Set(refused.map((r) => r.networkId));
  const proxyNeighbours: ProxyNeighbour[] = [];
  const keepProxyAddresses = new Set<string>();
  for (const nic of inventory.nics) {
    if (refusedIds.has(nic.networkId)) keepProxyAddresses.add(nic.ipAddress);
    const net = publicCidrs.get(nic.networkId);
    if (!byAddresses || !net || !servedIds.has(nic.networkId)) continue;
    const ip = parseIpv4(nic.ipAddress);
    // Only addresses of the VM's own subnet: a NIC claiming an address elsewhere must not make the router answer for it.
    if (ip === undefined || !cidrContains(net.cidr, ip) || nic.ipAddress === net.gateway) continue;
    proxyNeighbours.push({ address: nic.ipAddress, dev: options.uplink, networkId: nic.networkId });
  }
  proxyNeighbours.sort((a, b) => (parseIpv4(a.address) ?? 0) - (parseIpv4(b.address) ?? 0));

  return {
    links,
    proxyNeighbours,
    keepProxyAddresses,
    sysctls: sysctlsFor(links, options),
    refused,
    skipped,
    inventoryNetworkIds: new Set(inventory.networks.map((n) => n.id)),
  };
}

export function sysctlsFor(links: readonly DesiredLink[], options: DesiredOptions): SysctlSetting[] {
  const settings: SysctlSetting[] = [
    { key: 'net.ipv4.ip_forward', value: '1' },
    // Links created from now on announce their addresses (gratuitous ARP) when they come up: a
    // re-created gateway is in the VMs' ARP caches at once. Only the default for new links changes.
    { key: 'net.ipv4.conf.default.arp_notify', value: '1' },
  ];
  // All VXLAN devices on one UDP port share one kernel socket, and a socket may
  // join at most igmp_max_memberships groups (default 20): past 20 multicast
  // networks `link set up` fails with ENOBUFS unless this limit is raised first.
  const groups = new Set(
    links.flatMap((l) => (l.spec.kind === 'vxlan' && l.spec.group ? [l.spec.group] : [])),
  );
  if (options.vrrp) {
    // The backup does not hold the gateway addresses, yet its meta data servers listen on them so
    // they answer the moment keepalived adds them (no restart in the failover path).
    settings.push({ key: 'net.ipv4.ip_nonlocal_bind', value: '1' });
  }
  if (groups.size > 0) {
    settings.push({ key: 'net.ipv4.igmp_max_memberships', value: String(groups.size), minimum: true });
  }
  if (options.publicRouting && links.some((l) => l.public)) {
    // In addresses mode the uplink answers only for the listed VM addresses, so its blanket proxy_arp is off.
    const value = options.proxyArp === 'addresses' ? '0' : '1';
    settings.push({ key: confKey(options.uplink, 'proxy_arp'), value });
  }
  for (const link of links) {
    settings.push({ key: confKey(link.name, 'forwarding'), value: '1', link: link.name });
    settings.push({ key: confKey(link.name, 'proxy_arp'), value: '1', link: link.name });
    // Strict reverse-path filtering: a VM may only source addresses routed back through its own
    // network's link, so it cannot send as another tenant's (public) address. The kernel uses the
    // larger of this and conf.all.rp_filter; all=2 (loose) would weaken it, all=0 (the default) does not.
    settings.push({ key: confKey(link.name, 'rp_filter'), value: '1', link: link.name });
    // Deleting the primary address (a gateway change) promotes a secondary of the same subnet instead
    // of deleting it along: without it the batch's later lines on that subnet fail.
    settings.push({ key: confKey(link.name, 'promote_secondaries'), value: '1', link: link.name });
    settings.push({ key: confKey(link.name, 'arp_notify'), value: '1', link: link.name });
    if (options.vrrp) {
      // Both routers carry the gateway MAC on the guest link. IPv6 (DAD, MLD) would make the backup
      // send from it, and the hypervisors' VXLAN FDB would then point the VMs' gateway traffic at the
      // backup, which lacks the address; measured in test/e2e/ha.test.ts. Guest networks are IPv4 only.
      settings.push({
        key: `net.ipv6.conf.${link.name.replaceAll('.', '/')}.disable_ipv6`,
        value: '1',
        link: link.name,
      });
    }
  }
  return settings;
}
