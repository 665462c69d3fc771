import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** Makes listening sockets, in this process or inside a network namespace. */
export interface SocketBinder {
  bind(host: string, port: number): Promise<net.Server>;
  /**
   * A listening socket for a worker thread: its file descriptor (fds are the
   * process's, so a worker can listen on it; from then on the worker owns it),
   * or no fd when the worker can bind host and port itself (same namespace).
   */
  bindForWorker(host: string, port: number): Promise<{ readonly fd?: number }>;
  /** The kernel's neighbour table as seen from where the sockets live. */
  readonly arpPath: string;
  stop(): Promise<void>;
}

/** Sockets in the namespace guestrouter runs in. */
export class LocalBinder implements SocketBinder {
  readonly arpPath = '/proc/net/arp';

  bind(host: string, port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  async bindForWorker(): Promise<{ readonly fd?: number }> {
    return {};
  }

  async stop(): Promise<void> {}
}

/**
 * Sockets inside another network namespace: a small child (`ip netns exec NS
 * node binder-main`) binds them there and passes each back over its IPC
 * channel. The child is this process's own, stopped by its PID; a dead child
 * is started again at the next bind.
 */
export class NetnsBinder implements SocketBinder {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(s: unknown): void; reject(e: Error): void }>();
  /**
   * The raw handles of sockets handed to worker threads. Never closed here: the
   * worker that listens on the fd closes it; dropping the wrapper would let
   * nothing close it twice either, but keeping it keeps it from being collected.
   */
  private readonly handedOver: unknown[] = [];

  constructor(private readonly netns: string) {}

  get arpPath(): string {
    return `/proc/${this.child?.pid ?? 'self'}/net/arp`;
  }

  private ensureChild(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const script = fileURLToPath(new URL(`./binder-main${ext}`, import.meta.url));
    // `ip netns exec` enters the namespace and execs node in place, so the IPC channel is inherited.
    const child = spawn('ip', ['netns', 'exec', this.netns, process.execPath, ...process.execArgv, script], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (message: { id: number; ok?: boolean; error?: string }, handle: unknown) => {
      const waiter = this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id);
      if (message.ok && handle !== undefined && handle !== null) waiter.resolve(handle);
      else waiter.reject(new Error(message.error ?? 'no socket received'));
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiting.values()) w.reject(new Error(`socket binder exited (${code ?? signal})`));
      this.waiting.clear();
    });
    this.child = child;
    return child;
  }

  async bind(host: string, port: number): Promise<net.Server> {
    const handle = await this.request(host, port, false);
    if (!(handle instanceof net.Server)) throw new Error('no listening socket received');
    return handle;
  }

  async bindForWorker(host: string, port: number): Promise<{ readonly fd?: number }> {
    const handle = (await this.request(host, port, true)) as { fd?: unknown };
    if (typeof handle.fd !== 'number' || handle.fd < 0) throw new Error('no socket descriptor received');
    this.handedOver.push(handle);
    return { fd: handle.fd };
  }

  private async request(host: string, port: number, raw: boolean): Promise<unknown> {
    const child = this.ensureChild();
    const id = this.nextId++;
    const server = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`binding ${host}:${port} in ${this.netns} timed out`));
      }, 10_000);
      this.waiting.set(id, {
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, host, port, raw });
    });
    return server;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
