import { AUTO_ALLOWED, type GreylistStore, type TripletKey, type TripletRecord } from '../store/types.js';

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
  | { readonly pass: true; readonly reason: 'confirmed' | 'auto-allowed' }
  /** The first retry after the delay; `waitedSec` is what greylisting added to this mail. */
  | { readonly pass: true; readonly reason: 'passed'; readonly waitedSec: number };

/**
 * postgrey's semantics: the delay counts from the first attempt, a retry before it
 * is deferred again with the remaining time, the first retry after it confirms
 * the triplet (and counts toward the client's auto-allow), later mail of a
 * confirmed triplet passes at once.
 *
 * Not an async function: the common answers (new, early retry, confirmed,
 * auto-allowed) settle with the store's one operation, without further hops
 * through the microtask queue.
 */
export function greylist(
  store: GreylistStore,
  key: TripletKey,
  now: number,
  options: GreylistOptions,
): Promise<GreylistOutcome> {
  return store
    .recordAttemptUnlessAllowed(key, now, options.autoAllowClients)
    .then((rec) => afterAttempt(store, key, now, options, rec));
}

const AUTO_ALLOWED_OUTCOME: GreylistOutcome = { pass: true, reason: 'auto-allowed' };
const CONFIRMED_OUTCOME: GreylistOutcome = { pass: true, reason: 'confirmed' };

function afterAttempt(
  store: GreylistStore,
  key: TripletKey,
  now: number,
  options: GreylistOptions,
  rec: TripletRecord | typeof AUTO_ALLOWED,
): GreylistOutcome | Promise<GreylistOutcome> {
  if (rec === AUTO_ALLOWED) return AUTO_ALLOWED_OUTCOME;
  if (rec.passes > 0) return CONFIRMED_OUTCOME;
  if (options.unconfirmedTtlSec !== undefined && now - rec.firstSeen > options.unconfirmedTtlSec) {
    // A "retry" after the retry window is a new first attempt, as in postgrey;
    // the background expiry may simply not have run yet.
    return store
      .remove({ client: key.client, sender: key.sender, recipient: key.recipient })
      .then(() => store.recordAttempt(key, now))
      .then(() => ({ pass: false, reason: 'new', retryIn: options.delaySec }));
  }
  // A first-seen time in the future (clock stepped back) counts as now.
  const waited = Math.max(0, now - rec.firstSeen);
  if (waited >= options.delaySec) {
    return store.recordPass(key, now).then(() => ({ pass: true, reason: 'passed', waitedSec: waited }));
  }
  return {
    pass: false,
    reason: rec.firstSeen === now && rec.lastSeen === now && waited === 0 ? 'new' : 'early-retry',
    retryIn: options.delaySec - waited,
  };
}
