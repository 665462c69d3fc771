import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { routeMetadata } from './http.js';
import { checkIdentity, findNeighbour, type NeighbourLookup, plainIpv4 } from './identity.js';
import type { VmRecord } from './records.js';
import { type HeadParse, parseRequestHead, responseBytes } from './request-head.js';

/** A connection that sends no complete request head within this time is dropped. */
export const HEAD_TIMEOUT_MS = 10_000;

/**
 * The kernel's neighbour table, read again whenever a request comes on a
 * connection accepted after the last read: a request is never judged on an
 * entry older than its own connection (a VM that has just taken over an
 * address by ARP is seen with its own MAC), and the connections accepted
 * together share one read. The read is synchronous: a procfs read of a small
 * table took about 0.1 ms here, and a request must not be answered before it.
 * Each thread that answers requests keeps its own.
 */
export class NeighbourTable {
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

/**
 * Port 80: one request per connection, answered with one write and closed,
 * as cloud-init asks (a new connection per key). Profiled at 10,000 VMs,
 * node:http's request and response objects cost more than the answer itself;
 * this path reads the request head, routes it and writes the whole response
 * as one buffer. Malformed heads get 400 or 431 and the server carries on.
 * Used by the main thread (`metadata.workers` 1) and by each meta data worker.
 */
export function leanServer(hooks: LeanResponderHooks, sockets: Set<Duplex>): net.Server {
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
      socket.end(answerMetadata(hooks, parsed, socket, connectedAt));
    };
    socket.on('data', onData);
  });
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
