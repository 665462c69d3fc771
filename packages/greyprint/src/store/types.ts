/**
 * The greylist store contract. Pure greylisting logic (when a triplet may pass,
 * when a client is auto-allowed) lives outside the store; a store only keeps
 * records durably and answers atomically, so SQLite (one host) and Redis
 * (several MX hosts) can sit behind the same interface.
 *
 * All times are unix seconds. Keys are already normalised by the caller.
 */
/** What recordAttemptUnlessAllowed answers for a client that is auto-allowed. */
export const AUTO_ALLOWED = 'auto-allowed';

export interface TripletKey {
  /** Client network or forward-confirmed domain, e.g. `192.0.2.0/24` or `outlook.com`. */
  readonly client: string;
  /** Normalised envelope sender (lower case, SRS/BATV/+ext reduced); empty for the null sender. */
  readonly sender: string;
  /** Lower-cased envelope recipient. */
  readonly recipient: string;
}

export interface TripletRecord extends TripletKey {
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Deliveries that came after the delay; 0 while the triplet is unconfirmed. */
  readonly passes: number;
}

export interface ClientRecord {
  readonly client: string;
  /** Confirmed deliveries of this client over all triplets, for auto-allow. */
  readonly passes: number;
  readonly lastSeen: number;
}

export interface ExpiryPolicy {
  /** Triplets that never passed are dropped this long after they were last seen. */
  readonly unconfirmedTtl: number;
  /** Confirmed triplets and client counters are dropped this long after they were last seen. */
  readonly confirmedTtl: number;
}

export interface ListFilter {
  readonly client?: string;
  readonly sender?: string;
  readonly recipient?: string;
  readonly confirmed?: boolean;
  readonly limit?: number;
}

export interface GreylistStore {
  readonly kind: string;
  /**
   * Records an attempt: creates the triplet with firstSeen = lastSeen = now when
   * it is absent, otherwise only moves lastSeen. Returns the record as stored.
   */
  recordAttempt(key: TripletKey, now: number): Promise<TripletRecord>;
  /**
   * The first step of every greylist check as one store operation: when the
   * client has at least `autoAllowAt` confirmed deliveries (0: auto-allow is
   * off), answers AUTO_ALLOWED and records nothing; otherwise does what
   * recordAttempt does. One operation, not getClient then recordAttempt: one
   * transaction (SQLite) or one round trip (Redis) per request instead of two.
   */
  recordAttemptUnlessAllowed(
    key: TripletKey,
    now: number,
    autoAllowAt: number,
  ): Promise<TripletRecord | typeof AUTO_ALLOWED>;
  /**
   * Records a delivery after the delay: bumps the triplet's and the client's
   * pass counters in one durable step. Returns both counters after the update.
   */
  recordPass(key: TripletKey, now: number): Promise<{ passes: number; clientPasses: number }>;
  /** The client's record for auto-allow, or undefined when unknown. */
  getClient(client: string): Promise<ClientRecord | undefined>;
  list(filter?: ListFilter): Promise<TripletRecord[]>;
  /** Removes expired entries; returns how many triplets and clients were dropped. */
  expire(now: number, policy: ExpiryPolicy): Promise<{ triplets: number; clients: number }>;
  /** Removes every triplet matching the filter (all when empty); returns the count. */
  remove(filter?: ListFilter): Promise<number>;
  close(): Promise<void>;
  /**
   * For a store behind a connection (Redis): calls `listener(false, err)` when the connection
   * fails, with the connection's own error, and `listener(true)` when it is ready again.
   */
  watchHealth?(listener: (healthy: boolean, err?: Error) => void): void;
}
