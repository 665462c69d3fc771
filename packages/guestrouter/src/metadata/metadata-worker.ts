/**
 * A meta data worker thread (`metadata.workers` > 1): serves port 80 on the
 * gateways of the networks assigned to it, with its own copy of their VMs'
 * records and its own identity check (source address, and the MAC of the
 * router's neighbour entry on the NIC's link, read from the kernel's table
 * after the connection was accepted: the same check as the main thread's).
 * It reports request counts to the main thread once a second (metrics) and
 * refusals as they happen (the main thread logs them).
 *
 * Messages in: `records` (the whole shard, replacing the last), `listen`
 * (a listening socket's fd made by the binder, or a host and port to bind),
 * `close`. Messages out: `listening` / `listen-failed` / `closed` (by key),
 * `counts`, `refused`.
 */
import { parentPort } from 'node:worker_threads';
import { type LeanServer, leanServer, NeighbourTable } from './lean-responder.js';
import type { VmRecord } from './records.js';

export type WorkerInbound =
  | { readonly type: 'records'; readonly records: [string, VmRecord][]; readonly arpPath: string }
  | {
      readonly type: 'listen';
      readonly key: string;
      readonly fd?: number;
      readonly host: string;
      readonly port: number;
    }
  | { readonly type: 'arp'; readonly arpPath: string }
  | { readonly type: 'close'; readonly key: string };

export type WorkerOutbound =
  | { readonly type: 'listening'; readonly key: string }
  | { readonly type: 'listen-failed'; readonly key: string; readonly error: string }
  | { readonly type: 'closed'; readonly key: string }
  | { readonly type: 'counts'; readonly counts: Record<string, number> }
  | { readonly type: 'procfs'; readonly reason: string }
  | {
      readonly type: 'refused';
      readonly refusal: import('./lean-responder.js').Refusal;
    };

/** How often request counts go to the main thread. */
const COUNT_FLUSH_MS = 1000;

const port = parentPort;
if (port === null) throw new Error('metadata-worker runs as a worker thread');

let records = new Map<string, VmRecord>();
let counts: Record<string, number> = {};
/** The binder's view of the router namespace's neighbour table; it comes with the records. */
let arpPath = '/proc/net/arp';
const neighbours = new NeighbourTable(
  () => arpPath,
  (reason) => send({ type: 'procfs', reason }),
);
const servers = new Map<string, LeanServer>();
const send = (m: WorkerOutbound) => port.postMessage(m);

const hooks = {
  records: () => records,
  neighbours,
  counted(result: string) {
    counts[result] = (counts[result] ?? 0) + 1;
  },
  refused(refusal: import('./lean-responder.js').Refusal) {
    send({ type: 'refused', refusal });
  },
};

function flush(): void {
  if (Object.keys(counts).length === 0) return;
  send({ type: 'counts', counts });
  counts = {};
}
setInterval(flush, COUNT_FLUSH_MS).unref();

/** Structured cloning turns a Buffer into a Uint8Array; the responder copies from a Buffer. */
function revive(r: VmRecord): VmRecord {
  const u = r.userData as Uint8Array | null | undefined;
  if (u === null || u === undefined || Buffer.isBuffer(u)) return r;
  return { ...r, userData: Buffer.from(u.buffer, u.byteOffset, u.byteLength) };
}

function listen(m: Extract<WorkerInbound, { type: 'listen' }>): void {
  const lean = leanServer(hooks);
  const server = lean.server;
  const failed = (error: Error) => send({ type: 'listen-failed', key: m.key, error: error.message });
  server.once('error', failed);
  const ready = () => {
    server.off('error', failed);
    server.on('error', () => {});
    servers.set(m.key, lean);
    send({ type: 'listening', key: m.key });
  };
  if (m.fd !== undefined) server.listen({ fd: m.fd }, ready);
  else server.listen({ host: m.host, port: m.port, exclusive: true }, ready);
}

port.on('message', (m: WorkerInbound) => {
  if (m.type === 'records') {
    records = new Map(m.records.map(([address, r]) => [address, revive(r)]));
    arpPath = m.arpPath;
  } else if (m.type === 'arp') {
    arpPath = m.arpPath;
  } else if (m.type === 'listen') {
    listen(m);
  } else if (m.type === 'close') {
    const s = servers.get(m.key);
    servers.delete(m.key);
    if (s === undefined) {
      send({ type: 'closed', key: m.key });
      return;
    }
    void s.close().then(() => send({ type: 'closed', key: m.key }));
  }
});
// Counts not yet sent go before the thread does; the table's file is the process's, not the thread's.
port.on('close', () => {
  flush();
  neighbours.close();
});
