import type { GuestNetwork } from '../inventory/types.js';
import {
  cidrContains,
  cidrsOverlap,
  type Ipv4Cidr,
  parseCidr,
  parseIpv4,
  prefixFromNetmask,
} from '../net/ipv4.js';
import type { Refusal, RefusalCode } from './types.js';
import { VNI_MAX, VNI_MIN } from './vxlan.js';

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

/** Providers that mean CloudStack already runs a Virtual Router for the network. */
const VIRTUAL_ROUTER_PROVIDERS = new Set(['virtualrouter', 'vpcvirtualrouter']);

export interface ValidNetwork {
  readonly network: GuestNetwork;
  readonly cidr: Ipv4Cidr;
  readonly gateway: string;
}

export interface ValidationResult {
  readonly valid: readonly ValidNetwork[];
  readonly refused: readonly Refusal[];
}

function refusal(network: GuestNetwork, code: RefusalCode, detail: string): Refusal {
  return {
    networkId: network.id,
    networkName: network.name,
    code,
    message: `network ${network.name} (${network.id}) refused: ${detail}`,
  };
}

/** Checks one network on its own; returns the refusal or the parsed network. */
export function validateNetwork(network: GuestNetwork): ValidNetwork | Refusal {
  // The id becomes part of the ifalias mark and a plan line: keep it to what CloudStack issues (UUIDs).
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(network.id)) {
    return refusal(
      network,
      'id-invalid',
      'its id has characters other than letters, digits, ".", "_" and "-"',
    );
  }
  const vr = network.services.filter(
    (s) => s.provider && VIRTUAL_ROUTER_PROVIDERS.has(s.provider.toLowerCase()),
  );
  if (vr.length > 0) {
    const list = vr.map((s) => `${s.name} by ${s.provider}`).join(', ');
    return refusal(
      network,
      'virtual-router-services',
      `it has services provided by CloudStack's Virtual Router (${list}); a Virtual Router already routes it. ` +
        'Serve it with guestrouter only after recreating it from a network offering without VirtualRouter services',
    );
  }
  if (network.isolation === undefined) {
    if (network.state?.toLowerCase() === 'allocated') {
      return refusal(
        network,
        'network-not-implemented',
        'it is in state Allocated: CloudStack assigns its VLAN/VNI only when the first VM starts; it is served once implemented',
      );
    }
    if (network.broadcastUri !== undefined && network.broadcastUri !== '') {
      return refusal(
        network,
        'isolation-missing',
        `its broadcasturi ${network.broadcastUri} is neither a tagged VLAN (vlan://1-4094) nor a VXLAN segment (vxlan://VNI); guestrouter cannot join it`,
      );
    }
    return refusal(
      network,
      'isolation-missing',
      'the API answer has no vlan or broadcasturi. CloudStack returns vlan and broadcasturi to root admins only: ' +
        'use a root-admin API key (or the network is not VLAN/VXLAN isolated)',
    );
  }
  if (network.isolation.kind === 'vlan') {
    const id = network.isolation.id;
    if (!Number.isInteger(id) || id < VLAN_MIN || id > VLAN_MAX) {
      return refusal(network, 'vlan-out-of-range', `VLAN id ${id} is outside ${VLAN_MIN}-${VLAN_MAX}`);
    }
  } else {
    const vni = network.isolation.vni;
    if (!Number.isInteger(vni) || vni < VNI_MIN || vni > VNI_MAX) {
      return refusal(network, 'vni-out-of-range', `VXLAN VNI ${vni} is outside ${VNI_MIN}-${VNI_MAX}`);
    }
  }
  const cidr = parseCidr(network.cidr);
  if (!cidr)
    return refusal(
      network,
      'cidr-invalid',
      `cidr "${network.cidr}" is not an IPv4 network such as 10.1.0.0/24`,
    );
  if (cidr.prefix > 30) {
    return refusal(
      network,
      'cidr-invalid',
      `cidr ${network.cidr} is too small for a gateway and VMs (prefix > 30)`,
    );
  }
  const gateway = parseIpv4(network.gateway);
  if (gateway === undefined)
    return refusal(network, 'gateway-invalid', `gateway "${network.gateway}" is not an IPv4 address`);
  if (!cidrContains(cidr, gateway)) {
    return refusal(
      network,
      'gateway-outside-cidr',
      `gateway ${network.gateway} is outside its cidr ${network.cidr}`,
    );
  }
  if (gateway === cidr.first || gateway === cidr.last) {
    return refusal(
      network,
      'gateway-invalid',
      `gateway ${network.gateway} is the network or broadcast address of ${network.cidr}`,
    );
  }
  if (network.netmask) {
    const prefix = prefixFromNetmask(network.netmask);
    if (prefix !== cidr.prefix) {
      return refusal(
        network,
        'netmask-mismatch',
        `netmask ${network.netmask} does not match cidr ${network.cidr}`,
      );
    }
  }
  return { network, cidr, gateway: network.gateway };
}

function isolationKey(network: GuestNetwork): string {
  const iso = network.isolation;
  if (!iso) return '';
  return iso.kind === 'vlan' ? `vlan ${iso.id}` : `vxlan ${iso.vni}`;
}

/**
 * Validates every network, then the set: networks whose CIDRs overlap, or that
 * claim the same VLAN/VNI, are ALL refused. Picking a winner would depend on
 * API order; refusing both is deterministic, and because a refused network's
 * existing link is kept as it is, a network already served keeps working while
 * the operator fixes CloudStack.
 */
export function validateNetworks(networks: readonly GuestNetwork[]): ValidationResult {
  const refused: Refusal[] = [];
  const single: ValidNetwork[] = [];
  for (const network of networks) {
    const result = validateNetwork(network);
    if ('code' in result) refused.push(result);
    else single.push(result);
  }

  const bad = new Map<string, Refusal>();
  const byIsolation = new Map<string, ValidNetwork[]>();
  for (const v of single) {
    const key = isolationKey(v.network);
    byIsolation.set(key, [...(byIsolation.get(key) ?? []), v]);
  }
  for (const [key, group] of byIsolation) {
    if (group.length < 2) continue;
    const names = group.map((v) => `${v.network.name} (${v.network.id})`).join(', ');
    for (const v of group) {
      bad.set(
        v.network.id,
        refusal(v.network, 'isolation-duplicate', `${key} is claimed by several networks: ${names}`),
      );
    }
  }

  // Sort by start address: overlapping blocks are then neighbours of some block
  // that extends furthest so far, which keeps this linear after the sort.
  const sorted = [...single].sort((a, b) => a.cidr.first - b.cidr.first || a.cidr.last - b.cidr.last);
  let widest: ValidNetwork | undefined;
  for (const v of sorted) {
    if (widest && cidrsOverlap(widest.cidr, v.cidr)) {
      const pair = `${widest.network.cidr} of ${widest.network.name} (${widest.network.id}) and ${v.network.cidr} of ${v.network.name} (${v.network.id})`;
      for (const side of [widest, v]) {
        if (!bad.has(side.network.id)) {
          bad.set(side.network.id, refusal(side.network, 'cidr-overlap', `CIDRs overlap: ${pair}`));
        }
      }
    }
    if (!widest || v.cidr.last > widest.cidr.last) widest = v;
  }

  return {
    valid: single.filter((v) => !bad.has(v.network.id)),
    refused: [...refused, ...bad.values()],
  };
}
