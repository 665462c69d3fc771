import { P0fConnection } from './connection.js';
import { P0fLookupError } from './errors.js';

export interface P0fPoolOptions {
  readonly socket: string;
  /** Most API connections open (or opening) at once. */
  readonly size: number;
  /** First pause after p0f was unreachable; doubles per failure up to maxBackoffMs. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Injected clock, for tests of the backoff. */
  readonly now?: () => number;
}

interface Waiter {
  readonly resolve: (lease: P0fLease) => void;
  readonly reject: (error: P0fLookupError) => void;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

export interface P0fLease {
  readonly connection: P0fConnection;
  /** True when the connection was idle in the pool (it may have gone stale). */
  readonly reused: boolean;
}

/**
 * A few long-lived API connections, handed out one lookup at a time. p0f
 * accepts only `-S` connections at once and leaves the rest in its listen
 * backlog unanswered, so the pool never opens more than `size`; lookups
 * beyond that wait for a free connection within their own deadline.
 *
 * When p0f is unreachable (not started, restarting, socket gone) the pool
 * fails fast for a backoff period instead of hammering the socket, then
 * tries again: lookups answer "unknown" meanwhile and never throw upward.
 */
export class P0fPool {
  private readonly idle: P0fConnection[] = [];
  /** Every open connection, idle or lent out, so close() can end them all. */
  private readonly all = new Set<P0fConnection>();
  private readonly waiters: Waiter[] = [];
  private open = 0;
  private highWater = 0;
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: P0fPoolOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Connections open or being opened now. */
  get openConnections(): number {
    return this.open;
  }

  /** The most connections ever open at once. */
  get maxOpenConnections(): number {
    return this.highWater;
  }

  /** True while the pool is backing off after p0f was unreachable. */
  get backingOff(): boolean {
    return this.failures > 0 && this.now() < this.retryAt;
  }

  async acquire(signal: AbortSignal): Promise<P0fLease> {
    if (this.closed) throw new P0fLookupError('closed', 'p0f source is closed', this.options.socket);
    while (this.idle.length > 0) {
      const connection = this.idle.pop() as P0fConnection;
      if (connection.alive) return { connection, reused: true };
    }
    if (this.open < this.options.size) {
      if (this.backingOff) {
        throw new P0fLookupError(
          'unavailable',
          `p0f API at ${this.options.socket} was unreachable; next try in ${this.retryAt - this.now()} ms`,
          this.options.socket,
        );
      }
      return { connection: await this.connect(signal), reused: false };
    }
    return new Promise<P0fLease>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(
          new P0fLookupError(
            'timeout',
            `all ${this.options.size} p0f API connections were busy`,
            this.options.socket,
          ),
        );
      };
      const waiter: Waiter = { resolve, reject, signal, onAbort };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives a connection back after a lookup; a broken one is dropped and replaced on demand. */
  release(connection: P0fConnection, healthy: boolean): void {
    if (!healthy || !connection.alive || this.closed) {
      connection.destroy();
      this.serveWaiter();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve({ connection, reused: true });
      return;
    }
    this.idle.push(connection);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    for (const connection of [...this.all]) connection.destroy();
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(new P0fLookupError('closed', 'p0f source is closed', this.options.socket));
    }
  }

  private async connect(signal: AbortSignal): Promise<P0fConnection> {
    this.open += 1;
    this.highWater = Math.max(this.highWater, this.open);
    let connection: P0fConnection;
    try {
      connection = await P0fConnection.open(this.options.socket, signal);
    } catch (error) {
      this.open -= 1;
      if (error instanceof P0fLookupError && error.reason === 'unavailable') this.noteUnreachable(error);
      throw error;
    }
    this.failures = 0;
    this.all.add(connection);
    connection.onClose = () => {
      this.open -= 1;
      this.all.delete(connection);
      const index = this.idle.indexOf(connection);
      if (index >= 0) this.idle.splice(index, 1);
    };
    return connection;
  }

  private noteUnreachable(error: P0fLookupError): void {
    this.failures += 1;
    const backoff = Math.min(this.options.maxBackoffMs, this.options.minBackoffMs * 2 ** (this.failures - 1));
    this.retryAt = this.now() + backoff;
    // Lookups queued behind a dead p0f would only wait for their deadline.
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(error);
    }
  }

  /** A slot was freed: open a connection for the longest-waiting lookup. */
  private serveWaiter(): void {
    const waiter = this.waiters.shift();
    if (!waiter) return;
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    this.acquire(waiter.signal).then(waiter.resolve, waiter.reject);
  }
}
