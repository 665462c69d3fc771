import type { GreylistStore, TripletKey } from '../store/types.js';

export interface GreylistOptions {
  readonly delaySec: number;
  readonly autoAllowClients: number;
  /** An unconfirmed triplet first seen longer ago than this starts over (postgrey's retry window). */
  readonly unconfirmedTtlSec?: number;
}

export type GreylistOutcome =
  /** First sight, or a retry before the delay: defer. */
  | { readonly pass: false; readonly reason: 'new' | 'early-retry'; readonly retryIn: number }
  /** Retry after the delay (first pass), a confirmed triplet, or an auto-allowed client. */
  | { readonly pass: true; readonly reason: 'passed' | 'confirmed' | 'auto-allowed' };

/**
 * postgrey's semantics: the delay counts from the first attempt, a retry before it
 * is deferred again with the remaining time, the first retry after it confirms
 * the triplet (and counts toward the client's auto-allow), later mail of a
 * confirmed triplet passes at once.
 */
export async function greylist(
  store: GreylistStore,
  key: TripletKey,
  now: number,
  options: GreylistOptions,
): Promise<GreylistOutcome> {
  if (options.autoAllowClients > 0) {
    const client = await store.getClient(key.client);
    if (client !== undefined && client.passes >= options.autoAllowClients) {
      return { pass: true, reason: 'auto-allowed' };
    }
  }
  const rec = await store.recordAttempt(key, now);
  if (rec.passes > 0) return { pass: true, reason: 'confirmed' };
  if (options.unconfirmedTtlSec !== undefined && now - rec.firstSeen > options.unconfirmedTtlSec) {
    // A "retry" after the retry window is a new first attempt, as in postgrey;
    // the background expiry may simply not have run yet.
    await store.remove({ client: key.client, sender: key.sender, recipient: key.recipient });
    await store.recordAttempt(key, now);
    return { pass: false, reason: 'new', retryIn: options.delaySec };
  }
  // A first-seen time in the future (clock stepped back) counts as now.
  const waited = Math.max(0, now - rec.firstSeen);
  if (waited >= options.delaySec) {
    await store.recordPass(key, now);
    return { pass: true, reason: 'passed' };
  }
  return {
    pass: false,
    reason: rec.firstSeen === now && rec.lastSeen === now && waited === 0 ? 'new' : 'early-retry',
    retryIn: options.delaySec - waited,
  };
}
