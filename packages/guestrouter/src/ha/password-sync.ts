/**
 * Pending passwords replicated between the two routers of a pair, so whichever is master when a VM
 * asks delivers it, and only once:
 *
 * - a password given to one router (`password reset`, `deploy`) is written there and queued for the
 *   peer (`put`);
 * - the VM's acknowledgement (`saved_password`) deletes it on the router that received it, which
 *   queues a `delete` for the peer carrying the SHA-256 of the password it deleted, so a newer
 *   password for the same VM is never deleted by an older acknowledgement.
 *
 * The queue (the outbox) is a directory of files under STATEDIR/ha/outbox (0700, one 0600 file per
 * message), so a message for an unreachable peer survives a restart; `run` retries it every few
 * seconds, in order. Messages travel as HMAC-SHA256-signed HTTP POSTs (timestamp, nonce: the
 * extension's signing) to the peer's `ha.passwordSync.listen`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { RequestVerifier, signRequest } from '../extension/signing.js';
import { PasswordStore } from '../metadata/password-store.js';
import { makePrivateDir } from '../services/private-dir.js';

export const PASSWORD_SYNC_PATH = '/ha/password';
/** The peer's VRRP roles (`{ routerId, roles: { gr_157: 'MASTER' } }`), asked for with a signed `{}`. */
export const PEER_STATE_PATH = '/ha/state';
const CLAIMED = '.sending';
const STALE_CLAIM_MS = 60_000;

export type PasswordSyncMessage =
  | { readonly op: 'put'; readonly vmId: string; readonly password: string }
  | { readonly op: 'delete'; readonly vmId: string; readonly digest: string };

export class PasswordSyncError extends Error {
  readonly code = 'PASSWORD_SYNC';
}

export function passwordDigest(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/** Pure: a message body from the peer, or an error saying what is wrong with it. */
export function parsePasswordSyncMessage(body: string): PasswordSyncMessage | PasswordSyncError {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return new PasswordSyncError('body is not JSON');
  }
  const m = value as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || typeof m.vmId !== 'string' || m.vmId === '')
    return new PasswordSyncError('vmId missing');
  if (m.op === 'put' && typeof m.password === 'string' && m.password !== '')
    return { op: 'put', vmId: m.vmId, password: m.password };
  if (m.op === 'delete' && typeof m.digest === 'string' && /^[0-9a-f]{64}$/.test(m.digest))
    return { op: 'delete', vmId: m.vmId, digest: m.digest };
  return new PasswordSyncError('op must be put (with password) or delete (with digest)');
}

/** Sends one signed body to a peer's URL; resolves with the answer's text on a 2xx answer, else undefined. */
export type PeerSender = (
  url: string,
  headers: Record<string, string>,
  body: string,
) => Promise<string | undefined>;

/** Plain fetch from this process, 3 s timeout. */
export const fetchSender: PeerSender = async (url, headers, body) => {
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(3000),
    });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
};

interface OutboxEntry {
  readonly message: PasswordSyncMessage;
  /** Peer URLs that have not taken the message yet. */
  readonly peers: string[];
}

export interface OutboxLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Messages for the peers, kept as files until each peer has taken them (see the module comment). */
export class PasswordOutbox {
  private seq = 0;
  private flushing: Promise<number> | undefined;

  constructor(
    private readonly dir: string,
    private readonly peers: readonly string[],
    private readonly secret: string,
    private readonly send: PeerSender,
    private readonly logger?: OutboxLogger,
  ) {}

  async add(message: PasswordSyncMessage): Promise<void> {
    if (this.peers.length === 0) return;
    await makePrivateDir(this.dir);
    // Names sort in the order the messages were made: a put is always sent before its delete.
    const name = `${Date.now().toString().padStart(15, '0')}-${String(this.seq++).padStart(6, '0')}-${randomBytes(4).toString('hex')}.json`;
    const entry: OutboxEntry = { message, peers: [...this.peers] };
    await writeEntry(join(this.dir, name), entry);
  }

  /** Sends what is queued, oldest first; a peer that fails gets nothing newer this round. Returns what is left. */
  flush(): Promise<number> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<number> {
    const all = await readdir(this.dir).catch(() => [] as string[]);
    // A claim left by a process that died while sending is given back after a while.
    for (const name of all.filter((n) => n.endsWith(CLAIMED))) {
      const claimed = join(this.dir, name);
      const info = await stat(claimed).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_CLAIM_MS)
        await rename(claimed, claimed.slice(0, -CLAIMED.length)).catch(() => undefined);
    }
    const names = (await readdir(this.dir).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.json'))
      .sort();
    const failed = new Set<string>();
    let left = 0;
    for (const name of names) {
      const file = join(this.dir, name);
      // `run` and a `password reset` may flush at once: whoever renames the file sends it, so a
      // message is never sent twice nor written back after the other sent it.
      const claimed = `${file}${CLAIMED}`;
      const mine = await rename(file, claimed).then(
        () => true,
        () => false,
      );
      if (!mine) continue;
      let entry: OutboxEntry;
      try {
        entry = JSON.parse(await readFile(claimed, 'utf8')) as OutboxEntry;
      } catch {
        await rename(claimed, file).catch(() => undefined);
        continue;
      }
      const remaining: string[] = [];
      for (const peer of entry.peers) {
        if (failed.has(peer)) {
          remaining.push(peer);
          continue;
        }
        const body = JSON.stringify(entry.message);
        const url = new URL(PASSWORD_SYNC_PATH, peer).toString();
        const answer = await this.send(url, { ...signRequest(this.secret, PASSWORD_SYNC_PATH, body) }, body);
        if (answer !== undefined) {
          this.logger?.info(
            { event: 'password-sync', op: entry.message.op, vmId: entry.message.vmId, peer },
            `password ${entry.message.op} handed to the peer`,
          );
        } else {
          failed.add(peer);
          remaining.push(peer);
          this.logger?.warn(
            { event: 'password-sync', op: entry.message.op, vmId: entry.message.vmId, peer },
            'peer did not take the password message; kept for the next try',
          );
        }
      }
      if (remaining.length === 0) await unlink(claimed).catch(() => undefined);
      else {
        left++;
        if (remaining.length !== entry.peers.length)
          await writeEntry(claimed, { ...entry, peers: remaining });
        await rename(claimed, file).catch(() => undefined);
      }
    }
    return left;
  }
}

async function writeEntry(file: string, entry: OutboxEntry): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * The password store of a router in a pair: as PasswordStore, and every put and acknowledged
 * delete is queued for the peer. `applyFromPeer` changes the local files only (no echo back).
 */
export class ReplicatedPasswordStore extends PasswordStore {
  /**
   * @param ackedDir one file per VM holding the digest of the password it acknowledged last, so a
   *   copy of that password arriving late from the peer is refused instead of served a second time.
   */
  constructor(
    dir: string,
    ttlMs: number,
    readonly outbox: PasswordOutbox,
    private readonly ackedDir: string,
    now: () => number = Date.now,
  ) {
    super(dir, ttlMs, now);
  }

  override async put(vmId: string, password: string): Promise<void> {
    await super.put(vmId, password);
    await this.outbox.add({ op: 'put', vmId, password });
  }

  /** Called when the VM acknowledged the password: the peer must not serve it again. */
  override async delete(vmId: string): Promise<void> {
    const had = await super.get(vmId);
    await super.delete(vmId);
    if (had === undefined) return;
    const digest = passwordDigest(had);
    await this.remember(vmId, digest);
    await this.outbox.add({ op: 'delete', vmId, digest });
    void this.outbox.flush().catch(() => undefined);
  }

  async applyFromPeer(
    message: PasswordSyncMessage,
  ): Promise<'stored' | 'deleted' | 'kept' | 'already-acknowledged'> {
    if (message.op === 'put') {
      if ((await this.acknowledged(message.vmId)) === passwordDigest(message.password))
        return 'already-acknowledged';
      await super.put(message.vmId, message.password);
      return 'stored';
    }
    await this.remember(message.vmId, message.digest);
    const have = await super.get(message.vmId);
    // Only the password the VM acknowledged: a newer one given since stays pending.
    if (have === undefined || passwordDigest(have) !== message.digest) return 'kept';
    await super.delete(message.vmId);
    return 'deleted';
  }

  private async remember(vmId: string, digest: string): Promise<void> {
    await makePrivateDir(this.ackedDir);
    const file = join(this.ackedDir, safeName(vmId));
    await writeFile(`${file}.tmp`, digest, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  private async acknowledged(vmId: string): Promise<string | undefined> {
    return readFile(join(this.ackedDir, safeName(vmId)), 'utf8').catch(() => undefined);
  }
}

/** A VM id as a file name (the store checks ids; this keeps a peer's odd id inside the directory). */
function safeName(vmId: string): string {
  return vmId.replace(/[^A-Za-z0-9-]/g, '_');
}

/** What a router tells its peer about itself. */
export interface PeerState {
  readonly routerId: string;
  readonly roles: Readonly<Record<string, string>>;
}

/** What a router last learnt about its peer (STATEDIR/ha/peer.json, read by `status`). */
export interface PeerHealth {
  readonly peer: string;
  readonly reachable: boolean;
  /** ISO time of the last answer. */
  readonly lastSeen?: string;
  readonly checkedAt: string;
  readonly state?: PeerState;
}

/** Asks the peer for its state (signed); a peer that does not answer is unreachable, last answer kept. */
export async function checkPeer(
  peer: string,
  secret: string,
  send: PeerSender,
  previous: PeerHealth | undefined,
  now = new Date(),
): Promise<PeerHealth> {
  const body = '{}';
  const text = await send(
    new URL(PEER_STATE_PATH, peer).toString(),
    { ...signRequest(secret, PEER_STATE_PATH, body) },
    body,
  );
  let state: PeerState | undefined;
  try {
    const v = text === undefined ? undefined : (JSON.parse(text) as PeerState);
    if (v && typeof v.routerId === 'string' && typeof v.roles === 'object' && v.roles !== null) state = v;
  } catch {
    state = undefined;
  }
  if (state === undefined)
    return {
      peer,
      reachable: false,
      checkedAt: now.toISOString(),
      ...(previous?.lastSeen ? { lastSeen: previous.lastSeen } : {}),
      ...(previous?.state ? { state: previous.state } : {}),
    };
  return { peer, reachable: true, lastSeen: now.toISOString(), checkedAt: now.toISOString(), state };
}

export interface PasswordSyncServerLogger extends OutboxLogger {
  error(obj: object, msg?: string): void;
}

/** Serves the peer's signed messages on an already bound socket (in the router's namespace). */
export async function servePasswordSync(
  socket: net.Server,
  store: ReplicatedPasswordStore,
  secret: string,
  logger: PasswordSyncServerLogger,
  state: () => Promise<PeerState>,
): Promise<http.Server> {
  const verifier = new RequestVerifier(secret);
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const answer = (code: number, text: string) => {
        res.writeHead(code, { 'content-type': 'text/plain' });
        res.end(`${text}\n`);
      };
      const path = req.url === PEER_STATE_PATH ? PEER_STATE_PATH : PASSWORD_SYNC_PATH;
      if (req.method !== 'POST' || req.url !== path) return answer(404, 'not found');
      if (size > 64 * 1024) return answer(413, 'too large');
      const body = Buffer.concat(chunks).toString('utf8');
      const verdict = verifier.verify(req.headers, path, body);
      if (!verdict.ok) {
        logger.warn(
          { event: 'password-sync-refused', client: req.socket.remoteAddress, reason: verdict.reason },
          'password message refused',
        );
        return answer(401, verdict.reason);
      }
      if (path === PEER_STATE_PATH) {
        state().then(
          (value) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(value));
          },
          () => answer(500, 'state unavailable'),
        );
        return;
      }
      const message = parsePasswordSyncMessage(body);
      if (message instanceof PasswordSyncError) return answer(400, message.message);
      store.applyFromPeer(message).then(
        (result) => {
          logger.info(
            { event: 'password-sync', op: message.op, vmId: message.vmId, result },
            `password from the peer ${result}`,
          );
          answer(200, result);
        },
        (error: Error) => {
          logger.error({ event: 'password-sync', vmId: message.vmId, err: error.message }, 'not applied');
          answer(500, 'not applied');
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
