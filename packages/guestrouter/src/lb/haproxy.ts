/**
 * One haproxy for every load balancer rule, owned by `run` (see
 * services/owned-process.ts: pid file, a stale instance found by its command
 * line and stopped by PID before a start). haproxy runs in master-worker mode
 * in the foreground; a changed configuration is checked with `haproxy -c`,
 * written atomically and loaded with SIGUSR2 to the master, which starts new
 * workers and lets the old ones finish their established connections (the
 * listening sockets are handed over through the stats socket, `expose-fd
 * listeners`, so no connection attempt is refused during the reload).
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from '../kernel/exec.js';
import { OwnedDaemon, type OwnedDaemonOptions, type ProcessExit } from '../services/owned-process.js';
import { makePrivateDir } from '../services/private-dir.js';
import type { DesiredLb } from './desired.js';
import { renderHaproxyConfig } from './haproxy-config.js';

/** `dir` is STATEDIR/haproxy: haproxy.cfg, the pid file and the stats socket. */
export interface HaproxyOptions extends OwnedDaemonOptions {
  readonly checkIntervalMs?: number;
}

export interface LbSyncResult {
  readonly frontends: number;
  readonly backends: number;
  readonly action: 'started' | 'reloaded' | 'recovered' | 'unchanged' | 'stopped' | 'idle';
  readonly exited?: ProcessExit;
}

export class HaproxyConfigError extends Error {
  readonly code = 'HAPROXY_CONFIG_INVALID';
}

export class HaproxyService extends OwnedDaemon {
  readonly confFile: string;
  readonly statsSocket: string;

  constructor(private readonly options: HaproxyOptions) {
    const confFile = join(options.dir, 'haproxy.cfg');
    super(options, {
      name: 'haproxy',
      args: ['-W', '-db', '-f', confFile],
      pidFile: join(options.dir, 'haproxy.pid'),
      // The config path is under guestrouter's state dir: no other haproxy has it.
      identity: ['-f', confFile],
    });
    this.confFile = confFile;
    this.statsSocket = join(options.dir, 'stats.sock');
  }

  /** Brings haproxy in line with the rules. Throws HaproxyConfigError (old config kept) or ServiceStartError. */
  async sync(lb: DesiredLb): Promise<LbSyncResult> {
    const counts = {
      frontends: lb.frontends.length,
      backends: lb.frontends.reduce((n, f) => n + f.backends.length, 0),
    };
    if (lb.frontends.length === 0) {
      const wasRunning = this.process.running;
      await this.process.stop();
      return { ...counts, action: wasRunning ? 'stopped' : 'idle' };
    }
    await makePrivateDir(this.options.dir);
    const config = renderHaproxyConfig(lb, {
      statsSocket: this.statsSocket,
      ...(this.options.checkIntervalMs ? { checkIntervalMs: this.options.checkIntervalMs } : {}),
    });
    const changed = await this.writeChecked(config);
    const ensured = await this.process.ensureRunning();
    if (ensured.action === 'restarted') return { ...counts, action: 'recovered', exited: ensured.exit };
    if (ensured.action === 'started') return { ...counts, action: 'started' };
    if (changed) {
      this.process.signal('SIGUSR2');
      return { ...counts, action: 'reloaded' };
    }
    return { ...counts, action: 'unchanged' };
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }

  /** Checks the new configuration with `haproxy -c` before it replaces the old one; false when unchanged. */
  private async writeChecked(config: string): Promise<boolean> {
    const old = await readFile(this.confFile, 'utf8').catch(() => undefined);
    if (old === config) return false;
    const tmp = `${this.confFile}.new`;
    await writeFile(tmp, config, { mode: 0o600 });
    const result = await execFile(this.options.binary, ['-c', '-q', '-f', tmp]);
    if (result.code !== 0) {
      await rm(tmp, { force: true });
      throw new HaproxyConfigError(
        `haproxy rejected the new load balancer configuration; the previous one stays: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 4).join(' | ')}`,
      );
    }
    await rename(tmp, this.confFile);
    return true;
  }
}
