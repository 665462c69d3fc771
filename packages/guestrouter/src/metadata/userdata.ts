/** One VM's user data as last fetched. */
export interface UserDataEntry {
  /** The decoded bytes; null: the VM has none. */
  readonly data: Buffer | null;
  /** Unix ms of the successful fetch. */
  readonly fetchedAt: number;
}

export interface FetchBudget {
  /** At most this many calls in one cycle. */
  readonly maxPerCycle: number;
  /** Entries older than this are due for a refresh. */
  readonly maxAgeMs: number;
}

/**
 * Which VMs to ask getVirtualMachineUserData for this cycle: VMs never fetched
 * first (they cannot be served until then), then entries older than maxAgeMs,
 * oldest first, all within maxPerCycle. So a cycle at 10,000 VMs makes at most
 * maxPerCycle calls, and user data is at most about
 * max(maxAge, VMs / maxPerCycle x interval) old. Pure.
 */
export function pickFetches(
  vmIds: readonly string[],
  cache: ReadonlyMap<string, UserDataEntry>,
  now: number,
  budget: FetchBudget,
): string[] {
  const fresh: string[] = [];
  const stale: { id: string; at: number }[] = [];
  for (const id of new Set(vmIds)) {
    const entry = cache.get(id);
    if (entry === undefined) fresh.push(id);
    else if (now - entry.fetchedAt >= budget.maxAgeMs) stale.push({ id, at: entry.fetchedAt });
  }
  stale.sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
  return [...fresh, ...stale.map((s) => s.id)].slice(0, budget.maxPerCycle);
}

/** CloudStack's answer (base64 text, or absent) to bytes; null for "none". */
export function decodeUserData(base64: string | undefined): Buffer | null {
  if (base64 === undefined || base64.trim() === '') return null;
  const compact = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new Error('user data is not base64');
  return Buffer.from(compact, 'base64');
}

export interface RefreshOutcome {
  readonly fetched: number;
  readonly failed: number;
  readonly removed: number;
  readonly errors: readonly { vmId: string; error: string }[];
}

/** Where the meta data server gets user data: the API cache below, or the extension's events. */
export interface UserDataSource {
  /** Called once per cycle with the VMs served; brings what is due up to date. */
  refresh(vmIds: readonly string[]): Promise<RefreshOutcome>;
  /** Bytes, null for "none", undefined for "not known yet" (answered 503). */
  get(vmId: string): Buffer | null | undefined;
}

/**
 * The user data cache of `run`: kept across cycles, refreshed within the
 * budget with bounded concurrency; VMs gone from the inventory are dropped. A
 * failed fetch keeps what was there (or leaves the VM unfetched) and is tried
 * again next cycle.
 */
export class UserDataCache implements UserDataSource {
  private readonly entries = new Map<string, UserDataEntry>();

  constructor(
    private readonly fetchOne: (vmId: string) => Promise<Buffer | null>,
    private readonly budget: FetchBudget,
    private readonly concurrency: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(vmId: string): Buffer | null | undefined {
    return this.entries.get(vmId)?.data;
  }

  get size(): number {
    return this.entries.size;
  }

  async refresh(vmIds: readonly string[]): Promise<RefreshOutcome> {
    const wanted = new Set(vmIds);
    let removed = 0;
    for (const id of [...this.entries.keys()]) {
      if (!wanted.has(id)) {
        this.entries.delete(id);
        removed++;
      }
    }
    const due = pickFetches(vmIds, this.entries, this.now(), this.budget);
    const errors: { vmId: string; error: string }[] = [];
    let fetched = 0;
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const vmId = due[next++] as string;
        try {
          const data = await this.fetchOne(vmId);
          this.entries.set(vmId, { data, fetchedAt: this.now() });
          fetched++;
        } catch (error) {
          errors.push({ vmId, error: (error as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, due.length) }, worker));
    return { fetched, failed: errors.length, removed, errors };
  }
}
