import {
  AUTO_ALLOWED,
  type ClientRecord,
  type ExpiryPolicy,
  type GreylistStore,
  type ListFilter,
  type TripletKey,
  type TripletRecord,
} from './types.js';

const keyOf = (k: TripletKey): string => `${k.client}\0${k.sender}\0${k.recipient}`;

const matches = (r: TripletRecord, f: ListFilter): boolean =>
  (f.client === undefined || r.client === f.client) &&
  (f.sender === undefined || r.sender === f.sender) &&
  (f.recipient === undefined || r.recipient === f.recipient) &&
  (f.confirmed === undefined || r.passes > 0 === f.confirmed);

/** A process-local store: for tests and for `--db :memory:`; nothing survives a restart. */
export class MemoryStore implements GreylistStore {
  readonly kind = 'memory';
  private readonly triplets = new Map<string, TripletRecord>();
  private readonly clients = new Map<string, ClientRecord>();

  async recordAttempt(key: TripletKey, now: number): Promise<TripletRecord> {
    const id = keyOf(key);
    const old = this.triplets.get(id);
    const rec: TripletRecord = old
      ? { ...old, lastSeen: now }
      : {
          client: key.client,
          sender: key.sender,
          recipient: key.recipient,
          firstSeen: now,
          lastSeen: now,
          passes: 0,
        };
    this.triplets.set(id, rec);
    return rec;
  }

  async recordAttemptUnlessAllowed(
    key: TripletKey,
    now: number,
    autoAllowAt: number,
  ): Promise<TripletRecord | typeof AUTO_ALLOWED> {
    if (autoAllowAt > 0 && (this.clients.get(key.client)?.passes ?? 0) >= autoAllowAt) return AUTO_ALLOWED;
    // through recordAttempt, so a test double that overrides it sees every attempt
    return this.recordAttempt(key, now);
  }

  async recordPass(key: TripletKey, now: number): Promise<{ passes: number; clientPasses: number }> {
    const rec = await this.recordAttempt(key, now);
    const passes = rec.passes + 1;
    this.triplets.set(keyOf(key), { ...rec, passes });
    const clientPasses = (this.clients.get(key.client)?.passes ?? 0) + 1;
    this.clients.set(key.client, { client: key.client, passes: clientPasses, lastSeen: now });
    return { passes, clientPasses };
  }

  async getClient(client: string): Promise<ClientRecord | undefined> {
    return this.clients.get(client);
  }

  async list(filter: ListFilter = {}): Promise<TripletRecord[]> {
    const out = [...this.triplets.values()].filter((r) => matches(r, filter));
    return filter.limit === undefined ? out : out.slice(0, filter.limit);
  }

  async expire(now: number, policy: ExpiryPolicy): Promise<{ triplets: number; clients: number }> {
    let triplets = 0;
    let clients = 0;
    for (const [id, r] of this.triplets) {
      const ttl = r.passes > 0 ? policy.confirmedTtl : policy.unconfirmedTtl;
      if (now - r.lastSeen > ttl) {
        this.triplets.delete(id);
        triplets++;
      }
    }
    for (const [id, c] of this.clients) {
      if (now - c.lastSeen > policy.confirmedTtl) {
        this.clients.delete(id);
        clients++;
      }
    }
    return { triplets, clients };
  }

  async remove(filter: ListFilter = {}): Promise<number> {
    let n = 0;
    for (const [id, r] of this.triplets) {
      if (matches(r, filter)) {
        this.triplets.delete(id);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {}
}
