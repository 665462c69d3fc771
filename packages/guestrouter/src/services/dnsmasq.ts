import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from 'opskit/atomic-write';
import type { Inventory } from '../inventory/types.js';
import { inNetns } from '../kernel/exec.js';
import { type RenderedDhcp, renderDhcp } from './dhcp.js';
import {
  OwnedProcess,
  type OwnedProcessHealth,
  type OwnedProcessMetrics,
  type ProcessExit,
  reapByArgumentPrefix,
} from './owned-process.js';
import type { ServingNetwork } from './serving.js';

export interface DnsmasqLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DnsmasqOptions {
  /** The directory for the instances: one subdirectory per link (dnsmasq.conf, dhcp-hosts, dns-hosts, pid file). */
  readonly dir: string;
  readonly binary: string;
  readonly leaseTime: string;
  readonly domain?: string;
  /** Also serve DNS (the VMs' names, the rest forwarded to these servers). */
  readonly dns?: { readonly upstream: readonly string[] };
  /** With dns: answer `data-server` with each network's gateway (meta data served). */
  readonly dataServer?: boolean;
  readonly netns?: string;
  readonly logger: DnsmasqLogger;
  readonly metrics?: OwnedProcessMetrics;
  /** How long dnsmasq must stay up to count as started (default 400 ms). */
  readonly startGraceMs?: number;
}

export interface DhcpSyncResult {
  readonly networks: number;
  readonly leases: number;
  /** What was done to dnsmasq this time (`recovered`: it had died since the last sync and was started again). */
  readonly action: 'started' | 'restarted' | 'recovered' | 'reloaded' | 'unchanged' | 'stopped' | 'idle';
  /** When dnsmasq had died since the last sync: how (the cycle that finds it is reported failed). */
  readonly exited?: ProcessExit;
  /** Which instance had died (`dnsmasq-<link>`). */
  readonly exitedService?: string;
}

/**
 * One dnsmasq per served network, bound to that network's link only, as the Virtual Router gave
 * each network its own: DHCP with static leases for the network's VMs and, with `dns`, DNS on its
 * gateway that answers that network's VM names only (the same name in two networks is no
 * conflict; another network's names are NXDOMAIN here). libvirt runs its networks the same way:
 * with `bind-dynamic` and one interface, each instance's DHCP socket is bound to its device.
 *
 * Each instance is an owned child (owned-process.ts: pid file, stale instance stopped before a
 * start, stop by PID). A change of the network's addressing rewrites its configuration and restarts
 * it; a change of its VMs rewrites the hosts files and sends SIGHUP. An instance whose network is
 * no longer served is stopped and its directory removed. dnsmasq gives up root after start, so the
 * state directory must be traversable by its user (the default /var/lib/guestrouter is).
 */
export class DnsmasqService {
  private readonly instances = new Map<string, DnsmasqInstance>();
  private reaped = false;

  constructor(private readonly options: DnsmasqOptions) {}

  /** Instances by link name. */
  get pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.instances].map(([link, i]) => [link, i.pid]));
  }

  health(): Record<string, OwnedProcessHealth> {
    return Object.fromEntries([...this.instances.values()].map((i) => [i.name, i.health()]));
  }

  /** Throws when an instance cannot be started (the others are still synced). */
  async sync(serving: readonly ServingNetwork[], inventory: Inventory): Promise<DhcpSyncResult> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    await chmod(this.options.dir, 0o755);
    const wanted = new Set(serving.map((n) => n.link));
    if (!this.reaped) {
      // Whatever dnsmasq runs with a config under this directory now was left by a killed run (or
      // is the single instance of older versions): none is ours yet. One /proc scan for them all;
      // afterwards each instance checks its own pid file only.
      this.reaped = true;
      await reapByArgumentPrefix(`--conf-file=${this.options.dir}/`, 'dnsmasq', this.options.logger);
    }
    const results: DhcpSyncResult[] = [];
    const errors: string[] = [];
    let stopped = 0;
    for (const [link, instance] of this.instances) {
      if (wanted.has(link)) continue;
      await instance.stop();
      this.instances.delete(link);
      await rm(join(this.options.dir, link), { recursive: true, force: true });
      stopped++;
    }
    await forEachBounded(serving, 16, async (network) => {
      let instance = this.instances.get(network.link);
      if (instance === undefined) {
        instance = new DnsmasqInstance(
          { ...this.options, dir: join(this.options.dir, network.link) },
          network.link,
        );
        this.instances.set(network.link, instance);
      }
      try {
        results.push(await instance.sync([network], inventory));
      } catch (error) {
        errors.push((error as Error).message);
      }
    });
    if (errors.length > 0)
      throw new Error(
        errors.slice(0, 5).join('; ') + (errors.length > 5 ? ` (+${errors.length - 5} more)` : ''),
      );
    const rank: DhcpSyncResult['action'][] = [
      'recovered',
      'restarted',
      'started',
      'reloaded',
      'stopped',
      'unchanged',
      'idle',
    ];
    const actions = results.map((r) => r.action);
    if (stopped > 0) actions.push('stopped');
    const action = rank.find((a) => actions.includes(a)) ?? 'idle';
    const exited = results.find((r) => r.exited !== undefined);
    return {
      networks: results.reduce((n, r) => n + r.networks, 0),
      leases: results.reduce((n, r) => n + r.leases, 0),
      action: results.length === 0 && stopped === 0 ? 'idle' : action,
      ...(exited?.exited ? { exited: exited.exited, exitedService: exited.exitedService } : {}),
    };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.stop()));
  }
}

/** One dnsmasq for one network (see DnsmasqService). */
class DnsmasqInstance {
  private readonly process: OwnedProcess;
  private readonly confFile: string;
  private readonly hostsFile: string;
  private readonly pidFile: string;
  private readonly dnsHostsFile: string;
  readonly name: string;

  constructor(
    private readonly options: DnsmasqOptions,
    link: string,
  ) {
    this.name = `dnsmasq-${link}`;
    this.confFile = join(options.dir, 'dnsmasq.conf');
    this.hostsFile = join(options.dir, 'dhcp-hosts');
    this.pidFile = join(options.dir, 'dnsmasq.pid');
    this.dnsHostsFile = join(options.dir, 'dns-hosts');
    const [command, args] = inNetns(options.netns, options.binary, [
      '--keep-in-foreground',
      '--log-facility=-',
      `--conf-file=${this.confFile}`,
    ]);
    this.process = new OwnedProcess({
      name: this.name,
      command,
      args,
      pidFile: this.pidFile,
      // The config path is under this state dir: no other dnsmasq has it on its command line.
      identity: [`--conf-file=${this.confFile}`],
      scanProcesses: false,
      logger: options.logger,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.startGraceMs === undefined ? {} : { startGraceMs: options.startGraceMs }),
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  health(): OwnedProcessHealth {
    return this.process.health();
  }

  private render(serving: readonly ServingNetwork[], inventory: Inventory): RenderedDhcp {
    return renderDhcp(serving, inventory, {
      leaseTime: this.options.leaseTime,
      hostsFile: this.hostsFile,
      pidFile: this.pidFile,
      ...(this.options.domain === undefined ? {} : { domain: this.options.domain }),
      ...(this.options.dataServer ? { dataServer: true } : {}),
      ...(this.options.dns === undefined
        ? {}
        : { dns: { hostsFile: this.dnsHostsFile, upstream: this.options.dns.upstream } }),
    });
  }

  /** Throws ServiceStartError when dnsmasq cannot be started. */
  async sync(serving: readonly ServingNetwork[], inventory: Inventory): Promise<DhcpSyncResult> {
    const r = this.render(serving, inventory);
    for (const why of r.skipped) this.options.logger.warn({ event: 'dhcp-skip' }, why);
    if (r.networks === 0) {
      const wasRunning = this.process.running;
      await this.process.stop();
      return { networks: 0, leases: 0, action: wasRunning ? 'stopped' : 'idle' };
    }
    // dnsmasq drops root after start and re-reads the hosts file as its own user on SIGHUP: the
    // directory and files must be readable by it (MACs and addresses are not secrets).
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    await chmod(this.options.dir, 0o755);
    const confChanged = await writeIfChanged(this.confFile, r.conf);
    // Both hosts files are re-read on SIGHUP.
    const dhcpHostsChanged = await writeIfChanged(this.hostsFile, r.hosts);
    const dnsHostsChanged = this.options.dns ? await writeIfChanged(this.dnsHostsFile, r.dnsHosts) : false;
    const hostsChanged = dhcpHostsChanged || dnsHostsChanged;
    const base = { networks: r.networks, leases: r.leases };
    if (confChanged && this.process.running) {
      await this.process.stop();
      await this.process.start();
      return { ...base, action: 'restarted' };
    }
    const ensured = await this.process.ensureRunning();
    if (ensured.action === 'restarted')
      return { ...base, action: 'recovered', exited: ensured.exit, exitedService: this.name };
    if (ensured.action === 'started') return { ...base, action: 'started' };
    if (hostsChanged) {
      this.process.signal('SIGHUP');
      return { ...base, action: 'reloaded' };
    }
    return { ...base, action: 'unchanged' };
  }

  /** Stops dnsmasq by its PID: SIGTERM, SIGKILL after 5 s. */
  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/** Replaces the file atomically (temp file, fsync, rename, fsync of the directory); returns whether the content changed. */
async function writeIfChanged(file: string, content: string): Promise<boolean> {
  const old = await readFile(file, 'utf8').catch(() => undefined);
  if (old === content) return false;
  writeFileAtomic(file, content, { mode: 0o644 });
  return true;
}

async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
