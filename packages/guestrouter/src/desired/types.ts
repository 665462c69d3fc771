/** Desired router state: what the kernel should look like for the served networks. */

export type LinkSpec =
  | { readonly kind: 'vlan'; readonly id: number; readonly parent: string }
  | {
      readonly kind: 'vxlan';
      readonly vni: number;
      readonly port: number;
      readonly dev: string;
      /** Multicast group (CloudStack's default); absent in evpn mode. */
      readonly group?: string;
      readonly local?: string;
      readonly ttl?: number;
      readonly learning: boolean;
    };

export interface DesiredLink {
  readonly name: string;
  readonly networkId: string;
  readonly networkName: string;
  /** The mark: guestrouter only ever changes or deletes links whose ifalias starts with MARK_PREFIX. */
  readonly alias: string;
  readonly spec: LinkSpec;
  /** `gateway/prefix`, e.g. `10.1.0.1/24`. */
  readonly addresses: readonly string[];
  readonly public: boolean;
  /** The link's MAC, derived from the network id (stable across re-creation); set when the link is created. */
  readonly mac: string;
  /**
   * Addresses keepalived adds and removes (ha.enabled: the gateway, held only by the VRRP master):
   * the plan neither adds nor deletes them.
   */
  readonly vrrpAddresses?: readonly string[];
}

export interface SysctlSetting {
  readonly key: string;
  readonly value: string;
  /** The link the key belongs to, when it is per interface (written after that link exists). */
  readonly link?: string;
  /** Satisfied by any current value >= value (a limit guestrouter only raises, never lowers). */
  readonly minimum?: boolean;
}

export type RefusalCode =
  | 'id-invalid'
  | 'isolation-missing'
  | 'vlan-out-of-range'
  | 'vni-out-of-range'
  | 'cidr-invalid'
  | 'gateway-invalid'
  | 'gateway-outside-cidr'
  | 'netmask-mismatch'
  | 'cidr-overlap'
  | 'isolation-duplicate'
  | 'virtual-router-services'
  | 'network-not-implemented'
  | 'interface-name-too-long'
  | 'interface-conflict';

export interface Refusal {
  readonly networkId: string;
  readonly networkName: string;
  readonly code: RefusalCode;
  readonly message: string;
}

/** `neigh add proxy <address> dev <uplink>`: the router answers ARP for one VM address on the uplink. */
export interface ProxyNeighbour {
  readonly address: string;
  readonly dev: string;
  readonly networkId: string;
}

/**
 * The mark of proxy neighbour entries guestrouter adds (`protocol 147`): entries
 * cannot carry an alias, so the routing protocol number (unassigned in
 * /etc/iproute2/rt_protos) tells ours from anybody else's.
 */
export const PROXY_NEIGH_PROTOCOL = 147;

export interface DesiredState {
  readonly links: readonly DesiredLink[];
  /** Per-address proxy ARP entries (publicRouting.proxyArp = addresses), sorted. */
  readonly proxyNeighbours: readonly ProxyNeighbour[];
  /** VM addresses of networks present in the inventory but refused: their proxy entries are kept. */
  readonly keepProxyAddresses: ReadonlySet<string>;
  readonly sysctls: readonly SysctlSetting[];
  readonly refused: readonly Refusal[];
  /** Networks present in the inventory but not selected by the config. */
  readonly skipped: readonly { readonly networkId: string; readonly networkName: string }[];
  /** Every network id the inventory holds: a refused network's existing link is kept, never torn down. */
  readonly inventoryNetworkIds: ReadonlySet<string>;
}

export const MARK_PREFIX = 'guestrouter:';

export function markFor(networkId: string): string {
  return `${MARK_PREFIX}${networkId}`;
}

/** The network id from a mark, undefined when the alias is not guestrouter's. */
export function networkIdFromMark(alias: string | undefined): string | undefined {
  return alias?.startsWith(MARK_PREFIX) ? alias.slice(MARK_PREFIX.length) : undefined;
}
