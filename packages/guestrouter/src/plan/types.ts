import type { Refusal, SysctlSetting } from '../desired/types.js';
import type { RuleRefusal } from '../nft/types.js';
import type { Operation } from './operations.js';

export type ChangeAction =
  | 'create-link'
  | 'adopt-link'
  | 'recreate-link'
  | 'delete-link'
  | 'add-address'
  | 'remove-address'
  | 'set-up'
  | 'add-proxy-neighbour'
  | 'delete-proxy-neighbour'
  | 'set-sysctl'
  | 'add-public-address'
  | 'remove-public-address'
  | 'create-nft-chain'
  | 'replace-nft-chain'
  | 'delete-nft-chain'
  | 'create-nft-rule'
  | 'update-nft-rule'
  | 'delete-nft-rule';

/** One change, for logs and JSON output; the literal commands are in Plan.sysctlsBefore, ipCommands, sysctls. */
export interface Change {
  readonly action: ChangeAction;
  readonly link?: string;
  readonly networkId?: string;
  readonly detail: string;
  /** Why, when the action alone does not say it (nft rules, public addresses). */
  readonly reason?: string;
}

export interface Plan {
  /** Lines for `ip -batch -`, in order. */
  readonly ipCommands: readonly string[];
  /** The link each ip line is about (same index), so a failed line is pinned to its network. */
  readonly ipCommandLinks: readonly string[];
  /** Global sysctl writes, run before the ip batch (the multicast limit must be raised before links go up). */
  readonly sysctlsBefore: readonly SysctlSetting[];
  /** Per-link sysctl writes, run after the ip batch (the interfaces must exist). */
  readonly sysctls: readonly SysctlSetting[];
  readonly changes: readonly Change[];
  readonly refused: readonly Refusal[];
  /**
   * Managed links left exactly as they are: their network is refused, not removed (`refused`), or
   * deleting them would exceed the deletion budget (`deletion-budget`).
   */
  readonly kept: readonly {
    readonly link: string;
    readonly networkId: string;
    readonly reason: 'refused' | 'deletion-budget';
  }[];
  /** Set when more links would be deleted than the budget allows: none of them is. */
  readonly deletionsWithheld?: { readonly links: readonly string[]; readonly limit: number };
  /** Trunk/uplink interfaces that do not exist: `plan` warns, `apply` refuses. */
  readonly missingInterfaces: readonly { readonly role: 'trunk' | 'uplink'; readonly name: string }[];
  readonly served: number;
  /** The nft -f script that replaces guestrouter's tables in one transaction; empty when they are up to date. */
  readonly nftScript?: readonly string[];
  /** CloudStack rules (port forwards, firewall, NAT ...) not served, each with why. */
  readonly refusedRules?: readonly RuleRefusal[];
  /** The typed operations on the nft rule set (the ip/sysctl ones come from `changes`). */
  readonly nftOperations?: readonly Operation[];
  /** Service configurations `run` writes and reloads (haproxy); not part of what `apply` runs. */
  readonly serviceOperations?: readonly Operation[];
  /** Gateway addresses added to links that were up already: announced by gratuitous ARP after the batch. */
  readonly announce: readonly Announcement[];
}

export interface Announcement {
  readonly link: string;
  readonly address: string;
}
