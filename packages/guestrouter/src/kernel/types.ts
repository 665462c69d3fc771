/** Current router state as read from the kernel, in the same terms as the desired state. */

export interface CurrentLink {
  readonly name: string;
  readonly alias?: string;
  readonly up: boolean;
  /** The link-layer address (`address` in ip -json), lower case. */
  readonly mac?: string;
  /** `linkinfo.info_kind` (vxlan, vlan, veth, bridge ...), undefined for plain devices. */
  readonly kind?: string;
  readonly vlan?: { readonly id: number; readonly parent?: string };
  readonly vxlan?: {
    readonly vni: number;
    readonly port?: number;
    readonly group?: string;
    readonly local?: string;
    readonly dev?: string;
    readonly ttl?: number;
    readonly learning: boolean;
  };
  /** IPv4 addresses as `address/prefix`. */
  readonly addresses: readonly string[];
}

export interface CurrentProxyNeighbour {
  readonly address: string;
  readonly dev: string;
  /** Routing protocol number as a string (read with ip -N), when set. */
  readonly protocol?: string;
}

export interface CurrentState {
  readonly links: ReadonlyMap<string, CurrentLink>;
  readonly proxyNeighbours: readonly CurrentProxyNeighbour[];
  /** Sysctl values by key (dotted, interface dots written as "/"); missing when the key does not exist. */
  readonly sysctls: ReadonlyMap<string, string>;
}
