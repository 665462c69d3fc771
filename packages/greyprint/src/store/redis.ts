import { Redis } from 'ioredis';
import {
  AUTO_ALLOWED,
  type ClientRecord,
  type ExpiryPolicy,
  type GreylistStore,
  type ListFilter,
  type TripletKey,
  type TripletRecord,
} from './types.js';

/**
 * The shared store for several MX hosts: every host's daemon points at one
 * Redis, so a sender greylisted by one MX and retrying at another is
 * recognised. Each triplet is one hash (`firstSeen`, `lastSeen`, `passes`),
 * each client counter another; every update is one Lua script, so it is
 * atomic however many daemons write at once.
 *
 * Durability is Redis's: a confirmed pass is in Redis's memory when the call
 * returns, so a kill -9 of greyprint loses nothing; surviving a Redis restart
 * needs Redis persistence (appendonly yes; appendfsync everysec or always).
 *
 * Expiry follows the same contract as the other stores (expire(now, policy),
 * driven by the daemon's timer, by lastSeen), walking the keys with SCAN in
 * batches; keys also carry a Redis TTL of the longest policy window as a
 * safety net when no daemon runs expiry.
 */
export interface RedisStoreOptions {
  /** Key prefix, so several installations can share one Redis (default `greyprint:`). */
  readonly prefix?: string;
  /** Redis TTL set on every write, in seconds; 0 = none (default 40 days: > the 35-day confirmed TTL). */
  readonly safetyTtlSec?: number;
  /** Keys examined per SCAN step in expire(), list() and remove(). */
  readonly scanCount?: number;
  /** ms to wait for a command before failing (the daemon then answers DUNNO). */
  readonly commandTimeoutMs?: number;
}

/** Redis could not be reached or answered with an error; the message names the URL. */
export class RedisStoreError extends Error {
  override readonly name = 'RedisStoreError';
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
    /** No answer within the command timeout: Redis is connected but does not answer (frozen). */
    readonly timedOut = false,
  ) {
    super(message, options);
  }
}

// KEYS[1] triplet; ARGV now, ttl. Returns firstSeen, lastSeen, passes.
const ATTEMPT_LUA = `
local first = redis.call('HGET', KEYS[1], 'f')
if not first then
  redis.call('HSET', KEYS[1], 'f', ARGV[1], 'l', ARGV[1], 'p', 0)
  first = ARGV[1]
else
  redis.call('HSET', KEYS[1], 'l', ARGV[1])
end
if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local p = redis.call('HGET', KEYS[1], 'p')
return {first, ARGV[1], p}
`;

// KEYS[1] triplet, KEYS[2] client; ARGV now, ttl, autoAllowAt. Returns an empty list when the
// client has autoAllowAt confirmed deliveries or more (nothing recorded), else what ATTEMPT returns.
const ATTEMPT_UNLESS_ALLOWED_LUA = `
local at = tonumber(ARGV[3])
if at > 0 then
  local c = tonumber(redis.call('HGET', KEYS[2], 'p') or '0')
  if c >= at then return {} end
end
${ATTEMPT_LUA}`;

// KEYS[1] triplet, KEYS[2] client; ARGV now, ttl. Returns triplet passes, client passes.
const PASS_LUA = `
redis.call('HSETNX', KEYS[1], 'f', ARGV[1])
redis.call('HSET', KEYS[1], 'l', ARGV[1])
local p = redis.call('HINCRBY', KEYS[1], 'p', 1)
local c = redis.call('HINCRBY', KEYS[2], 'p', 1)
redis.call('HSET', KEYS[2], 'l', ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return {p, c}
`;

// KEYS[1] a triplet or client key; ARGV unconfirmedBefore, confirmedBefore, isTriplet (1/0).
// Deletes it when expired; checked inside Redis so a concurrent update is never lost.
const EXPIRE_ONE_LUA = `
local v = redis.call('HMGET', KEYS[1], 'l', 'p')
if not v[1] then return 0 end
local last = tonumber(v[1])
local passes = tonumber(v[2] or '0')
local limit
if ARGV[3] == '1' and passes == 0 then limit = tonumber(ARGV[1]) else limit = tonumber(ARGV[2]) end
if last < limit then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;

interface ScriptedRedis extends Redis {
  gpAttempt(key: string, now: number, ttl: number): Promise<[string, string, string]>;
  gpAttemptUnlessAllowed(
    triplet: string,
    client: string,
    now: number,
    ttl: number,
    autoAllowAt: number,
  ): Promise<[string, string, string] | []>;
  gpPass(triplet: string, client: string, now: number, ttl: number): Promise<[number, number]>;
  gpExpireOne(
    key: string,
    unconfirmedBefore: number,
    confirmedBefore: number,
    isTriplet: number,
  ): Promise<number>;
}

// NUL cannot occur in a policy attribute (the codec rejects it), so it separates the parts safely.
const SEP = '\0';

export class RedisStore implements GreylistStore {
  readonly kind = 'redis';
  private readonly redis: ScriptedRedis;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly scanCount: number;
  /** The connection's last error (ECONNREFUSED ...): what a failing command is really about. */
  private lastConnectionError: Error | undefined;

  private constructor(
    readonly url: string,
    redis: Redis,
    options: RedisStoreOptions,
  ) {
    this.prefix = options.prefix ?? 'greyprint:';
    this.ttl = options.safetyTtlSec ?? 40 * 86400;
    this.scanCount = options.scanCount ?? 1000;
    redis.defineCommand('gpAttempt', { numberOfKeys: 1, lua: ATTEMPT_LUA });
    redis.defineCommand('gpAttemptUnlessAllowed', { numberOfKeys: 2, lua: ATTEMPT_UNLESS_ALLOWED_LUA });
    redis.defineCommand('gpPass', { numberOfKeys: 2, lua: PASS_LUA });
    redis.defineCommand('gpExpireOne', { numberOfKeys: 1, lua: EXPIRE_ONE_LUA });
    this.redis = redis as ScriptedRedis;
    redis.on('error', (err: Error) => {
      this.lastConnectionError = err;
    });
    redis.on('ready', () => {
      this.lastConnectionError = undefined;
    });
  }

  watchHealth(listener: (healthy: boolean, err?: Error) => void): void {
    this.redis.on('error', (err: Error) => listener(false, this.explain(err)));
    this.redis.on('ready', () => listener(true));
  }

  /**
   * A command's rejection in terms an operator can act on. With the offline queue off, a command
   * sent while the connection is down fails with "Stream isn't writeable"; the connection's own
   * error (ECONNREFUSED ...) says why. A command timeout means Redis is there but silent.
   */
  private explain(err: unknown): RedisStoreError {
    if (err instanceof RedisStoreError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (message === 'Command timed out') {
      return new RedisStoreError(
        this.url,
        `Redis at ${this.url} did not answer in time (${message})`,
        { cause: err },
        true,
      );
    }
    const conn = this.lastConnectionError;
    const why = conn !== undefined && conn !== err ? `${conn.message} (${message})` : message;
    const state = this.redis.status === 'ready' ? '' : ` (connection ${this.redis.status})`;
    return new RedisStoreError(this.url, `Redis at ${this.url}${state}: ${why}`, { cause: err });
  }

  private readonly rethrow = (err: unknown): never => {
    throw this.explain(err);
  };

  /** Connects (and PINGs) before returning, so a wrong URL fails at start, not at the first mail. */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      // Fail a command fast instead of queueing it while Redis is away: the daemon fails open.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 3000,
    });
    // ioredis reports connection trouble as events; RedisStore keeps the last one to explain
    // the commands' rejections and to report a change of state once (watchHealth).
    redis.on('error', () => {});
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new RedisStoreError(
        url,
        `cannot reach the Redis greylist store at ${url}: ${(err as Error).message}; check the URL and that redis-server runs`,
        { cause: err },
      );
    }
    return new RedisStore(url, redis, options);
  }

  private tripletKey(k: TripletKey): string {
    return `${this.prefix}t:${k.client}${SEP}${k.sender}${SEP}${k.recipient}`;
  }

  private clientKey(client: string): string {
    return `${this.prefix}c:${client}`;
  }

  async recordAttempt(key: TripletKey, now: number): Promise<TripletRecord> {
    const [first, last, passes] = await this.redis
      .gpAttempt(this.tripletKey(key), now, this.ttl)
      .catch(this.rethrow);
    return { ...key, firstSeen: Number(first), lastSeen: Number(last), passes: Number(passes) };
  }

  /** One round trip: the client check and the attempt run in one script. */
  async recordAttemptUnlessAllowed(
    key: TripletKey,
    now: number,
    autoAllowAt: number,
  ): Promise<TripletRecord | typeof AUTO_ALLOWED> {
    const reply = await this.redis
      .gpAttemptUnlessAllowed(this.tripletKey(key), this.clientKey(key.client), now, this.ttl, autoAllowAt)
      .catch(this.rethrow);
    if (reply.length === 0) return AUTO_ALLOWED;
    const [first, last, passes] = reply;
    return { ...key, firstSeen: Number(first), lastSeen: Number(last), passes: Number(passes) };
  }

  async recordPass(key: TripletKey, now: number): Promise<{ passes: number; clientPasses: number }> {
    const [passes, clientPasses] = await this.redis
      .gpPass(this.tripletKey(key), this.clientKey(key.client), now, this.ttl)
      .catch(this.rethrow);
    return { passes: Number(passes), clientPasses: Number(clientPasses) };
  }

  async getClient(client: string): Promise<ClientRecord | undefined> {
    const [last, passes] = await this.redis.hmget(this.clientKey(client), 'l', 'p').catch(this.rethrow);
    if (last === null || passes === null) return undefined;
    return { client, passes: Number(passes), lastSeen: Number(last) };
  }

  async list(filter: ListFilter = {}): Promise<TripletRecord[]> {
    const out: TripletRecord[] = [];
    await this.scan(`${this.prefix}t:*`, async (keys) => {
      const records = await this.read(keys);
      for (const r of records) {
        if (matches(r, filter)) out.push(r);
      }
      // SCAN order is arbitrary: the oldest `limit` entries are known only after the whole walk.
      return true;
    });
    out.sort((a, b) => a.firstSeen - b.firstSeen || compareKeys(a, b));
    return filter.limit === undefined ? out : out.slice(0, filter.limit);
  }

  async expire(now: number, policy: ExpiryPolicy): Promise<{ triplets: number; clients: number }> {
    const unconfirmedBefore = now - policy.unconfirmedTtl;
    const confirmedBefore = now - policy.confirmedTtl;
    const sweep = async (pattern: string, isTriplet: number) => {
      let n = 0;
      await this.scan(pattern, async (keys) => {
        const pipeline = this.redis.pipeline();
        for (const k of keys) {
          (pipeline as unknown as ScriptedRedis).gpExpireOne(
            k,
            unconfirmedBefore,
            confirmedBefore,
            isTriplet,
          );
        }
        for (const [err, deleted] of (await pipeline.exec()) ?? []) {
          if (err) throw err;
          n += Number(deleted);
        }
        return true;
      });
      return n;
    };
    const triplets = await sweep(`${this.prefix}t:*`, 1);
    const clients = await sweep(`${this.prefix}c:*`, 0);
    return { triplets, clients };
  }

  async remove(filter: ListFilter = {}): Promise<number> {
    let n = 0;
    await this.scan(`${this.prefix}t:*`, async (keys) => {
      const records = await this.read(keys);
      const doomed = records.filter((r) => matches(r, filter)).map((r) => this.tripletKey(r));
      if (doomed.length > 0) n += await this.redis.del(...doomed);
      return true;
    });
    return n;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** SCANs the keys matching a pattern in steps; the visitor returns false to stop early. */
  private async scan(pattern: string, visit: (keys: string[]) => Promise<boolean>): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', this.scanCount);
      cursor = next;
      if (keys.length > 0 && !(await visit(keys))) return;
    } while (cursor !== '0');
  }

  private async read(keys: string[]): Promise<TripletRecord[]> {
    const pipeline = this.redis.pipeline();
    for (const k of keys) pipeline.hmget(k, 'f', 'l', 'p');
    const replies = (await pipeline.exec()) ?? [];
    const out: TripletRecord[] = [];
    const head = `${this.prefix}t:`.length;
    replies.forEach(([err, value], i) => {
      if (err) throw err;
      const [f, l, p] = value as (string | null)[];
      if (f === null || f === undefined) return; // expired or removed between SCAN and read
      const [client = '', sender = '', recipient = ''] = (keys[i] as string).slice(head).split(SEP);
      out.push({
        client,
        sender,
        recipient,
        firstSeen: Number(f),
        lastSeen: Number(l),
        passes: Number(p ?? 0),
      });
    });
    return out;
  }
}

function matches(r: TripletRecord, f: ListFilter): boolean {
  return (
    (f.client === undefined || r.client === f.client) &&
    (f.sender === undefined || r.sender === f.sender) &&
    (f.recipient === undefined || r.recipient === f.recipient) &&
    (f.confirmed === undefined || r.passes > 0 === f.confirmed)
  );
}

function compareKeys(a: TripletKey, b: TripletKey): number {
  return (
    a.client.localeCompare(b.client) ||
    a.sender.localeCompare(b.sender) ||
    a.recipient.localeCompare(b.recipient)
  );
}
