import type { Logger } from 'pino';
import type { GreylistStore } from '../store/types.js';

export interface ExpirySettings {
  readonly intervalMs: number;
  /** Read at each run, so a reload's new TTLs apply from the next run. */
  readonly ttls: () => { readonly unconfirmedTtl: number; readonly confirmedTtl: number };
  readonly now: () => number;
  readonly onExpired: (triplets: number) => void;
}

/**
 * Background expiry of old greylist entries. A run never overlaps the previous one (a slow
 * store skips ticks instead of piling up deletes). Returns the function that stops it.
 */
export function startExpiry(store: GreylistStore, logger: Logger, settings: ExpirySettings): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    store
      .expire(settings.now(), settings.ttls())
      .then(
        (r) => {
          settings.onExpired(r.triplets);
          logger.info(
            { event: 'expiry', triplets: r.triplets, clients: r.clients },
            'expired greylist entries',
          );
        },
        (err) => logger.error({ event: 'expiry_failed', err: (err as Error).message }, 'expiry failed'),
      )
      .finally(() => {
        running = false;
      });
  }, settings.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
