import { closeSync, openSync, readSync } from 'node:fs';
import net from 'node:net';
import { routeMetadata } from './http.js';
import { checkIdentity, findNeighbour, type NeighbourLookup, plainIpv4 } from './identity.js';
import { NetlinkNeighbours, namespaceOfArpPath, neighAddon } from './netlink-neighbours.js';
import type { VmRecord } from './records.js';
import { type HeadParse, parseRequestHead, responseBytes } from './request-head.js';

/** A connection that sends no complete request head within this time is dropped. */
export const HEAD_TIMEOUT_MS = 10_000;

/**
 * The router's neighbour entries, as the identity check needs them: with the
 * netlink addon (native/neigh.c, built by `make build`), each lookup asks the
 * kernel for that one entry, at the moment the request is judged. Without it
 * (no C compiler at build time, or the socket cannot be opened or fails), the
 * kernel's table is read from `/proc/net/arp`, again whenever a request comes
 * on a connection accepted after the last read: a request is never judged on
 * an entry older than its own connection (a VM that has just taken over an
 * address by ARP is seen with its own MAC), and the connections accepted
 * together share one read. That read is synchronous (a request must not be
 * answered before it) and grows with the square of the table (about 45 ms at
 * 10,000 neighbours, measured), hence netlink first. The file stays open and
 * is read again from offset 0 (procfs regenerates it on each read from the
 * start) into one buffer that grows as the table does, rather than into a new
 * string each time. Each thread that answers requests keeps its own.
 */
export class NeighbourTable {
  private table = Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  private readAt = Number.NEGATIVE_INFINITY;
  private fd: number | undefined;
  private openPath = '';
  /** Undefined: not tried yet for `netlinkPath`; null: procfs (no addon, or it failed there). */
  private netlink: NetlinkNeighbours | null | undefined;
  private netlinkPath = '';
  private readError = '';

  constructor(
    private readonly path: () => string,
    /** Called once when netlink cannot be used for a table path, with the reason. */
    private readonly onProcfs: (reason: string) => void = () => {},
  ) {}

  /** A lookup valid until the next call: use it at once. */
  after(connectedAt: number): NeighbourLookup {
    const netlink = this.netlinkFor(this.path());
    if (netlink !== null) {
      return (address, dev) => {
        try {
          return netlink.lookup(address, dev);
        } catch (error) {
          this.dropNetlink(`netlink lookup failed: ${(error as Error).message}`);
          return this.after(connectedAt)(address, dev);
        }
      };
    }
    if (this.readAt < connectedAt) {
      const startedAt = performance.now();
      try {
        this.read();
        this.readError = '';
      } catch (error) {
        // No table, no identity: every VM is refused (logged as no-neighbour) until it can be read.
        this.length = 0;
        const why = `reading ${this.path()} failed: ${(error as Error).message}`;
        if (why !== this.readError) this.onProcfs(why);
        this.readError = why;
      }
      this.readAt = startedAt;
    }
    return (address, dev) => findNeighbour(this.table, address, dev, this.length);
  }

  /** Which way lookups go now: 'netlink', or 'procfs' (also before the first lookup). */
  get method(): 'netlink' | 'procfs' {
    return this.netlink ? 'netlink' : 'procfs';
  }

  /** Drops the open file and socket (the service stops). */
  close(): void {
    this.closeFile();
    this.netlink?.close();
    this.netlink = undefined;
  }

  private closeFile(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private netlinkFor(path: string): NetlinkNeighbours | null {
    if (this.netlink !== undefined && this.netlinkPath === path) return this.netlink;
    this.netlink?.close();
    this.netlinkPath = path;
    this.netlink = null;
    const addon = neighAddon();
    const namespace = namespaceOfArpPath(path);
    if (addon === null)
      this.onProcfs('the netlink addon was not built (no C compiler at `make build`) or does not load');
    else if (namespace === undefined) this.onProcfs(`no namespace known for ${path}`);
    else {
      try {
        this.netlink = NetlinkNeighbours.open(addon, namespace);
      } catch (error) {
        this.onProcfs(`netlink socket not opened: ${(error as Error).message}`);
      }
    }
    return this.netlink;
  }

  private dropNetlink(reason: string): void {
    this.netlink?.close();
    this.netlink = null;
    this.onProcfs(reason);
  }

  private read(): void {
    const path = this.path();
    if (this.fd !== undefined && this.openPath !== path) this.closeFile();
    try {
      this.length = this.readFrom(this.open(path));
    } catch {
      // The file went away with the process it belongs to (a replaced binder): open it again, once.
      this.closeFile();
      this.length = this.readFrom(this.open(path));
    }
  }

  private open(path: string): number {
    if (this.fd === undefined) {
      this.fd = openSync(path, 'r');
      this.openPath = path;
    }
    return this.fd;
  }

  private readFrom(fd: number): number {
    let length = 0;
    for (;;) {
      if (length === this.table.length) {
        const bigger = Buffer.allocUnsafe(this.table.length * 2);
        this.table.copy(bigger, 0, 0, length);
        this.table = bigger;
      }
      const n = readSync(fd, this.table, length, this.table.length - length, length);
      if (n === 0) return length;
      length += n;
    }
  }
}

/** A failed identity check (not an unknown address), for the `identity-refused` log line. */
export interface Refusal {
  readonly service: string;
  readonly client: string;
  readonly gateway: string;
  readonly reason: string;
  readonly vmId: string | undefined;
  readonly link: string | undefined;
}

export interface LeanResponderHooks {
  /** The records of the VMs this responder answers, keyed by NIC address. */
  records(): ReadonlyMap<string, VmRecord>;
  readonly neighbours: NeighbourTable;
  /** One answered request (metrics). */
  counted(result: string): void;
  refused(refusal: Refusal): void;
}

/** A port 80 listener and how to stop it. */
export interface LeanServer {
  readonly server: net.Server;
  /**
   * Stops accepting at once. A connection accepted before is never answered:
   * it is dropped when its request comes, or at its head deadline if none does.
   */
  close(): Promise<void>;
}

/**
 * Port 80: one request per connection, answered with one write and closed,
 * as cloud-init asks (a new connection per key). Profiled at 10,000 VMs,
 * node:http's request and response objects cost more than the answer itself;
 * this path reads the request head, routes it and writes the whole response
 * as one buffer. Malformed heads get 400 or 431 and the server carries on.
 * Connections are deliberately kept in no collection (closing needs none, see
 * `close`): measured under load, a Set of the live sockets more than doubled
 * what the young generation promoted, and the old generation's collections
 * that follow were the stalls in the latency's tail.
 * Used by the main thread (`metadata.workers` 1) and by each meta data worker.
 */
export function leanServer(hooks: LeanResponderHooks): LeanServer {
  let open = true;
  const server = net.createServer((socket) => {
    const connectedAt = performance.now();
    socket.on('error', () => socket.destroy());
    socket.setTimeout(HEAD_TIMEOUT_MS, () => socket.destroy());
    let received: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      if (!open) {
        socket.destroy();
        return;
      }
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      const parsed: HeadParse = parseRequestHead(received);
      if (parsed.kind === 'incomplete') return;
      socket.off('data', onData);
      // Whatever else the client sends is read and dropped until it closes its side.
      socket.resume();
      socket.end(answerMetadata(hooks, parsed, socket, connectedAt));
    };
    socket.on('data', onData);
  });
  return {
    server,
    close() {
      open = false;
      // The listening socket is closed here; 'close' would wait for every accepted connection.
      server.close();
      return new Promise((resolve) => setImmediate(resolve));
    },
  };
}

function answerMetadata(
  hooks: LeanResponderHooks,
  parsed: HeadParse,
  socket: net.Socket,
  connectedAt: number,
): Buffer {
  if (parsed.kind === 'error') {
    hooks.counted('malformed');
    return responseBytes(parsed.status, `${parsed.status} ${parsed.why}\n`);
  }
  if (parsed.kind === 'incomplete') throw new Error('answerMetadata needs a whole request head');
  const remote = plainIpv4(socket.remoteAddress);
  const local = plainIpv4(socket.localAddress);
  const records = hooks.records();
  const verdict = checkIdentity(remote, local, records, hooks.neighbours.after(connectedAt));
  const refused = !verdict.ok && verdict.reason !== 'unknown-address';
  if (refused) {
    const vm = records.get(remote);
    hooks.refused({
      service: 'metadata',
      client: remote,
      gateway: local,
      reason: verdict.reason,
      vmId: vm?.vmId,
      link: vm?.link,
    });
  }
  const { method, target } = parsed.head;
  const a = routeMetadata(method, target, verdict.ok ? verdict.vm : undefined);
  hooks.counted(refused ? 'refused' : a.result);
  const extra =
    a.status === 405 ? 'Allow: GET, HEAD\r\n' : a.status === 503 ? 'Retry-After: 5\r\n' : undefined;
  return responseBytes(a.status, a.body, {
    head: method === 'HEAD',
    ...(extra === undefined ? {} : { extraHeaders: extra }),
  });
}
