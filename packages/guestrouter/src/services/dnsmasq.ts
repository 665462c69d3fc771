import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import { inNetns } from '../kernel/exec.js';
import { type RenderedDhcp, renderDhcp } from './dhcp.js';
import {
  OwnedProcess,
  type OwnedProcessHealth,
  type OwnedProcessMetrics,
  type ProcessExit,
} from './owned-process.js';

export interface DnsmasqLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DnsmasqOptions {
  /** The directory for dnsmasq.conf, dhcp-hosts and the pid file. */
  readonly dir: string;
  readonly binary: string;
  readonly leaseTime: string;
  readonly domain?: string;
  /** Also serve DNS (the VMs' names, the rest forwarded to these servers). */
  readonly dns?: { readonly upstream: readonly string[] };
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
}

/**
 * Runs one dnsmasq for the DHCP of every served network, as an owned child of
 * the controller (see owned-process.ts: pid file, stale instance stopped before
 * a start, stop by PID). A change of networks rewrites the configuration and
 * restarts dnsmasq; a change of VMs only rewrites the hosts file and sends
 * SIGHUP, which makes dnsmasq re-read it without dropping anything. With no
 * served network dnsmasq is stopped. A dnsmasq that died is started again at
 * the next sync, which reports it. dnsmasq gives up root after start, so the
 * state directory must be traversable by its user (the default
 * /var/lib/guestrouter is).
 */
export class DnsmasqService {
  private readonly process: OwnedProcess;
  private readonly confFile: string;
  private readonly hostsFile: string;
  private readonly pidFile: string;
  private readonly dnsHostsFile: string;

  constructor(private readonly options: DnsmasqOptions) {
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
      name: 'dnsmasq',
      command,
      args,
      pidFile: this.pidFile,
      // The config path is under this state dir: no other dnsmasq has it on its command line.
      identity: [`--conf-file=${this.confFile}`],
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

  private render(desired: DesiredState, inventory: Inventory): RenderedDhcp {
    return renderDhcp(desired, inventory, {
      leaseTime: this.options.leaseTime,
      hostsFile: this.hostsFile,
      pidFile: this.pidFile,
      ...(this.options.domain === undefined ? {} : { domain: this.options.domain }),
      ...(this.options.dns === undefined
        ? {}
        : { dns: { hostsFile: this.dnsHostsFile, upstream: this.options.dns.upstream } }),
    });
  }

  /** Throws ServiceStartError when dnsmasq cannot be started. */
  async sync(desired: DesiredState, inventory: Inventory): Promise<DhcpSyncResult> {
    const r = this.render(desired, inventory);
    for (const why of r.skipped) this.options.logger.warn({ action: 'dhcp-skip' }, why);
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
    if (ensured.action === 'restarted') return { ...base, action: 'recovered', exited: ensured.exit };
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

/** Writes through a temp file and rename; returns whether the content changed. */
async function writeIfChanged(file: string, content: string): Promise<boolean> {
  const old = await readFile(file, 'utf8').catch(() => undefined);
  if (old === content) return false;
  const tmp = `${file}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  await chmod(tmp, 0o644);
  await rename(tmp, file);
  return true;
}
