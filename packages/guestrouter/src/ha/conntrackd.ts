/**
 * Connection state shared by the two routers: conntrackd (FTFW, UDP between the routers) owned by
 * `run` like keepalived (services/owned-process.ts: pid file, a stale instance found by its config
 * path and stopped by PID). Each router sends the connections its kernel tracks to the other, which
 * keeps them in its external cache; keepalived calls the hook script on every VRRP transition, and
 * the router that becomes master commits that cache into its kernel, so an established connection
 * through static NAT or a port forward finds its NAT mapping on the new master.
 *
 * Pure renderers first (config text, hook script), then the service (I/O).
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OwnedDaemon, type OwnedDaemonOptions, type ProcessExit } from '../services/owned-process.js';

export interface ConntrackSyncSettings {
  /** Interface the sync messages use (the trunk or a dedicated link between the routers). */
  readonly interface: string;
  /** This router's address on that interface. */
  readonly localAddress: string;
  /** The other router's address on that interface. */
  readonly peerAddress: string;
  /** UDP port of the sync messages (the same on both routers). */
  readonly port: number;
}

/** conntrackd.conf: FTFW over unicast UDP; the files (lock, control socket) live in `dir`. */
export function renderConntrackdConfig(sync: ConntrackSyncSettings, dir: string): string {
  return [
    '# Written by guestrouter (run); changes here are overwritten.',
    'Sync {',
    '  Mode FTFW {',
    // The external cache holds the other router's connections until a transition commits them.
    '    DisableExternalCache Off',
    '  }',
    '  UDP {',
    `    IPv4_address ${sync.localAddress}`,
    `    IPv4_Destination_Address ${sync.peerAddress}`,
    `    Port ${sync.port}`,
    `    Interface ${sync.interface}`,
    '    Checksum on',
    '  }',
    '}',
    'General {',
    '  HashSize 32768',
    '  HashLimit 262144',
    '  LogFile off',
    '  Syslog off',
    `  LockFile ${join(dir, 'conntrackd.lock')}`,
    `  UNIX { Path ${join(dir, 'conntrackd.ctl')} }`,
    '  NetlinkBufferSize 2097152',
    '  NetlinkBufferSizeMaxGrowth 8388608',
    '  Filter From Userspace {',
    // TCP carries the state that matters (window tracking, NAT of long connections); UDP flows are
    // re-created by their next packet with the same NAT rules.
    '    Protocol Accept { TCP }',
    // Connections to the routers themselves (sync, VRRP, API, meta data) stay local.
    '    Address Ignore {',
    '      IPv4_address 127.0.0.1',
    `      IPv4_address ${sync.localAddress}`,
    `      IPv4_address ${sync.peerAddress}`,
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The script keepalived runs on a transition (`notify_master "<hook> primary"`, `backup`, `fault`).
 * As the conntrackd primary-backup recipe: the new master commits the other router's connections
 * (external cache) to its kernel, flushes the caches, reloads its own from the kernel and sends them
 * in bulk; a new backup asks the master for a full resync. With one VRRP instance per network many
 * instances move at once: one commit covers every network, so a master transition that finds a
 * commit running leaves it to that one (flock -n), and the calls never overlap.
 */
export function renderConntrackHook(binary: string, confFile: string, lockFile: string): string {
  const ctl = `${shellQuote(binary)} -C ${shellQuote(confFile)}`;
  return [
    '#!/bin/sh',
    '# Written by guestrouter: keepalived calls it as: HOOK primary|backup|fault',
    `lock=${shellQuote(lockFile)}`,
    'exec 9>>"$lock"',
    'case "$1" in',
    '  primary)',
    '    flock -n 9 || exit 0',
    `    ${ctl} -c; ${ctl} -f; ${ctl} -R; ${ctl} -B`,
    '    ;;',
    '  backup)',
    '    flock -w 10 9 || exit 0',
    `    ${ctl} -n`,
    '    ;;',
    '  *) ;;',
    'esac',
    'exit 0',
    '',
  ].join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** `dir` is STATEDIR/ha/conntrackd: conntrackd.conf, the lock file, the control socket, the hook. */
export interface ConntrackdOptions extends OwnedDaemonOptions {
  readonly sync: ConntrackSyncSettings;
}

export interface ConntrackdSyncResult {
  readonly action: 'started' | 'restarted' | 'recovered' | 'unchanged';
  readonly exited?: ProcessExit;
}

export class ConntrackdService extends OwnedDaemon {
  readonly confFile: string;
  /** The script keepalived's notify_master/backup/fault lines call. */
  readonly hookScript: string;
  private readonly lockFile: string;

  constructor(private readonly options: ConntrackdOptions) {
    const confFile = join(options.dir, 'conntrackd.conf');
    super(options, {
      name: 'conntrackd',
      args: ['-C', confFile],
      pidFile: join(options.dir, 'owner.pid'),
      // The config path is under guestrouter's state dir: no other conntrackd has it.
      identity: ['-C', confFile],
    });
    this.confFile = confFile;
    this.hookScript = join(options.dir, 'transition.sh');
    this.lockFile = join(options.dir, 'conntrackd.lock');
  }

  /**
   * Writes the config and the hook, and keeps conntrackd running. conntrackd has no reload: a
   * changed config restarts it (its caches are refilled from the kernel and the peer's resync).
   * Throws ServiceStartError when it does not start.
   */
  async sync(): Promise<ConntrackdSyncResult> {
    const { dir, binary, sync } = this.options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await writeIfChanged(this.hookScript, renderConntrackHook(binary, this.confFile, this.hookLock()), 0o700);
    const changed = await writeIfChanged(this.confFile, renderConntrackdConfig(sync, dir), 0o600);
    if (changed && this.process.running) {
      await this.process.stop();
      await this.clearLock();
      await this.process.start();
      return { action: 'restarted' };
    }
    if (!this.process.running) {
      // A conntrackd killed with its owner leaves its lock file, and a new one refuses to start
      // while it exists: stop the stale process first, then the lock is ours to remove.
      await this.process.reapStale();
      await this.clearLock();
    }
    const ensured = await this.process.ensureRunning();
    if (ensured.action === 'restarted') return { action: 'recovered', exited: ensured.exit };
    return { action: ensured.action === 'started' ? 'started' : 'unchanged' };
  }

  async stop(): Promise<void> {
    await this.process.stop();
    await this.clearLock();
  }

  /** The hook's own lock (serialises the transitions), apart from conntrackd's lock file. */
  private hookLock(): string {
    return join(this.options.dir, 'transition.lock');
  }

  private async clearLock(): Promise<void> {
    await rm(this.lockFile, { force: true });
  }
}

/** Atomic write when the content differs; true when it did. */
async function writeIfChanged(file: string, content: string, mode: number): Promise<boolean> {
  const old = await readFile(file, 'utf8').catch(() => undefined);
  if (old === content) return false;
  const tmp = `${file}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
  return true;
}
