import type { ParsedAddress } from '../../net/cidr.js';
import type { OsLabel, OsSource } from '../label.js';
import { LabelCache } from './cache.js';
import { P0fAddressError, type P0fFailureReason, P0fLookupError } from './errors.js';
import { labelFromResponse } from './label-map.js';
import type { P0fQuery, P0fResponse } from './messages.js';
import { P0fPool } from './pool.js';
import { queryForAddress, queryForParsed } from './serializer.js';

/** The subset of a pino logger the source uses. */
export interface P0fLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface P0fSourceOptions {
  /** p0f's API socket (`p0f -s PATH`). */
  readonly socket: string;
  /** Longest wait for one answer before the OS counts as unknown. */
  readonly timeoutMs: number;
  /** API connections kept to p0f (p0f serves few at once: `-S`, default 20). */
  readonly poolSize: number;
  /** How long an answer is reused for the same address. */
  readonly cacheTtlSec: number;
  /** How long "p0f has no match for this address" is reused (default: the smaller of cacheTtlSec and 5). */
  readonly noMatchTtlSec?: number;
  /**
   * When p0f says "no match", ask once more after this pause (default 25 ms,
   * 0 turns it off), time permitting. p0f reads packets in batches, so a
   * lookup made right after the handshake can overtake p0f's processing of
   * the very SYN it is about.
   */
  readonly noMatchRetryMs?: number;
  /** Most addresses kept in the cache (default 10000). */
  readonly cacheMaxEntries?: number;
  /** First pause after p0f was unreachable, doubling per failure (default 250 ms) ... */
  readonly minBackoffMs?: number;
  /** ... up to this (default 5000 ms). */
  readonly maxBackoffMs?: number;
  readonly logger?: P0fLogger;
  /** Injected clock for the cache and backoff (tests). */
  readonly now?: () => number;
}

export interface P0fSourceStats {
  lookups: number;
  cacheHits: number;
  answered: number;
  noMatch: number;
  /** Second questions after a first "no match". */
  noMatchRetries: number;
  failures: Record<P0fFailureReason, number>;
}

const silentLogger: P0fLogger = { warn() {}, info() {}, debug() {} };

/**
 * OS labels from a running p0f v3 daemon, asked over its API socket.
 *
 * Every lookup settles within `timeoutMs` (or the caller's signal, whichever
 * comes first) and never rejects: p0f down, slow, restarting or answering
 * garbage all mean "unknown" (undefined), which the rules treat as "not
 * desktop Windows" so mail flows. Failures are logged once per change of
 * state and counted in stats().
 */
export class P0fSource implements OsSource {
  readonly name = 'p0f';
  private readonly pool: P0fPool;
  private readonly cache: LabelCache;
  private readonly inFlight = new Map<string, Promise<OsLabel | undefined>>();
  private readonly logger: P0fLogger;
  private readonly noMatchTtlMs: number;
  private lastFailure: P0fFailureReason | undefined;
  private readonly counters: P0fSourceStats = {
    lookups: 0,
    cacheHits: 0,
    answered: 0,
    noMatch: 0,
    noMatchRetries: 0,
    failures: {
      timeout: 0,
      unavailable: 0,
      'connection-lost': 0,
      protocol: 0,
      aborted: 0,
      closed: 0,
      'bad-address': 0,
    },
  };

  constructor(readonly options: P0fSourceOptions) {
    if (!(options.poolSize >= 1))
      throw new RangeError(`p0f poolSize must be at least 1, got ${options.poolSize}`);
    if (!(options.timeoutMs > 0))
      throw new RangeError(`p0f timeoutMs must be positive, got ${options.timeoutMs}`);
    this.logger = options.logger ?? silentLogger;
    this.pool = new P0fPool({
      socket: options.socket,
      size: options.poolSize,
      minBackoffMs: options.minBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 5000,
      ...(options.now ? { now: options.now } : {}),
    });
    this.cache = new LabelCache(options.cacheMaxEntries ?? 10_000, options.now);
    this.noMatchTtlMs = 1000 * (options.noMatchTtlSec ?? Math.min(options.cacheTtlSec, 5));
  }

  lookup(address: string, signal?: AbortSignal, parsed?: ParsedAddress): Promise<OsLabel | undefined> {
    this.counters.lookups += 1;
    let query: P0fQuery;
    try {
      query = parsed !== undefined ? queryForParsed(parsed) : queryForAddress(address.trim());
    } catch (error) {
      if (error instanceof P0fAddressError) this.counters.failures['bad-address'] += 1;
      return Promise.resolve(undefined);
    }
    const key = `${query.addressType}:${Buffer.from(query.address).toString('hex')}`;
    const cached = this.cache.get(key);
    if (cached.hit) {
      this.counters.cacheHits += 1;
      return Promise.resolve(cached.label);
    }
    // Concurrent RCPTs of one client share one question to p0f, bounded by
    // timeoutMs; each caller stops waiting at its own signal.
    let shared = this.inFlight.get(key);
    if (!shared) {
      const asked = this.ask(address, key, query).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, asked);
      shared = asked;
    }
    return signal ? this.untilAborted(shared, signal) : shared;
  }

  private untilAborted(
    answer: Promise<OsLabel | undefined>,
    signal: AbortSignal,
  ): Promise<OsLabel | undefined> {
    if (signal.aborted) {
      this.counters.failures.aborted += 1;
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const onAbort = () => {
        this.counters.failures.aborted += 1;
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      answer.then((label) => {
        signal.removeEventListener('abort', onAbort);
        resolve(label);
      });
    });
  }

  /** Counters for metrics and tests (a copy). */
  stats(): P0fSourceStats & { openConnections: number; maxOpenConnections: number; cacheSize: number } {
    return {
      ...this.counters,
      failures: { ...this.counters.failures },
      openConnections: this.pool.openConnections,
      maxOpenConnections: this.pool.maxOpenConnections,
      cacheSize: this.cache.size,
    };
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.cache.clear();
  }

  private async ask(address: string, key: string, query: P0fQuery): Promise<OsLabel | undefined> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const started = Date.now();
    const retryMs = this.options.noMatchRetryMs ?? 25;
    try {
      let response = await this.queryWithinDeadline(query, signal);
      if (
        response.status === 'no-match' &&
        retryMs > 0 &&
        Date.now() - started + 2 * retryMs < this.options.timeoutMs
      ) {
        this.counters.noMatchRetries += 1;
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        response = await this.queryWithinDeadline(query, signal);
      }
      this.noteRecovered();
      const label = labelFromResponse(response);
      if (response.status === 'bad-query') {
        this.logger.warn(
          { event: 'p0f_bad_query', client: address, socket: this.options.socket },
          'p0f rejected the query as bad',
        );
      }
      if (label) {
        this.counters.answered += 1;
        this.cache.set(key, label, this.options.cacheTtlSec * 1000);
      } else {
        this.counters.noMatch += 1;
        this.cache.set(key, undefined, this.noMatchTtlMs);
      }
      return label;
    } catch (error) {
      const failure =
        error instanceof P0fLookupError
          ? error
          : new P0fLookupError('connection-lost', String(error), this.options.socket, { cause: error });
      this.counters.failures[failure.reason] += 1;
      this.noteFailure(failure.reason, address, failure);
      return undefined;
    }
  }

  /**
   * One query on a pooled connection, bounded by the signal. A connection
   * taken idle from the pool may have died with a restarted p0f without us
   * noticing yet; such a query is retried once on a fresh connection.
   */
  private async queryWithinDeadline(query: P0fQuery, signal: AbortSignal): Promise<P0fResponse> {
    for (let attempt = 0; ; attempt += 1) {
      const lease = await this.pool.acquire(signal);
      const { connection } = lease;
      const onAbort = () =>
        // The answer may still come later and would be read as the reply to
        // the next query: the only safe thing is to drop the connection.
        connection.destroy(new P0fLookupError('timeout', 'p0f did not answer in time', this.options.socket));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      try {
        const response = await connection.query(query);
        this.pool.release(connection, true);
        return response;
      } catch (error) {
        this.pool.release(connection, false);
        const retry =
          lease.reused &&
          attempt === 0 &&
          !signal.aborted &&
          error instanceof P0fLookupError &&
          error.reason === 'connection-lost';
        if (!retry) throw error;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  private noteFailure(reason: P0fFailureReason, address: string, error: P0fLookupError): void {
    if (reason === 'aborted' || reason === 'bad-address') return;
    // One warning per change of state: a dead p0f must not flood the log at the mail rate.
    if (this.lastFailure !== reason) {
      this.logger.warn(
        { event: 'p0f_failing', client: address, socket: this.options.socket, reason, err: error.message },
        'p0f lookup failed; OS unknown',
      );
    }
    this.lastFailure = reason;
  }

  private noteRecovered(): void {
    if (this.lastFailure !== undefined) {
      this.logger.info({ event: 'p0f_recovered', socket: this.options.socket }, 'p0f answers again');
      this.lastFailure = undefined;
    }
  }
}
