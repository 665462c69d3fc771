import { Worker } from 'node:worker_threads';
import type { SocketBinder } from './binder.js';
import type { Refusal } from './lean-responder.js';
import type { WorkerInbound, WorkerOutbound } from './metadata-worker.js';
import type { VmRecord } from './records.js';
import { assignShards, recordsOfShard } from './shards.js';

export interface WorkerPoolHooks {
  counted(result: string, n: number): void;
  refused(refusal: Refusal): void;
  /** A worker's identity check went to /proc/net/arp (no netlink addon, or netlink failed). */
  procfs(worker: number, reason: string): void;
  /** A worker thread ended on its own (it is started again and its listeners re-bound). */
  exited(worker: number, code: number, gateways: number): void;
  rebindFailed(gateway: string, error: string): void;
  workerError(worker: number, error: Error): void;
}

export interface WorkerPoolSync {
  readonly opened: number;
  readonly closed: number;
  readonly bindErrors: readonly string[];
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * A worker's young generation as small as the main thread's (`--max-semi-space-size=2`: 3 x 2 MiB):
 * the flag does not reach worker threads, which otherwise get 48 MiB each, and under load that young
 * generation stayed resident (the first bench with two workers: peak RSS 178.7 MiB).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 6 };

/** How long a worker may take to confirm a listen or a close. */
const REPLY_TIMEOUT_MS = 10_000;

/**
 * The meta data worker threads (`metadata.workers` > 1): each serves port 80
 * on the gateways assigned to it (assignShards), with the records of those
 * gateways' VMs, sent again every cycle. A worker that exits is started again,
 * given its records, and its listeners are bound again (a worker's sockets
 * close with it).
 */
export class MetadataWorkerPool {
  private readonly workers: Worker[] = [];
  private shards = new Map<string, number>();
  /** Gateways whose listener a worker has confirmed, and which worker. */
  private readonly listening = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly waiters = new Map<string, Waiter>();
  private records: ReadonlyMap<string, VmRecord> = new Map();
  private stopping = false;

  constructor(
    private readonly size: number,
    private readonly httpPort: number,
    private readonly binder: SocketBinder,
    private readonly hooks: WorkerPoolHooks,
  ) {
    for (let k = 0; k < size; k++) this.workers.push(this.start(k));
  }

  private start(k: number): Worker {
    const worker = import.meta.url.endsWith('.ts')
      ? // From source (tests): node 20 does not carry the TypeScript loader into worker threads.
        new Worker(
          `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(
            new URL('./metadata-worker.ts', import.meta.url).href,
          )}); });`,
          { eval: true, resourceLimits: WORKER_LIMITS },
        )
      : new Worker(new URL('./metadata-worker.js', import.meta.url), { resourceLimits: WORKER_LIMITS });
    worker.on('message', (m: WorkerOutbound) => this.onMessage(k, m));
    worker.on('error', (error) => this.hooks.workerError(k, error));
    worker.once('exit', (code) => this.onExit(k, worker, code));
    return worker;
  }

  private onMessage(k: number, m: WorkerOutbound): void {
    if (m.type === 'procfs') {
      this.hooks.procfs(k, m.reason);
    } else if (m.type === 'counts') {
      for (const [result, n] of Object.entries(m.counts)) this.hooks.counted(result, n);
    } else if (m.type === 'refused') {
      this.hooks.refused(m.refusal);
    } else if (m.type === 'listening') {
      this.settle(`listen ${m.key}`);
    } else if (m.type === 'listen-failed') {
      this.settle(`listen ${m.key}`, new Error(m.error));
    } else if (m.type === 'closed') {
      this.settle(`close ${m.key}`);
    }
  }

  private settle(id: string, error?: Error): void {
    const w = this.waiters.get(id);
    if (w === undefined) return;
    this.waiters.delete(id);
    if (error === undefined) w.resolve();
    else w.reject(error);
  }

  private ask(k: number, id: string, message: WorkerInbound): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle(id, new Error(`worker ${k}: no reply to ${id}`)),
        REPLY_TIMEOUT_MS,
      );
      this.waiters.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.workers[k]?.postMessage(message);
    });
  }

  private onExit(k: number, worker: Worker, code: number): void {
    if (this.stopping || this.workers[k] !== worker) return;
    const lost = [...this.listening].filter(([, w]) => w === k).map(([g]) => g);
    for (const g of lost) this.listening.delete(g);
    for (const id of [...this.waiters.keys()]) {
      const gateway = id.slice(id.indexOf(' ') + 1);
      if (this.shards.get(gateway) === k) this.settle(id, new Error(`worker ${k} exited (${code})`));
    }
    this.hooks.exited(k, code, lost.length);
    this.workers[k] = this.start(k);
    this.sendRecords(k);
    for (const [gateway, w] of this.shards) {
      if (w !== k) continue;
      this.listen(gateway, k).catch((error: Error) => this.hooks.rebindFailed(gateway, error.message));
    }
  }

  private sendRecords(k: number): void {
    this.workers[k]?.postMessage({
      type: 'records',
      records: recordsOfShard(this.records, this.shards, k),
      arpPath: this.binder.arpPath,
    } satisfies WorkerInbound);
  }

  private async listen(gateway: string, k: number): Promise<boolean> {
    if (this.listening.has(gateway) || this.inFlight.has(gateway)) return false;
    this.inFlight.add(gateway);
    try {
      const { fd } = await this.binder.bindForWorker(gateway, this.httpPort);
      const key = `${gateway}:${this.httpPort}`;
      // The fd is known once bound: send the neighbour table's path again (the binder may be new).
      this.workers[k]?.postMessage({ type: 'arp', arpPath: this.binder.arpPath } satisfies WorkerInbound);
      await this.ask(k, `listen ${key}`, {
        type: 'listen',
        key,
        host: gateway,
        port: this.httpPort,
        ...(fd === undefined ? {} : { fd }),
      });
      this.listening.set(gateway, k);
      return true;
    } finally {
      this.inFlight.delete(gateway);
    }
  }

  private async close(gateway: string): Promise<void> {
    const k = this.listening.get(gateway);
    this.listening.delete(gateway);
    if (k === undefined) return;
    const key = `${gateway}:${this.httpPort}`;
    await this.ask(k, `close ${key}`, { type: 'close', key }).catch(() => {});
  }

  /** Serves port 80 on exactly these gateways, with these records. */
  async sync(records: ReadonlyMap<string, VmRecord>, gateways: Iterable<string>): Promise<WorkerPoolSync> {
    const next = assignShards(gateways, this.shards, this.size);
    let closed = 0;
    for (const g of [...this.listening.keys()]) {
      if (next.get(g) !== this.listening.get(g)) {
        await this.close(g);
        closed++;
      }
    }
    this.shards = next;
    this.records = records;
    for (let k = 0; k < this.size; k++) this.sendRecords(k);
    let opened = 0;
    const bindErrors: string[] = [];
    for (const [gateway, k] of next) {
      try {
        if (await this.listen(gateway, k)) opened++;
      } catch (error) {
        bindErrors.push(`${gateway}:${this.httpPort}: ${(error as Error).message}`);
      }
    }
    return { opened, closed, bindErrors };
  }

  /** The worker threads' ids (a new id after a restart). */
  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  /** Ends worker `k` as a crash would (tests); it is started again like any worker that exits. */
  async kill(k: number): Promise<void> {
    await this.workers[k]?.terminate();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
