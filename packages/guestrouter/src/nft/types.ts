/** The nftables rule set guestrouter owns, in the same terms for desired and current state. */

export interface TableRef {
  readonly family: 'inet' | 'ip';
  readonly name: string;
}

/** Filtering (anti-spoofing, ingress firewall, isolation, egress firewall). */
export const FILTER_TABLE: TableRef = { family: 'inet', name: 'guestrouter' };
/** Source NAT, static NAT, port forwarding, hairpin. */
export const NAT_TABLE: TableRef = { family: 'ip', name: 'guestrouter_nat' };
export const OWNED_TABLES: readonly TableRef[] = [FILTER_TABLE, NAT_TABLE];

export function tableId(table: TableRef): string {
  return `${table.family} ${table.name}`;
}

export interface NftChain {
  readonly table: TableRef;
  readonly name: string;
  readonly type: 'filter' | 'nat';
  readonly hook: 'prerouting' | 'forward' | 'postrouting';
  readonly priority: number;
  readonly policy: 'accept' | 'drop';
}

export interface NftRule {
  readonly table: TableRef;
  readonly chain: string;
  /** Unique within the chain; written into the rule's comment with a hash of the text, so the diff works on nft -j output. */
  readonly key: string;
  /** The rule as nft syntax, without its comment. */
  readonly text: string;
  /** Why the rule exists, for plan output and logs. */
  readonly reason: string;
  readonly networkId?: string;
}

export type RuleKind =
  | 'port-forward'
  | 'firewall'
  | 'egress-firewall'
  | 'static-nat'
  | 'source-nat'
  | 'load-balancer';

/** One CloudStack rule guestrouter does not serve, and why; every other rule is still served. */
export interface RuleRefusal {
  readonly kind: RuleKind;
  readonly ruleId: string;
  readonly networkId?: string;
  readonly message: string;
}

/** A public address the router answers for on the uplink (`addr add P/32 dev UPLINK label UPLINK:gr`). */
export interface PublicAddress {
  readonly address: string;
  readonly networkId: string;
  readonly purpose: string;
}

export interface DesiredNft {
  readonly chains: readonly NftChain[];
  readonly rules: readonly NftRule[];
  readonly publicAddresses: readonly PublicAddress[];
  readonly refused: readonly RuleRefusal[];
}

/** A rule read back from the kernel: its comment split into key and hash; no comment means a foreign rule. */
export interface CurrentNftRule {
  readonly table: TableRef;
  readonly chain: string;
  readonly handle: number;
  readonly key?: string;
  readonly hash?: string;
}

export interface CurrentNft {
  /** Owned tables that exist now. */
  readonly tables: readonly TableRef[];
  readonly chains: readonly NftChain[];
  readonly rules: readonly CurrentNftRule[];
}
