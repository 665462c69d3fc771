import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import type { SocketBinder } from './binder.js';
import { routeMetadata } from './http.js';
import { checkIdentity, findNeighbour, type NeighbourLookup, plainIpv4 } from './identity.js';
import { type KeyPairDirectory, publicKeysFor } from './keypairs.js';
import type { MetadataMetrics } from './metrics.js';
import { passwordExchange } from './password.js';
import type { PasswordStore } from './password-store.js';
import { buildRecords, type RecordOptions, type VmRecord } from './records.js';
import { type HeadParse, parseRequestHead, responseBytes } from './request-head.js';
import type { RefreshOutcome, UserDataCache } from './userdata.js';

export interface MetadataLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface MetadataServiceOptions {
  readonly httpPort: number;
  readonly passwordPort: number;
  readonly binder: SocketBinder;
  readonly passwords: PasswordStore;
  readonly userData: UserDataCache;
  /** The VMs' SSH key pairs (listSSHKeyPairs); without it `public-keys` comes only from the NICs' `publicKeys`. */
  readonly keyPairs?: KeyPairDirectory;
  readonly records?: RecordOptions;
  readonly logger: MetadataLogger;
  readonly metrics?: MetadataMetrics;
}

export interface MetadataSyncResult {
  readonly vms: number;
  readonly gateways: number;
  readonly opened: number;
  readonly closed: number;
  readonly bindErrors: readonly string[];
  readonly userData: RefreshOutcome;
  readonly pendingPasswords: number;
}

/**
 * The kernel's neighbour table, read again whenever a request comes on a
 * connection accepted after the last read: a request is never judged on an
 * entry older than its own connection (a VM that has just taken over an
 * address by ARP is seen with its own MAC), and the connections accepted
 * together share one read. The read is synchronous: a procfs read of a small
 * table took about 0.1 ms here, and a request must not be answered before it.
 */
class NeighbourTable {
  private text = '';
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly path: () => string) {}

  after(connectedAt: number): NeighbourLookup {
    if (this.readAt < connectedAt) {
      const startedAt = performance.now();
      this.text = readFileSync(this.path(), 'utf8');
      this.readAt = startedAt;
    }
    const text = this.text;
    return (address, dev) => findNeighbour(text, address, dev);
  }
}

interface Listener {
  readonly server: net.Server;
  readonly sockets: Set<Duplex>;
}

/** A connection that sends no complete request head within this time is dropped. */
const HEAD_TIMEOUT_MS = 10_000;

/**
 * The Virtual Router's meta data server (port 80) and password server (port
 * 8080) on every served gateway address, answered from the records built
 * each cycle; run by `run`. Requests that fail the identity check get what an
 * unknown address gets (404, `saved_password`) and are logged and counted;
 * they never consume a pending password. Passwords are never logged.
 */
export class MetadataService {
  private records = new Map<string, VmRecord>();
  private readonly listeners = new Map<string, Listener>();
  private readonly neighbours: NeighbourTable;
  private readonly connectedAt = new WeakMap<object, number>();

  constructor(private readonly options: MetadataServiceOptions) {
    this.neighbours = new NeighbourTable(() => options.binder.arpPath);
  }

  async sync(desired: DesiredState, inventory: Inventory): Promise<MetadataSyncResult> {
    const o = this.options;
    const served = new Set(desired.links.map((l) => l.networkId));
    const vmIds = inventory.nics.filter((n) => served.has(n.networkId)).map((n) => n.vmId);
    const userData = await o.userData.refresh(vmIds);
    o.metrics?.userDataFetches.inc({ outcome: 'ok' }, userData.fetched);
    o.metrics?.userDataFetches.inc({ outcome: 'failed' }, userData.failed);
    for (const e of userData.errors.slice(0, 5)) {
      o.logger.warn(
        { event: 'userdata', vmId: e.vmId, err: e.error },
        'user data fetch failed; retried next cycle',
      );
    }
    const keys = await o.keyPairs?.refresh(inventory.nics.filter((n) => served.has(n.networkId)));
    if (keys?.error !== undefined) {
      o.logger.warn(
        { event: 'keypairs', err: keys.error },
        'listSSHKeyPairs failed; serving the keys read before, retried next cycle',
      );
    }
    const index = o.keyPairs?.current ?? new Map<string, string>();
    const { records, skipped } = buildRecords(
      desired,
      inventory,
      (id) => o.userData.get(id),
      o.records,
      (nic) => publicKeysFor(nic, index),
    );
    for (const why of skipped) o.logger.warn({ event: 'metadata-skip' }, why);
    this.records = records;
    o.metrics?.vms.set(records.size);

    const networks = new Map(inventory.networks.map((n) => [n.id, n]));
    const gateways = new Set<string>();
    for (const link of desired.links) {
      const gateway = networks.get(link.networkId)?.gateway;
      if (gateway) gateways.add(gateway);
    }
    const wanted = new Map<string, { host: string; port: number; kind: 'metadata' | 'password' }>();
    for (const host of gateways) {
      wanted.set(`${host}:${o.httpPort}`, { host, port: o.httpPort, kind: 'metadata' });
      wanted.set(`${host}:${o.passwordPort}`, { host, port: o.passwordPort, kind: 'password' });
    }
    let closed = 0;
    for (const key of [...this.listeners.keys()]) {
      if (!wanted.has(key)) {
        await this.close(key);
        closed++;
      }
    }
    let opened = 0;
    const bindErrors: string[] = [];
    for (const [key, w] of wanted) {
      if (this.listeners.has(key)) continue;
      try {
        const socket = await o.binder.bind(w.host, w.port);
        this.listeners.set(key, await this.serve(socket, w.kind));
        opened++;
      } catch (error) {
        bindErrors.push(`${key}: ${(error as Error).message}`);
      }
    }
    const pendingPasswords = await o.passwords.sweep();
    o.metrics?.pendingPasswords.set(pendingPasswords);
    return {
      vms: records.size,
      gateways: gateways.size,
      opened,
      closed,
      bindErrors,
      userData,
      pendingPasswords,
    };
  }

  private async serve(socket: net.Server, kind: 'metadata' | 'password'): Promise<Listener> {
    const sockets = new Set<Duplex>();
    const server = kind === 'metadata' ? this.leanServer(sockets) : this.passwordServer(sockets);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) =>
      this.options.logger.error({ event: kind, err: error.message }, 'listener error'),
    );
    return { server, sockets };
  }

  /**
   * Port 80: one request per connection, answered with one write and closed,
   * as cloud-init asks (a new connection per key). Profiled at 10,000 VMs,
   * node:http's request and response objects cost more than the answer itself;
   * this path reads the request head, routes it and writes the whole response
   * as one buffer. Malformed heads get 400 or 431 and the server carries on.
   */
  private leanServer(sockets: Set<Duplex>): net.Server {
    return net.createServer((socket) => {
      const connectedAt = performance.now();
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.setTimeout(HEAD_TIMEOUT_MS, () => socket.destroy());
      let received: Buffer | undefined;
      const onData = (chunk: Buffer) => {
        received = received === undefined ? chunk : Buffer.concat([received, chunk]);
        const parsed: HeadParse = parseRequestHead(received);
        if (parsed.kind === 'incomplete') return;
        socket.off('data', onData);
        // Whatever else the client sends is read and dropped until it closes its side.
        socket.resume();
        socket.end(this.answerMetadata(parsed, socket, connectedAt));
      };
      socket.on('data', onData);
    });
  }

  private answerMetadata(parsed: HeadParse, socket: net.Socket, connectedAt: number): Buffer {
    if (parsed.kind === 'error') {
      this.options.metrics?.requests.inc({ service: 'metadata', result: 'malformed' });
      return responseBytes(parsed.status, `${parsed.status} ${parsed.why}\n`);
    }
    if (parsed.kind === 'incomplete') throw new Error('answerMetadata needs a whole request head');
    const { remote, local, verdict } = this.identify(socket, connectedAt);
    const refused = !verdict.ok && verdict.reason !== 'unknown-address';
    if (refused) this.refused('metadata', remote, local, verdict.reason);
    const { method, target } = parsed.head;
    const a = routeMetadata(method, target, verdict.ok ? verdict.vm : undefined);
    this.options.metrics?.requests.inc({ service: 'metadata', result: refused ? 'refused' : a.result });
    const extra =
      a.status === 405 ? 'Allow: GET, HEAD\r\n' : a.status === 503 ? 'Retry-After: 5\r\n' : undefined;
    return responseBytes(a.status, a.body, {
      head: method === 'HEAD',
      ...(extra === undefined ? {} : { extraHeaders: extra }),
    });
  }

  /** Port 8080: node:http, for the header the protocol is about (DomU_Request) and for HTTP/1.0 agents. */
  private passwordServer(sockets: Set<Duplex>): http.Server {
    const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
      this.onPassword(req, res).catch((error: Error) => {
        this.options.logger.error({ event: 'password', err: error.message }, 'request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end();
      });
    });
    server.keepAliveTimeout = 5000;
    server.on('connection', (s: Duplex) => {
      this.connectedAt.set(s, performance.now());
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    // Malformed HTTP never reaches a handler: answer 400 and close, and keep serving.
    server.on('clientError', (error: NodeJS.ErrnoException, s: Duplex) => {
      this.options.metrics?.requests.inc({ service: 'password', result: 'malformed' });
      if (s.writable && error.code !== 'ECONNRESET') {
        s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      } else s.destroy();
    });
    return server;
  }

  private identify(socket: net.Socket, connectedAt: number) {
    const remote = plainIpv4(socket.remoteAddress);
    const local = plainIpv4(socket.localAddress);
    const table = this.neighbours.after(connectedAt);
    return { remote, local, verdict: checkIdentity(remote, local, this.records, table) };
  }

  private readonly onPassword = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { remote, local, verdict } = this.identify(
      req.socket,
      this.connectedAt.get(req.socket) ?? performance.now(),
    );
    const header = req.headers.domu_request;
    const request = Array.isArray(header) ? header[0] : header;
    let body: string;
    let result: string;
    if (!verdict.ok) {
      if (verdict.reason !== 'unknown-address') this.refused('password', remote, local, verdict.reason);
      // What the Virtual Router tells an address it has no password for; a bad request stays bad.
      const a = passwordExchange(request, undefined);
      body = a.body;
      result = verdict.reason === 'unknown-address' ? a.result : 'refused';
    } else {
      const vm = verdict.vm;
      const pending =
        request?.trim() === 'send_my_password' ? await this.options.passwords.get(vm.vmId) : undefined;
      const a = passwordExchange(request, pending);
      if (a.result === 'acknowledged') await this.options.passwords.delete(vm.vmId);
      if (a.result === 'sent' || a.result === 'acknowledged') {
        this.options.logger.info(
          { event: 'password', vmId: vm.vmId, client: remote, result: a.result },
          `password ${a.result}`,
        );
      }
      body = a.body;
      result = a.result;
    }
    this.options.metrics?.requests.inc({ service: 'password', result });
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  private refused(service: string, client: string, local: string, reason: string): void {
    const vm = this.records.get(client);
    this.options.logger.warn(
      { event: 'identity-refused', service, client, gateway: local, reason, vmId: vm?.vmId, link: vm?.link },
      `${service} request from ${client} refused: ${reason}`,
    );
  }

  private async close(key: string): Promise<void> {
    const l = this.listeners.get(key);
    if (!l) return;
    this.listeners.delete(key);
    const closed = new Promise<void>((resolve) => l.server.close(() => resolve()));
    for (const s of l.sockets) s.destroy();
    await closed;
  }

  /** Closes every listener and stops the socket binder. */
  async stop(): Promise<void> {
    for (const key of [...this.listeners.keys()]) await this.close(key);
    await this.options.binder.stop();
  }
}
