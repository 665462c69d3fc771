import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import type { CurrentState } from '../kernel/types.js';
import { type Ipv4Cidr, subnetOfAddress } from '../net/ipv4.js';
import type { Plan } from '../plan/types.js';

/** A guest network the router holds the gateway of after a cycle: what DHCP and DNS are served on. */
export interface ServingNetwork {
  readonly link: string;
  readonly networkId: string;
  readonly networkName: string;
  readonly gateway: string;
  readonly cidr: Ipv4Cidr;
  /** Refused now but kept as it was (e.g. an overlapping CIDR appeared): served with its last good addressing. */
  readonly kept: boolean;
}

/**
 * Pure: the networks that really serve after a cycle, and nothing else. Services (DHCP, DNS, and
 * later metadata) follow this list, so they are offered exactly on links guestrouter owns:
 * - the links of the plan, minus those whose ip lines failed and those refused because an
 *   unmarked link holds the name (never serve on a link somebody else made);
 * - refused-but-kept links, with the gateway they carry in the kernel (their last good state), so a
 *   network that keeps routing while the operator fixes CloudStack keeps DHCP and DNS too.
 */
export function servingNetworks(
  inventory: Inventory,
  desired: DesiredState,
  current: CurrentState,
  plan: Plan,
  failedLinks: ReadonlySet<string | undefined> = new Set(),
): ServingNetwork[] {
  const conflicted = new Set(
    plan.refused.filter((r) => r.code === 'interface-conflict').map((r) => r.networkId),
  );
  const names = new Map(inventory.networks.map((n) => [n.id, n.name]));
  const out: ServingNetwork[] = [];
  for (const link of desired.links) {
    if (conflicted.has(link.networkId) || failedLinks.has(link.name)) continue;
    const address = link.addresses[0];
    const cidr = address ? subnetOfAddress(address) : undefined;
    if (!address || !cidr) continue;
    out.push({
      link: link.name,
      networkId: link.networkId,
      networkName: link.networkName,
      gateway: address.split('/')[0] as string,
      cidr,
      kept: false,
    });
  }
  for (const k of plan.kept) {
    if (k.reason !== 'refused') continue;
    const existing = current.links.get(k.link);
    const address = existing?.up ? existing.addresses[0] : undefined;
    const cidr = address ? subnetOfAddress(address) : undefined;
    if (!address || !cidr) continue;
    out.push({
      link: k.link,
      networkId: k.networkId,
      networkName: names.get(k.networkId) ?? k.networkId,
      gateway: address.split('/')[0] as string,
      cidr,
      kept: true,
    });
  }
  return out.sort((a, b) => a.link.localeCompare(b.link, 'en', { numeric: true }));
}
