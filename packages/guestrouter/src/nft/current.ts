/**
 * Reads guestrouter's own tables from `nft -j list ruleset` (pure parser plus a
 * small adapter). Tables of anybody else are skipped by name.
 */
import { CommandFailedError } from '../errors.js';
import { execFile, inNetns } from '../kernel/exec.js';
import type { CurrentNft, CurrentNftRule, NftChain, TableRef } from './types.js';
import { OWNED_TABLES, tableId } from './types.js';

interface JsonTable {
  family: string;
  name: string;
}
interface JsonChain extends JsonTable {
  table: string;
  type?: string;
  hook?: string;
  prio?: number;
  policy?: string;
}
interface JsonRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
}

function owned(family: string, name: string): TableRef | undefined {
  return OWNED_TABLES.find((t) => t.family === family && t.name === name);
}

export function parseNftRuleset(text: string): CurrentNft {
  const trimmed = text.trim();
  if (trimmed === '') return { tables: [], chains: [], rules: [] };
  const parsed = JSON.parse(trimmed) as { nftables?: Record<string, unknown>[] };
  const tables: TableRef[] = [];
  const chains: NftChain[] = [];
  const rules: CurrentNftRule[] = [];
  for (const item of parsed.nftables ?? []) {
    if ('table' in item) {
      const t = item.table as JsonTable;
      const ref = owned(t.family, t.name);
      if (ref) tables.push(ref);
    } else if ('chain' in item) {
      const c = item.chain as JsonChain;
      const ref = owned(c.family, c.table);
      if (!ref) continue;
      chains.push({
        table: ref,
        name: c.name,
        type: (c.type ?? 'filter') as NftChain['type'],
        hook: (c.hook ?? '') as NftChain['hook'],
        priority: c.prio ?? 0,
        policy: (c.policy ?? 'accept') as NftChain['policy'],
      });
    } else if ('rule' in item) {
      const r = item.rule as JsonRule;
      const ref = owned(r.family, r.table);
      if (!ref) continue;
      const m = /^(\S+) ([0-9a-f]{10})$/.exec(r.comment ?? '');
      rules.push({
        table: ref,
        chain: r.chain,
        handle: r.handle,
        ...(m ? { key: m[1] as string, hash: m[2] as string } : {}),
      });
    }
  }
  return { tables, chains, rules };
}

export interface NftAdapter {
  read(): Promise<CurrentNft>;
  /** Runs the script as one nft -f transaction; throws with nft's message when it fails (nothing changed then). */
  apply(lines: readonly string[]): Promise<void>;
}

export class NftError extends Error {
  readonly code = 'nft-failed';
}

export class NftKernel implements NftAdapter {
  constructor(private readonly netns?: string) {}

  async read(): Promise<CurrentNft> {
    const [file, args] = inNetns(this.netns, 'nft', ['-j', 'list', 'ruleset']);
    const result = await execFile(file, args);
    if (result.code !== 0)
      throw new CommandFailedError(`${file} ${args.join(' ')}`, result.code, result.stderr);
    return parseNftRuleset(result.stdout);
  }

  async apply(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const [file, args] = inNetns(this.netns, 'nft', ['-f', '-']);
    const result = await execFile(file, args, `${lines.join('\n')}\n`);
    if (result.code !== 0) {
      throw new NftError(
        `nft rejected the rule set transaction; the previous rules stay in place: ${result.stderr.trim().split('\n').slice(0, 6).join(' | ')}`,
      );
    }
  }
}

export { tableId };
