import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import type { SocketBinder } from './binder.js';
import { checkIdentity, plainIpv4 } from './identity.js';
import { type KeyPairDirectory, publicKeysFor } from './keypairs.js';
import { type LeanResponderHooks, leanServer, NeighbourTable, type Refusal } from './lean-responder.js';
import type { MetadataMetrics } from './metrics.js';
import { passwordExchange } from './password.js';
import type { PasswordStore } from './password-store.js';
import { buildRecords, type RecordOptions, type VmRecord } from './records.js';
import type { RefreshOutcome, UserDataSource } from './userdata.js';
import { MetadataWorkerPool } from './worker-pool.js';

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
  readonly userData: UserDataSource;
  /** The VMs' SSH key pairs (listSSHKeyPairs); without it `public-keys` comes only from the NICs' `publicKeys`. */
  readonly keyPairs?: KeyPairDirectory;
  readonly records?: RecordOptions;
  readonly logger: MetadataLogger;
  readonly metrics?: MetadataMetrics;
  /**
   * Threads that serve port 80 (each the gateways of its share of the networks);
   * 1: the main thread serves it, as the password server. Default 1.
   */
  readonly workers?: number;
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

interface Listener {
  readonly server: net.Server;
  /** Stops accepting and answering (port 80: see LeanServer; port 8080: its connections are destroyed). */
  close(): Promise<void>;
}

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
  private readonly pool: MetadataWorkerPool | undefined;

  constructor(private readonly options: MetadataServiceOptions) {
    this.neighbours = new NeighbourTable(
      () => options.binder.arpPath,
      (reason) => this.warnProcfs('main', reason),
    );
    const workers = options.workers ?? 1;
    if (workers > 1) {
      const metrics = options.metrics;
      const logger = options.logger;
      this.pool = new MetadataWorkerPool(workers, options.httpPort, options.binder, {
        counted: (result, n) => metrics?.requests.inc({ service: 'metadata', result }, n),
        refused: (r) => this.logRefusal(r),
        procfs: (worker, reason) => this.warnProcfs(`worker ${worker}`, reason),
        exited: (worker, code, gateways) =>
          logger.error(
            { event: 'metadata-worker-exit', worker, code, gateways },
            'meta data worker thread exited; started again, its listeners are bound again',
          ),
        rebindFailed: (gateway, err) =>
          logger.warn(
            { event: 'metadata-bind', gateway, err },
            'listener not bound again; retried next cycle',
          ),
        workerError: (worker, error) =>
          logger.error(
            { event: 'metadata-worker-exit', worker, err: error.message },
            'meta data worker failed',
          ),
      });
    }
  }

  /** The worker threads' ids, when `workers` > 1 (tests stop one). */
  get workerThreadIds(): number[] {
    return this.pool?.threadIds ?? [];
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
      if (this.pool === undefined)
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
    if (this.pool !== undefined) {
      const p = await this.pool.sync(records, gateways);
      opened += p.opened;
      closed += p.closed;
      bindErrors.push(...p.bindErrors);
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
    let server: net.Server;
    let close: () => Promise<void>;
    if (kind === 'metadata') {
      ({ server, close } = leanServer(this.leanHooks()));
    } else {
      const sockets = new Set<Duplex>();
      const password = this.passwordServer(sockets);
      server = password;
      close = () => {
        const closed = new Promise<void>((resolve) => password.close(() => resolve()));
        for (const s of sockets) s.destroy();
        return closed;
      };
    }
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
    return { server, close };
  }

  private leanHooks(): LeanResponderHooks {
    return {
      records: () => this.records,
      neighbours: this.neighbours,
      counted: (result) => this.options.metrics?.requests.inc({ service: 'metadata', result }),
      refused: (r) => this.logRefusal(r),
    };
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
    this.logRefusal({ service, client, gateway: local, reason, vmId: vm?.vmId, link: vm?.link });
  }

  /** The identity check of a thread reads /proc/net/arp instead of asking netlink: slow at thousands of neighbours. */
  private warnProcfs(thread: string, reason: string): void {
    this.options.logger.warn(
      { event: 'metadata-neighbours', thread, method: 'procfs', reason },
      `meta data identity check reads /proc/net/arp (${reason}); slow with thousands of neighbours`,
    );
  }

  private logRefusal(r: Refusal): void {
    this.options.logger.warn(
      { event: 'identity-refused', ...r },
      `${r.service} request from ${r.client} refused: ${r.reason}`,
    );
  }

  private async close(key: string): Promise<void> {
    const l = this.listeners.get(key);
    if (!l) return;
    this.listeners.delete(key);
    await l.close();
  }

  /** Closes every listener and stops the socket binder. */
  async stop(): Promise<void> {
    for (const key of [...this.listeners.keys()]) await this.close(key);
    await this.pool?.stop();
    await this.options.binder.stop();
    this.neighbours.close();
  }
}
