import { createHash } from 'node:crypto';
import type { DesiredNft, NftChain, NftRule, TableRef } from './types.js';
import { OWNED_TABLES, tableId } from './types.js';

/** Short hash of what a rule does, written into its comment: nft -j gives the comment back verbatim. */
export function ruleHash(rule: Pick<NftRule, 'text'>): string {
  return createHash('sha256').update(rule.text).digest('hex').slice(0, 10);
}

export function ruleComment(rule: NftRule): string {
  return `${rule.key} ${ruleHash(rule)}`;
}

export function chainLine(chain: NftChain): string {
  return `add chain ${tableId(chain.table)} ${chain.name} { type ${chain.type} hook ${chain.hook} priority ${chain.priority}; policy ${chain.policy}; }`;
}

export function ruleLine(rule: NftRule): string {
  return `add rule ${tableId(rule.table)} ${rule.chain} ${rule.text} comment "${ruleComment(rule)}"`;
}

/**
 * The nft -f script that replaces the whole content of guestrouter's tables in
 * one transaction: each owned table is created if missing (so the delete never
 * fails), deleted, and written again; a table with nothing desired is only
 * removed. nft applies the file atomically: if any line fails, nothing changes.
 * Other tables are never named.
 */
export function replacementScript(desired: DesiredNft, existing: readonly TableRef[]): string[] {
  const lines: string[] = [];
  for (const table of OWNED_TABLES) {
    const id = tableId(table);
    const chains = desired.chains.filter((c) => tableId(c.table) === id);
    const present = existing.some((t) => tableId(t) === id);
    if (chains.length === 0 && !present) continue;
    lines.push(`add table ${id}`, `delete table ${id}`);
    if (chains.length === 0) continue;
    lines.push(`add table ${id}`);
    for (const chain of chains) lines.push(chainLine(chain));
    for (const rule of desired.rules) if (tableId(rule.table) === id) lines.push(ruleLine(rule));
  }
  return lines;
}

/** The script as a shell command: what `plan` prints and `apply` runs (with `ip netns exec` in a namespace). */
export function shellScript(lines: readonly string[], netns?: string): string {
  const nft = netns ? `ip netns exec ${netns} nft -f -` : 'nft -f -';
  return [`${nft} <<'NFT'`, ...lines, 'NFT'].join('\n');
}
