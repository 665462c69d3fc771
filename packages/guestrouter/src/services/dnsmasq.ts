import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import { inNetns } from '../kernel/exec.js';
import { type RenderedDhcp, renderDhcp } from './dhcp.js';

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
  /** With dns: answer `data-server` with each network's gateway (meta data served). */
  readonly dataServer?: boolean;
  readonly netns?: string;
  readonly logger: DnsmasqLogger;
}

export interface DhcpSyncResult {
  readonly networks: number;
  readonly leases: number;
  /** What was done to dnsmasq this time. */
  readonly action: 'started' | 'restarted' | 'reloaded' | 'unchanged' | 'stopped' | 'idle';
}

/**
 * Runs one dnsmasq for the DHCP of every served network, as a child of the
 * controller, stopped by its PID. A change of networks rewrites the
 * configuration and restarts dnsmasq; a change of VMs only rewrites the hosts
 * file and sends SIGHUP, which makes dnsmasq re-read it without dropping
 * anything. With no served network dnsmasq is stopped. A dnsmasq that died is
 * started again at the next sync. dnsmasq gives up root after start, so the
 * state directory must be traversable by its user (the default
 * /var/lib/guestrouter is).
 */
export class DnsmasqService {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly confFile: string;
  private readonly hostsFile: string;
  private readonly pidFile: string;
  private readonly dnsHostsFile: string;

  constructor(private readonly options: DnsmasqOptions) {
    this.confFile = join(options.dir, 'dnsmasq.conf');
    this.hostsFile = join(options.dir, 'dhcp-hosts');
    this.pidFile = join(options.dir, 'dnsmasq.pid');
    this.dnsHostsFile = join(options.dir, 'dns-hosts');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private render(desired: DesiredState, inventory: Inventory): RenderedDhcp {
    return renderDhcp(desired, inventory, {
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

  async sync(desired: DesiredState, inventory: Inventory): Promise<DhcpSyncResult> {
    const r = this.render(desired, inventory);
    for (const why of r.skipped) this.options.logger.warn({ action: 'dhcp-skip' }, why);
    if (r.networks === 0) {
      const wasRunning = this.running;
      await this.stop();
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
    let action: DhcpSyncResult['action'] = 'unchanged';
    if (!this.running) {
      await this.start();
      action = 'started';
    } else if (confChanged) {
      await this.stop();
      await this.start();
      action = 'restarted';
    } else if (hostsChanged) {
      this.child?.kill('SIGHUP');
      action = 'reloaded';
    }
    return { networks: r.networks, leases: r.leases, action };
  }

  private get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async start(): Promise<void> {
    const [file, args] = inNetns(this.options.netns, this.options.binary, [
      '--keep-in-foreground',
      '--log-facility=-',
      `--conf-file=${this.confFile}`,
    ]);
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        if (this.child === child) {
          this.child = undefined;
          this.options.logger.error(
            { action: 'dhcp-exit', code, signal, stderr: stderr.trim() },
            'dnsmasq exited; it is started again at the next reconcile',
          );
        }
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => {
        this.child = undefined;
        reject(new Error(`cannot start ${this.options.binary}: ${err.message}`));
      });
    });
    this.options.logger.info(
      { action: 'dhcp-start', pid: child.pid, conf: this.confFile },
      'dnsmasq started',
    );
  }

  /** Stops dnsmasq by its PID: SIGTERM, SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill('SIGTERM');
    await this.exited;
    clearTimeout(timer);
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
