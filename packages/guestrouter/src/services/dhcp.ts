import type { Inventory } from '../inventory/types.js';
import { formatIpv4, type Ipv4Cidr, maskOf, parseIpv4 } from '../net/ipv4.js';
import type { ServingNetwork } from './serving.js';

export interface DhcpOptions {
  /** dnsmasq lease time, e.g. `12h`, `3600` (seconds) or `infinite`. */
  readonly leaseTime: string;
  /** Where the hosts file lives (dnsmasq re-reads it on SIGHUP). */
  readonly hostsFile: string;
  readonly pidFile: string;
  /** DNS domain given to the VMs (option 15), and with `dns` the zone their names live in. */
  readonly domain?: string;
  /**
   * Also answer DNS on the served links: the VMs' names (and NAME.DOMAIN) from the
   * inventory, everything else forwarded to `upstream`; the gateway is handed out as DNS server.
   */
  readonly dns?: { readonly hostsFile: string; readonly upstream: readonly string[] };
  /**
   * With `dns`: the name `data-server` answers each network's gateway on that network only (cloud-init's
   * CloudStack datasource looks the meta data server up by that name first).
   */
  readonly dataServer?: boolean;
}

export interface RenderedDhcp {
  /** The dnsmasq configuration: interfaces, one static range and router option per network. */
  readonly conf: string;
  /** One `MAC,IP,hostname` line per VM NIC of a served network, sorted. */
  readonly hosts: string;
  /** With DNS: one `IP NAME [NAME.DOMAIN]` line per named VM NIC (dnsmasq addn-hosts). */
  readonly dnsHosts: string;
  readonly networks: number;
  readonly leases: number;
  /** NICs left out, with why (not in a served network, bad MAC or address, duplicate). */
  readonly skipped: readonly string[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** What dnsmasq and DHCP clients take as a host name: one DNS label. */
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A dnsmasq tag per link: letters, digits and `_` only, so it never needs quoting. */
const tagOf = (link: string): string => `gr_${link.replace(/[^A-Za-z0-9]/g, '_')}`;

/**
 * The DHCP service the Virtual Router gave, for the networks guestrouter
 * serves: static leases only (`dhcp-range=...,static`), so a VM gets exactly the
 * address CloudStack assigned to its NIC's MAC, with the network's gateway as
 * its router, and an unknown MAC gets nothing. One dnsmasq serves every guest
 * link; DNS is off (`port=0`) unless `dns` is given. Pure: the serving networks
 * (servingNetworks) and the inventory in, text out.
 */
export function renderDhcp(
  serving: readonly ServingNetwork[],
  inventory: Inventory,
  options: DhcpOptions,
): RenderedDhcp {
  const dns = options.dns;
  const conf: string[] = [
    `# Written by guestrouter: DHCP${dns ? ' and DNS' : ''} for the guest networks it serves. Changes are overwritten.`,
    // DNS off unless asked for; on, it answers only on the served links (interface= below).
    dns ? 'port=53' : 'port=0',
    'bind-dynamic',
    'except-interface=lo',
    'dhcp-authoritative',
    'leasefile-ro',
    'no-resolv',
    'no-hosts',
    `pid-file=${options.pidFile}`,
    `dhcp-hostsfile=${options.hostsFile}`,
  ];
  if (dns) {
    conf.push(`addn-hosts=${dns.hostsFile}`, 'domain-needed', 'bogus-priv');
    // The VMs' own domain is answered here only: an unknown name in it is NXDOMAIN, never forwarded.
    if (options.domain !== undefined) conf.push(`domain=${options.domain}`, `local=/${options.domain}/`);
    for (const server of dns.upstream) conf.push(`server=${server}`);
    // One data-server line per gateway; a query gets the one on the subnet of the link it came in on.
    if (options.dataServer) conf.push('localise-queries');
  }
  const served = new Map<string, { tag: string; cidr: Ipv4Cidr }>();
  for (const network of serving) {
    const { cidr } = network;
    const tag = tagOf(network.link);
    served.set(network.networkId, { tag, cidr });
    const mask = formatIpv4(maskOf(cidr.prefix));
    conf.push(
      `# ${network.networkName} (${network.networkId})${network.kept ? ': refused, kept with its last good addressing' : ''}`,
      `interface=${network.link}`,
      `dhcp-range=set:${tag},${formatIpv4(cidr.network)},static,${mask},${options.leaseTime}`,
      `dhcp-option=tag:${tag},option:router,${network.gateway}`,
    );
    if (options.domain !== undefined)
      conf.push(`dhcp-option=tag:${tag},option:domain-name,${options.domain}`);
    if (dns) conf.push(`dhcp-option=tag:${tag},option:dns-server,${network.gateway}`);
  }
  const hosts: string[] = [];
  const dnsHosts: string[] = [];
  if (dns && options.dataServer) {
    for (const network of serving) dnsHosts.push(`${network.gateway} data-server`);
  }
  const skipped: string[] = [];
  const seen = new Set<string>();
  const nics = [...inventory.nics].sort(
    (a, b) => a.networkId.localeCompare(b.networkId) || a.ipAddress.localeCompare(b.ipAddress),
  );
  for (const nic of nics) {
    const net = served.get(nic.networkId);
    if (!net) continue;
    const mac = nic.macAddress.toLowerCase();
    const ip = parseIpv4(nic.ipAddress);
    const what = `VM ${nic.vmName} (${nic.vmId}) NIC ${nic.macAddress} ${nic.ipAddress}`;
    if (!MAC.test(mac)) {
      skipped.push(`${what}: not a MAC address`);
      continue;
    }
    if (ip === undefined || ip < net.cidr.first || ip > net.cidr.last) {
      skipped.push(`${what}: address outside its network`);
      continue;
    }
    // A MAC may sit in several networks (dnsmasq picks the line that fits the receiving
    // interface's subnet), but within one network it can have one address only.
    const seenKey = `${nic.networkId} ${mac}`;
    if (seen.has(seenKey)) {
      skipped.push(`${what}: MAC already given another address in this network`);
      continue;
    }
    seen.add(seenKey);
    const name = HOSTNAME.test(nic.hostname) ? nic.hostname : HOSTNAME.test(nic.vmName) ? nic.vmName : '';
    hosts.push(`${mac},${nic.ipAddress}${name ? `,${name}` : ''}`);
    if (name) dnsHosts.push(`${nic.ipAddress} ${name}${options.domain ? ` ${name}.${options.domain}` : ''}`);
  }
  return {
    conf: `${conf.join('\n')}\n`,
    hosts: hosts.length > 0 ? `${hosts.join('\n')}\n` : '',
    dnsHosts: dnsHosts.length > 0 ? `${dnsHosts.join('\n')}\n` : '',
    networks: served.size,
    leases: hosts.length,
    skipped,
  };
}

/**
 * The static leases a new hosts file drops (same MAC and address no longer listed): dnsmasq keeps their
 * leases in memory until they expire, and while one is held the address is refused to any other MAC
 * ("not using configured address ... because it is leased to ...") and still renewed for the old VM.
 * Each is released with dhcp_release after the reload. Pure.
 */
export function droppedHosts(before: string, after: string): { mac: string; ip: string }[] {
  const pairs = (text: string) =>
    text
      .split('\n')
      .map((line) => line.trim().split(','))
      .filter((f) => f.length >= 2 && f[0] !== '')
      .map((f) => ({ mac: f[0] as string, ip: f[1] as string }));
  const kept = new Set(pairs(after).map((p) => `${p.mac} ${p.ip}`));
  return pairs(before).filter((p) => !kept.has(`${p.mac} ${p.ip}`));
}
