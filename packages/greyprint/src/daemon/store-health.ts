import type { Logger } from 'pino';

/**
 * The store's health as the logs tell it, one line per change (as p0f's): with Redis down every
 * request fails open, and one error line per request would bury the one line that says why.
 * While the store is known to be failing, the per-request fail-open lines go to debug; the
 * counters count all.
 */
export class StoreHealth {
  private failure: string | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly storeKind: string,
  ) {}

  /** True while the store is known to be failing. */
  get failing(): boolean {
    return this.failure !== undefined;
  }

  /** Why the store is failing, while it is; for the status page. */
  get failureText(): string | undefined {
    return this.failure;
  }

  failed(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = errorText(err);
    this.logger.error(
      { event: 'store_failing', store: this.storeKind, err: this.failure },
      'greylist store failing; answering DUNNO (fail open) until it answers again',
    );
  }

  answered(): void {
    if (this.failure === undefined) return;
    this.logger.info(
      { event: 'store_recovered', store: this.storeKind, was: this.failure },
      'greylist store answers again',
    );
    this.failure = undefined;
  }
}

/** An error as one line of text with its cause (ioredis and SQLite errors keep the real one there). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const text = `${err.name}: ${err.message}`;
  return err.message === '' && err.cause !== undefined ? `${text} (${errorText(err.cause)})` : text;
}
