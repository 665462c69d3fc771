/**
 * Which meta data worker serves each gateway (each gateway address is its own
 * listening socket, so listeners are spread by network): a gateway keeps the
 * worker it had while that worker exists, gateways no longer served are
 * dropped, and each new gateway goes to the worker with the fewest (the lowest
 * index on a tie), so a cycle that adds networks moves no existing listener.
 * Pure; `workers` is at least 1.
 */
export function assignShards(
  gateways: Iterable<string>,
  previous: ReadonlyMap<string, number>,
  workers: number,
): Map<string, number> {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be >= 1, got ${workers}`);
  const wanted = [...new Set(gateways)].sort();
  const next = new Map<string, number>();
  const load = new Array<number>(workers).fill(0);
  for (const g of wanted) {
    const k = previous.get(g);
    if (k !== undefined && k >= 0 && k < workers) {
      next.set(g, k);
      load[k] = (load[k] ?? 0) + 1;
    }
  }
  for (const g of wanted) {
    if (next.has(g)) continue;
    let best = 0;
    for (let k = 1; k < workers; k++) if ((load[k] ?? 0) < (load[best] ?? 0)) best = k;
    next.set(g, best);
    load[best] = (load[best] ?? 0) + 1;
  }
  return next;
}

/** The records (keyed by NIC address) whose gateway is served by worker `k`. */
export function recordsOfShard<R extends { readonly gateway: string }>(
  records: ReadonlyMap<string, R>,
  shards: ReadonlyMap<string, number>,
  k: number,
): [string, R][] {
  const out: [string, R][] = [];
  for (const [address, r] of records) if (shards.get(r.gateway) === k) out.push([address, r]);
  return out;
}
