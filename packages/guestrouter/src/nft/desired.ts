/**
 * Pure: inventory + served links -> the nftables chains and rules guestrouter
 * owns, the public addresses it answers for on the uplink, and the CloudStack
 * rules it refuses (each by name, with why; every other rule is served).
 *
 * inet guestrouter
 *   prerouting (filter, priority -150, before NAT): anti-spoofing per guest link,
 *     then the ingress firewall of each NAT public address (closed unless a rule opens it)
 *   forward (filter, priority 0): replies, DNAT'ed traffic (it passed the ingress firewall),
 *     tenant isolation (nothing new into a private network), egress firewall per network
 * ip guestrouter_nat
 *   prerouting (nat, dstnat): static NAT and port forwards
 *   postrouting (nat, srcnat): hairpin, static NAT outbound, source NAT
 */
import type { DesiredLink } from '../desired/types.js';
import type { Inventory, PublicIp, VmNic } from '../inventory/types.js';
import type { DesiredLb } from '../lb/desired.js';
import { cidrContains, parseCidr, parseIpv4 } from '../net/ipv4.js';
import {
  type DesiredNft,
  FILTER_TABLE,
  NAT_TABLE,
  type NftChain,
  type NftRule,
  type PublicAddress,
  type RuleRefusal,
} from './types.js';
import { cidrMatch, parsePortRange, portText, protocolMatch } from './validate.js';

export interface NftOptions {
  readonly uplink: string;
  /** Drop new traffic from one guest network into another's private network (default true). */
  readonly isolation: boolean;
}

export const CHAINS: readonly NftChain[] = [
  {
    table: FILTER_TABLE,
    name: 'prerouting',
    type: 'filter',
    hook: 'prerouting',
    priority: -150,
    policy: 'accept',
  },
  { table: FILTER_TABLE, name: 'forward', type: 'filter', hook: 'forward', priority: 0, policy: 'accept' },
  { table: NAT_TABLE, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
  {
    table: NAT_TABLE,
    name: 'postrouting',
    type: 'nat',
    hook: 'postrouting',
    priority: 100,
    policy: 'accept',
  },
];

const q = (name: string) => `"${name}"`;

interface ServedNetwork {
  readonly link: DesiredLink;
  readonly cidr: string;
  readonly gateway: string;
}

export function desiredNft(
  inventory: Inventory,
  links: readonly DesiredLink[],
  options: NftOptions,
  lb: DesiredLb = { frontends: [], refused: [] },
): DesiredNft {
  const rules = inventory.rules ?? { portForwards: [], firewall: [], egress: [], loadBalancers: [] };
  const refused: RuleRefusal[] = [];
  const pre: NftRule[] = [];
  const preFw: NftRule[] = [];
  const forward: NftRule[] = [];
  const dnat: NftRule[] = [];
  const hairpin: NftRule[] = [];
  const snatStatic: NftRule[] = [];
  const snat: NftRule[] = [];
  if (links.length === 0) return { chains: [], rules: [], publicAddresses: [], refused };

  const networksById = new Map(inventory.networks.map((n) => [n.id, n]));
  const served = new Map<string, ServedNetwork>();
  for (const link of links) {
    const [gatewayCidr] = link.addresses;
    const network = networksById.get(link.networkId);
    if (!gatewayCidr || !network) continue;
    served.set(link.networkId, { link, cidr: network.cidr, gateway: gatewayCidr.split('/')[0] as string });
  }
  const nicsByNetwork = new Map<string, VmNic[]>();
  for (const nic of inventory.nics) {
    if (!served.has(nic.networkId)) continue;
    const list = nicsByNetwork.get(nic.networkId) ?? [];
    list.push(nic);
    nicsByNetwork.set(nic.networkId, list);
  }

  // Anti-spoofing: a guest link only sends from an address CloudStack gave a NIC there, with that NIC's MAC.
  for (const { link } of served.values()) {
    const nics = (nicsByNetwork.get(link.networkId) ?? []).filter(
      (n) => parseIpv4(n.ipAddress) !== undefined,
    );
    const base = { table: FILTER_TABLE, chain: 'prerouting', networkId: link.networkId };
    pre.push({
      ...base,
      key: `dhcp:${link.name}`,
      text: `iifname ${q(link.name)} ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept`,
      reason: `DHCP discovery on ${link.name} (a VM without an address yet)`,
    });
    const pairs = [...new Set(nics.map((n) => `${n.macAddress} . ${n.ipAddress}`))].sort();
    pre.push({
      ...base,
      key: `spoof:${link.name}`,
      text:
        pairs.length === 0
          ? `iifname ${q(link.name)} meta nfproto ipv4 drop`
          : `iifname ${q(link.name)} ether saddr . ip saddr != { ${pairs.join(', ')} } drop`,
      reason: `anti-spoofing on ${link.name}: only the ${pairs.length} MAC/address pairs CloudStack assigned there`,
    });
  }

  // Public addresses: which ones the router answers for and what each is for.
  const publicById = new Map<string, { ip: PublicIp; net: ServedNetwork }>();
  for (const ip of inventory.publicIps) {
    if (ip.networkId === undefined) continue;
    const net = served.get(ip.networkId);
    if (!net || parseIpv4(ip.address) === undefined) continue;
    publicById.set(ip.id, { ip, net });
  }
  const publicAddresses = new Map<string, PublicAddress>();
  const answer = (ip: PublicIp, networkId: string, purpose: string) => {
    const had = publicAddresses.get(ip.address);
    publicAddresses.set(ip.address, {
      address: ip.address,
      networkId,
      purpose: had ? `${had.purpose}, ${purpose}` : purpose,
    });
  };
  const vmAddress = (vmId: string, networkId: string, wanted?: string): string | undefined => {
    const nics = (nicsByNetwork.get(networkId) ?? []).filter((n) => n.vmId === vmId);
    if (wanted !== undefined) return nics.some((n) => n.ipAddress === wanted) ? wanted : undefined;
    return (nics.find((n) => n.isDefault) ?? nics[0])?.ipAddress;
  };
  const dnatTargets = new Set<string>();

  // Source NAT: a private network leaves through its source NAT address.
  for (const { ip, net } of publicById.values()) {
    if (!ip.isSourceNat) continue;
    if (net.link.public) continue; // a routed public subnet needs no NAT
    answer(ip, net.link.networkId, 'source NAT');
    snat.push({
      table: NAT_TABLE,
      chain: 'postrouting',
      key: `snat:${net.link.networkId}`,
      text: `oifname ${q(options.uplink)} ip saddr ${net.cidr} snat to ${ip.address}`,
      reason: `source NAT of ${net.link.networkName} via ${ip.address}`,
      networkId: net.link.networkId,
    });
  }

  // Static NAT: both directions; the outbound rule comes before the network's source NAT.
  for (const { ip, net } of publicById.values()) {
    if (!ip.isStaticNat) continue;
    const target = ip.vmId ? vmAddress(ip.vmId, net.link.networkId, ip.vmIpAddress) : undefined;
    if (target === undefined) {
      refused.push({
        kind: 'static-nat',
        ruleId: ip.id,
        networkId: net.link.networkId,
        message: `static NAT ${ip.address} (${ip.id}) refused: VM ${ip.vmId ?? '(none)'}${ip.vmIpAddress ? ` at ${ip.vmIpAddress}` : ''} has no NIC in network ${net.link.networkName}`,
      });
      continue;
    }
    answer(ip, net.link.networkId, `static NAT to ${target}`);
    dnatTargets.add(net.link.networkId);
    dnat.push({
      table: NAT_TABLE,
      chain: 'prerouting',
      key: `static:${ip.id}`,
      text: `ip daddr ${ip.address} dnat to ${target}`,
      reason: `static NAT ${ip.address} -> ${target}`,
      networkId: net.link.networkId,
    });
    snatStatic.push({
      table: NAT_TABLE,
      chain: 'postrouting',
      key: `static:${ip.id}`,
      text: `oifname ${q(options.uplink)} ip saddr ${target} snat to ${ip.address}`,
      reason: `static NAT ${target} leaves as ${ip.address}`,
      networkId: net.link.networkId,
    });
  }

  // Port forwards: validated one by one; overlapping ranges on one address and protocol refuse all involved.
  interface Forward {
    id: string;
    ip: PublicIp;
    networkId: string;
    protocol: string;
    pub: { start: number; end: number };
    priv: { start: number; end: number };
    target: string;
    source: string;
  }
  const forwards: Forward[] = [];
  for (const rule of rules.portForwards) {
    const what = `port forward ${rule.id}`;
    const refuse = (message: string, networkId?: string) =>
      refused.push({
        kind: 'port-forward',
        ruleId: rule.id,
        ...(networkId ? { networkId } : {}),
        message: `${what} refused: ${message}`,
      });
    const owner = publicById.get(rule.publicIpId);
    if (!owner) {
      refuse(
        `public address ${rule.publicIpId || '(none)'} is unknown or not associated with a served network`,
      );
      continue;
    }
    const networkId = owner.net.link.networkId;
    if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') {
      refuse(`protocol "${rule.protocol}" is not tcp or udp`, networkId);
      continue;
    }
    const pub = parsePortRange(rule.publicStartPort, rule.publicEndPort, 'public');
    const priv = parsePortRange(rule.privateStartPort, rule.privateEndPort, 'private');
    if (!pub.ok || !priv.ok) {
      refuse(!pub.ok ? pub.message : !priv.ok ? priv.message : '', networkId);
      continue;
    }
    const pubLen = pub.value.end - pub.value.start;
    const privLen = priv.value.end - priv.value.start;
    if (pubLen !== privLen) {
      refuse(
        `public range ${portText(pub.value)} and private range ${portText(priv.value)} differ in size`,
        networkId,
      );
      continue;
    }
    if (pubLen > 0 && pub.value.start !== priv.value.start) {
      refuse(
        `a range forwarded to other port numbers (${portText(pub.value)} -> ${portText(priv.value)}) is not supported; use the same numbers or single ports`,
        networkId,
      );
      continue;
    }
    const target = vmAddress(rule.vmId, networkId, rule.vmGuestIp);
    if (target === undefined) {
      refuse(
        `VM ${rule.vmId || '(none)'}${rule.vmGuestIp ? ` at ${rule.vmGuestIp}` : ''} has no NIC in network ${owner.net.link.networkName}`,
        networkId,
      );
      continue;
    }
    const source = cidrMatch(rule.cidrs, 'ip saddr', 'source CIDR');
    if (!source.ok) {
      refuse(source.message, networkId);
      continue;
    }
    forwards.push({
      id: rule.id,
      ip: owner.ip,
      networkId,
      protocol: rule.protocol,
      pub: pub.value,
      priv: priv.value,
      target,
      source: source.value,
    });
  }
  // Overlaps are found per public address and protocol, sorted by start port: linear after the sort.
  const overlapping = new Map<string, Set<string>>();
  const groups = new Map<string, Forward[]>();
  for (const f of forwards) {
    const key = `${f.ip.id}\t${f.protocol}`;
    const group = groups.get(key) ?? [];
    group.push(f);
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    group.sort((a, b) => a.pub.start - b.pub.start);
    let reach: Forward | undefined;
    for (const f of group) {
      if (reach && f.pub.start <= reach.pub.end) {
        overlapping.set(f.id, (overlapping.get(f.id) ?? new Set()).add(reach.id));
        overlapping.set(reach.id, (overlapping.get(reach.id) ?? new Set()).add(f.id));
      }
      if (!reach || f.pub.end > reach.pub.end) reach = f;
    }
  }
  for (const f of forwards) {
    const others = [...(overlapping.get(f.id) ?? [])].sort();
    if (others.length > 0) {
      refused.push({
        kind: 'port-forward',
        ruleId: f.id,
        networkId: f.networkId,
        message: `port forward ${f.id} refused: ${f.protocol} ${portText(f.pub)} on ${f.ip.address} overlaps port forward ${others.join(', ')} (both refused)`,
      });
      continue;
    }
    answer(f.ip, f.networkId, `port forward ${f.protocol} ${portText(f.pub)}`);
    dnatTargets.add(f.networkId);
    const to = f.pub.start === f.pub.end ? `${f.target}:${f.priv.start}` : f.target;
    dnat.push({
      table: NAT_TABLE,
      chain: 'prerouting',
      key: `pf:${f.id}`,
      text: [`ip daddr ${f.ip.address}`, f.source, `${f.protocol} dport ${portText(f.pub)}`, `dnat to ${to}`]
        .filter((p) => p !== '')
        .join(' '),
      reason: `port forward ${f.ip.address} ${f.protocol} ${portText(f.pub)} -> ${f.target}:${portText(f.priv)}`,
      networkId: f.networkId,
    });
  }

  // Hairpin: a VM reaching a NAT address of its own network gets its answer back through the router.
  for (const networkId of [...dnatTargets].sort()) {
    const net = served.get(networkId);
    if (!net) continue;
    hairpin.push({
      table: NAT_TABLE,
      chain: 'postrouting',
      key: `hairpin:${networkId}`,
      text: `ct status dnat ip saddr ${net.cidr} ip daddr ${net.cidr} snat to ${net.gateway}`,
      reason: `hairpin NAT inside ${net.link.networkName}`,
      networkId,
    });
  }

  // Ingress firewall of the public addresses: opened by rules, closed otherwise (as on the VR).
  preFw.push({
    table: FILTER_TABLE,
    chain: 'prerouting',
    key: 'established',
    text: 'ct state established,related accept',
    reason: 'replies and related traffic',
  });
  const byAddress = new Map([...publicById.values()].map((o) => [o.ip.id, o]));
  for (const rule of rules.firewall) {
    const what = `firewall rule ${rule.id}`;
    const owner = rule.publicIpId ? byAddress.get(rule.publicIpId) : undefined;
    const refuse = (message: string) =>
      refused.push({
        kind: 'firewall',
        ruleId: rule.id,
        ...(owner ? { networkId: owner.net.link.networkId } : {}),
        message: `${what} refused: ${message}`,
      });
    if (!owner) {
      refuse(
        `public address ${rule.publicIpId ?? '(none)'} is unknown or not associated with a served network`,
      );
      continue;
    }
    const proto = protocolMatch(rule, what);
    const source = cidrMatch(rule.cidrs, 'ip saddr', 'source CIDR');
    if (!proto.ok || !source.ok) {
      refuse(!proto.ok ? proto.message : !source.ok ? source.message : '');
      continue;
    }
    if (!publicAddresses.has(owner.ip.address)) answer(owner.ip, owner.net.link.networkId, 'firewall');
    preFw.push({
      table: FILTER_TABLE,
      chain: 'prerouting',
      key: `fw:${rule.id}`,
      text: [`ip daddr ${owner.ip.address}`, source.value, proto.value, 'accept']
        .filter((p) => p !== '')
        .join(' '),
      reason:
        `firewall opens ${owner.ip.address} ${rule.protocol} ${rule.startPort ?? ''}${rule.endPort && rule.endPort !== rule.startPort ? `-${rule.endPort}` : ''}`.trim(),
      networkId: owner.net.link.networkId,
    });
  }
  // Load balancer ports are open as on the VR (its haproxy rules open their own port), to the rule's CIDRs.
  for (const f of lb.frontends) {
    const owner = byAddress.get(f.publicIpId);
    if (!owner) continue;
    answer(owner.ip, f.networkId, `load balancer ${f.name} port ${f.publicPort}`);
    preFw.push({
      table: FILTER_TABLE,
      chain: 'prerouting',
      key: `lb:${f.ruleId}`,
      text: [`ip daddr ${f.publicAddress}`, f.sourceMatch, `tcp dport ${f.publicPort}`, 'accept']
        .filter((p) => p !== '')
        .join(' '),
      reason: `load balancer ${f.name} on ${f.publicAddress}:${f.publicPort}`,
      networkId: f.networkId,
    });
  }
  const addresses = [...publicAddresses.values()].sort(
    (a, b) => (parseIpv4(a.address) ?? 0) - (parseIpv4(b.address) ?? 0),
  );
  if (addresses.length > 0) {
    preFw.push({
      table: FILTER_TABLE,
      chain: 'prerouting',
      key: 'closed',
      text: `ip daddr { ${addresses.map((a) => a.address).join(', ')} } drop`,
      reason: 'public addresses are closed where no firewall rule opens them',
    });
  }

  // Forwarding: replies, then DNAT'ed traffic (it passed the ingress firewall), then isolation and egress.
  forward.push(
    {
      table: FILTER_TABLE,
      chain: 'forward',
      key: 'established',
      text: 'ct state established,related accept',
      reason: 'replies and related traffic',
    },
    {
      table: FILTER_TABLE,
      chain: 'forward',
      key: 'dnat',
      text: 'ct status dnat accept',
      reason: 'static NAT and port forwards, after the ingress firewall',
    },
  );
  const privateLinks = [...served.values()]
    .filter((n) => !n.link.public)
    .map((n) => n.link.name)
    .sort();
  if (privateLinks.length > 0) {
    const into =
      privateLinks.length === 1 ? q(privateLinks[0] as string) : `{ ${privateLinks.map(q).join(', ')} }`;
    forward.push({
      table: FILTER_TABLE,
      chain: 'forward',
      key: 'isolation',
      text: options.isolation ? `oifname ${into} drop` : `iifname ${q(options.uplink)} oifname ${into} drop`,
      reason: options.isolation
        ? 'tenant isolation: nothing new enters a private network except through NAT'
        : 'isolation off (firewall.isolation=false): only the internet is kept out of private networks',
    });
  }
  const egressByNetwork = new Map<string, typeof rules.egress>();
  for (const r of rules.egress) {
    if (r.networkId === undefined) continue;
    egressByNetwork.set(r.networkId, [...(egressByNetwork.get(r.networkId) ?? []), r]);
  }
  for (const net of [...served.values()].sort((a, b) => a.link.name.localeCompare(b.link.name))) {
    const network = networksById.get(net.link.networkId);
    const allow = network?.egressDefaultAllow ?? true;
    const egress = egressByNetwork.get(net.link.networkId) ?? [];
    const guestCidr = parseCidr(net.cidr);
    const head = `iifname ${q(net.link.name)} oifname ${q(options.uplink)}`;
    let listed = 0;
    for (const rule of egress) {
      const what = `egress rule ${rule.id}`;
      const proto = protocolMatch(rule, what);
      const source = cidrMatch(rule.cidrs, 'ip saddr', 'source CIDR');
      const dest = cidrMatch(rule.destCidrs, 'ip daddr', 'destination CIDR');
      const message = !proto.ok
        ? proto.message
        : !source.ok
          ? source.message
          : !dest.ok
            ? dest.message
            : undefined;
      const outside = rule.cidrs.find((c) => {
        const parsed = parseCidr(c.includes('/') ? c : `${c}/32`);
        return (
          guestCidr &&
          parsed &&
          parsed.prefix > 0 &&
          !(cidrContains(guestCidr, parsed.first) && cidrContains(guestCidr, parsed.last))
        );
      });
      if (message !== undefined || outside !== undefined || !proto.ok || !source.ok || !dest.ok) {
        refused.push({
          kind: 'egress-firewall',
          ruleId: rule.id,
          networkId: net.link.networkId,
          message: `${what} refused: ${message ?? `source CIDR ${outside} is not inside the network's ${net.cidr}`}`,
        });
        continue;
      }
      listed++;
      forward.push({
        table: FILTER_TABLE,
        chain: 'forward',
        key: `egress:${rule.id}`,
        text: [head, source.value, dest.value, proto.value, allow ? 'drop' : 'accept']
          .filter((p) => p !== '')
          .join(' '),
        reason: `egress ${allow ? 'deny' : 'allow'} rule of ${net.link.networkName} (default ${allow ? 'allow' : 'deny'})`,
        networkId: net.link.networkId,
      });
    }
    if (!allow) {
      forward.push({
        table: FILTER_TABLE,
        chain: 'forward',
        key: `egress-default:${net.link.networkId}`,
        text: `${head} drop`,
        reason: `egress of ${net.link.networkName} denied by default (${listed} rules allow)`,
        networkId: net.link.networkId,
      });
    }
  }

  return {
    chains: CHAINS,
    rules: [...pre, ...preFw, ...forward, ...dnat, ...hairpin, ...snatStatic, ...snat],
    publicAddresses: addresses,
    refused: [...refused, ...lb.refused],
  };
}
