import type { InventoryRules } from './rules.js';

/**
 * The inventory guestrouter works from, as read from the CloudStack API and
 * normalised. Pure planning code consumes only these shapes, so it is tested
 * without an API or a kernel.
 */

/** How a guest network reaches the router: an 802.1Q VLAN on the trunk, or a VXLAN segment. */
export type Isolation =
  | { readonly kind: 'vlan'; readonly id: number }
  | { readonly kind: 'vxlan'; readonly vni: number };

export interface GuestNetwork {
  readonly id: string;
  readonly name: string;
  readonly zoneId: string;
  /** From `broadcasturi` (`vlan://1234`, `vxlan://5001`) or `vlan`; undefined when the API hid it (not root admin). */
  readonly isolation?: Isolation;
  /**
   * The raw `broadcasturi` as CloudStack returned it (root admin only), kept so a
   * network whose isolation could not be used (`vlan://untagged`, `pvlan://...`)
   * is refused with its real value. Optional: added by the CloudStack side.
   */
  readonly broadcastUri?: string;
  /** e.g. `203.0.113.0/24` */
  readonly cidr: string;
  readonly gateway: string;
  readonly netmask: string;
  /** Service names the network offers through a provider, e.g. `Dhcp` by `VirtualRouter`. */
  readonly services: readonly { readonly name: string; readonly provider?: string }[];
  readonly tags: readonly string[];
  readonly state?: string;
  /** The offering's default egress policy (`egressdefaultpolicy`): true allows, false denies; CloudStack's default is allow. */
  readonly egressDefaultAllow?: boolean;
}

export interface VmNic {
  readonly vmId: string;
  readonly vmName: string;
  readonly hostname: string;
  readonly networkId: string;
  readonly macAddress: string;
  readonly ipAddress: string;
  readonly isDefault: boolean;
  readonly state?: string;
  /** For the VM's meta data (`availability-zone`, `service-offering`, `hypervisor-host-name`). */
  readonly zoneName?: string;
  readonly serviceOfferingName?: string;
  /** The hypervisor host the VM runs on (root admin only). */
  readonly hypervisorHost?: string;
  /** The VM's SSH public keys, one per entry (meta data `public-keys`); absent or empty: none known. */
  readonly publicKeys?: readonly string[];
  /** The VM's SSH key pair names (`keypairs`, or the older `keypair`); their keys are looked up by owner. */
  readonly keyPairs?: readonly string[];
  /** Who owns the VM, to find its key pairs (a key pair name is unique per account). */
  readonly owner?: { readonly account?: string; readonly domainId?: string; readonly projectId?: string };
  /** The user data's variables (`userdatadetails`), served as meta data keys as the Virtual Router does. */
  readonly userDataDetails?: readonly (readonly [string, string])[];
}

export interface PublicIp {
  readonly id: string;
  readonly address: string;
  readonly networkId?: string;
  readonly vmId?: string;
  readonly state?: string;
  /** `issourcenat`: the network's source NAT address. */
  readonly isSourceNat?: boolean;
  /** `isstaticnat`: 1:1 NAT to `vmId` at `vmIpAddress`. */
  readonly isStaticNat?: boolean;
  readonly vmIpAddress?: string;
}

export interface Zone {
  readonly id: string;
  readonly name: string;
  readonly networkType?: string;
}

export interface Inventory {
  readonly zones: readonly Zone[];
  readonly networks: readonly GuestNetwork[];
  readonly nics: readonly VmNic[];
  readonly publicIps: readonly PublicIp[];
  /** NAT, port forwarding, firewall and load balancer rules; absent means none. */
  readonly rules?: InventoryRules;
  /** When the inventory was read, unix ms. */
  readonly fetchedAt: number;
}
