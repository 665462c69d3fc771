/**
 * Pure: desired vs current nft state -> typed operations and the script.
 * Rules are matched by the key in their comment and compared by the hash
 * beside it; a rule in an owned table without guestrouter's comment (added
 * by hand) is deleted. Any difference rewrites the owned tables whole, in one
 * nft -f transaction; no difference means no script (a second apply is a no-op).
 */
import type { Operation } from '../plan/operations.js';
import { replacementScript, ruleHash } from './render.js';
import type { CurrentNft, DesiredNft, NftChain } from './types.js';
import { tableId } from './types.js';

export interface NftPlan {
  readonly operations: Operation[];
  readonly script: string[];
}

function sameChain(a: NftChain, b: NftChain): boolean {
  return a.type === b.type && a.hook === b.hook && a.priority === b.priority && a.policy === b.policy;
}

export function diffNft(desired: DesiredNft, current: CurrentNft): NftPlan {
  const operations: Operation[] = [];
  const chainId = (c: { table: NftChain['table']; name?: string; chain?: string }) =>
    `${tableId(c.table)}\t${c.name ?? c.chain}`;
  const currentChains = new Map(current.chains.map((c) => [chainId(c), c]));
  const desiredChains = new Map(desired.chains.map((c) => [chainId(c), c]));
  for (const [id, chain] of desiredChains) {
    const have = currentChains.get(id);
    const object = { kind: 'nft-chain' as const, table: tableId(chain.table), chain: chain.name };
    const detail = `type ${chain.type} hook ${chain.hook} priority ${chain.priority}; policy ${chain.policy}`;
    if (!have) operations.push({ action: 'create', object, reason: 'guestrouter chain missing', detail });
    else if (!sameChain(chain, have))
      operations.push({ action: 'replace', object, reason: 'its hook, priority or policy differs', detail });
  }
  for (const [id, chain] of currentChains) {
    if (desiredChains.has(id)) continue;
    operations.push({
      action: 'delete',
      object: { kind: 'nft-chain', table: tableId(chain.table), chain: chain.name },
      reason: desired.chains.length === 0 ? 'no network is served' : 'not a guestrouter chain',
    });
  }

  const ruleId = (r: { table: NftChain['table']; chain: string }, key: string) =>
    `${tableId(r.table)}\t${r.chain}\t${key}`;
  const have = new Map<string, string | undefined>();
  const order = new Map<string, string[]>();
  for (const r of current.rules) {
    if (r.key === undefined) {
      operations.push({
        action: 'delete',
        object: { kind: 'nft-rule', table: tableId(r.table), chain: r.chain, key: `handle ${r.handle}` },
        reason: 'a rule in a guestrouter table that guestrouter did not write (edited by hand?)',
      });
      continue;
    }
    have.set(ruleId(r, r.key), r.hash);
    const chain = `${tableId(r.table)}\t${r.chain}`;
    const keys = order.get(chain) ?? [];
    keys.push(r.key);
    order.set(chain, keys);
  }
  const wanted = new Set<string>();
  const wantedOrder = new Map<string, string[]>();
  for (const rule of desired.rules) {
    const id = ruleId(rule, rule.key);
    wanted.add(id);
    const chain = `${tableId(rule.table)}\t${rule.chain}`;
    const keys = wantedOrder.get(chain) ?? [];
    keys.push(rule.key);
    wantedOrder.set(chain, keys);
    const object = {
      kind: 'nft-rule' as const,
      table: tableId(rule.table),
      chain: rule.chain,
      key: rule.key,
    };
    const base = { object, detail: rule.text, ...(rule.networkId ? { networkId: rule.networkId } : {}) };
    if (!have.has(id)) operations.push({ action: 'create', reason: rule.reason, ...base });
    else if (have.get(id) !== ruleHash(rule))
      operations.push({ action: 'update', reason: `${rule.reason} (changed)`, ...base });
  }
  for (const r of current.rules) {
    if (r.key === undefined || wanted.has(ruleId(r, r.key))) continue;
    operations.push({
      action: 'delete',
      object: { kind: 'nft-rule', table: tableId(r.table), chain: r.chain, key: r.key },
      reason: 'its CloudStack rule or network is gone',
    });
  }
  if (operations.length === 0) {
    // Same rules, other order (a hand edit that moved rules): order decides what a chain does.
    for (const [chain, keys] of wantedOrder) {
      const now = order.get(chain) ?? [];
      if (now.join('\n') !== keys.join('\n')) {
        const [table = '', name = ''] = chain.split('\t');
        operations.push({
          action: 'update',
          object: { kind: 'nft-chain', table, chain: name },
          reason: 'its rules are out of order',
        });
      }
    }
  }
  return { operations, script: operations.length === 0 ? [] : replacementScript(desired, current.tables) };
}
