/**
 * keepalived owned by `run` (services/owned-process.ts: pid file, a stale instance found by its
 * command line and stopped by PID). The configuration is rendered from the served links, written
 * atomically, and loaded with SIGHUP when it changed (keepalived keeps the roles of instances that
 * stay). keepalived runs in the foreground (`-n`) with its own pid files under STATEDIR/ha, so
 * several routers in namespaces of one host never share /run/keepalived.pid.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DesiredLink } from '../desired/types.js';
import { execFile, inNetns } from '../kernel/exec.js';
import { OwnedDaemon, type OwnedDaemonOptions, type ProcessExit } from '../services/owned-process.js';
import { makePrivateDir } from '../services/private-dir.js';
import {
  type HaSettings,
  parseStateFile,
  parseTransitions,
  renderKeepalivedConfig,
  renderNotifyScript,
  type UplinkAddresses,
  type VrrpInstance,
  type VrrpRole,
  vrrpInstances,
} from './vrrp.js';

/** `dir` is STATEDIR/ha: keepalived.conf, pid files, the notify script and the state files. */
export interface KeepalivedOptions extends OwnedDaemonOptions {
  readonly settings: HaSettings;
  readonly vrrpMetrics?: VrrpMetrics;
  /** Run on every transition besides the notify script (ha/conntrackd.ts: commit the synced connections). */
  readonly transitionHook?: string;
}

export interface HaSyncResult {
  readonly instances: number;
  readonly action: 'started' | 'reloaded' | 'recovered' | 'unchanged' | 'stopped' | 'idle';
  readonly exited?: ProcessExit;
}

export interface InstanceRole {
  readonly instance: string;
  readonly role: VrrpRole;
  readonly since?: number;
}

/** VRRP role per instance and transitions, from keepalived's notify calls. */
export class VrrpMetrics {
  readonly master: Gauge<'instance'>;
  readonly transitions: Counter<'instance' | 'state'>;
  constructor(registry: Registry) {
    this.master = new Gauge({
      name: 'guestrouter_vrrp_master',
      help: 'Whether this router is the VRRP master of an instance (1) or not (0: backup, fault, unknown)',
      labelNames: ['instance'] as const,
      registers: [registry],
    });
    this.transitions = new Counter({
      name: 'guestrouter_vrrp_transitions_total',
      help: 'VRRP state changes keepalived reported, by instance and new state',
      labelNames: ['instance', 'state'] as const,
      registers: [registry],
    });
  }
}

/** Where a router's VRRP state files are (read by `status` as well as `run`). */
export function haStateDir(stateDir: string): string {
  return join(stateDir, 'ha', 'state');
}

/** The role of every instance keepalived has reported on (state files written by the notify script). */
export async function readRoles(stateDir: string): Promise<Map<string, InstanceRole>> {
  const dir = haStateDir(stateDir);
  const roles = new Map<string, InstanceRole>();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!/^gr_\d+$/.test(name)) continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    roles.set(name, { instance: name, ...parseStateFile(text) });
  }
  return roles;
}

export class KeepalivedService extends OwnedDaemon {
  readonly confFile: string;
  private readonly stateDir: string;
  private readonly notifyScript: string;
  /** Bytes of the transitions log already counted in the metrics. */
  private transitionsRead = 0;
  private instances: VrrpInstance[] = [];

  constructor(private readonly options: KeepalivedOptions) {
    const confFile = join(options.dir, 'keepalived.conf');
    super(options, {
      name: 'keepalived',
      args: [
        '--dont-fork',
        '--log-console',
        '--vrrp',
        '--use-file',
        confFile,
        '--pid',
        join(options.dir, 'keepalived.pid'),
        '--vrrp_pid',
        join(options.dir, 'vrrp.pid'),
      ],
      pidFile: join(options.dir, 'owner.pid'),
      // The config path is under guestrouter's state dir: no other keepalived has it.
      identity: ['--use-file', confFile],
    });
    this.confFile = confFile;
    this.stateDir = join(options.dir, 'state');
    this.notifyScript = join(options.dir, 'notify.sh');
  }

  /** Instances of the last sync, with the networks each carries. */
  get currentInstances(): readonly VrrpInstance[] {
    return this.instances;
  }

  /**
   * Brings keepalived in line with the served links. Throws KeepalivedConfigError (old config kept)
   * or ServiceStartError.
   */
  async sync(links: readonly DesiredLink[], uplink?: UplinkAddresses): Promise<HaSyncResult> {
    const instances = vrrpInstances(links, uplink, this.options.settings.instanceGroups);
    if (instances.length === 0) {
      const wasRunning = this.process.running;
      await this.process.stop();
      this.instances = [];
      return { instances: 0, action: wasRunning ? 'stopped' : 'idle' };
    }
    await makePrivateDir(this.options.dir);
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeIfChanged(this.notifyScript, renderNotifyScript(this.stateDir), 0o700);
    const config = renderKeepalivedConfig(instances, this.options.settings, {
      notifyScript: this.notifyScript,
      ...(this.options.transitionHook ? { transitionHook: this.options.transitionHook } : {}),
    });
    const changed = await this.writeChecked(config);
    this.instances = instances;
    const ensured = await this.process.ensureRunning();
    await this.updateMetrics();
    if (ensured.action === 'restarted')
      return { instances: instances.length, action: 'recovered', exited: ensured.exit };
    if (ensured.action === 'started') return { instances: instances.length, action: 'started' };
    if (changed) {
      this.process.signal('SIGHUP');
      return { instances: instances.length, action: 'reloaded' };
    }
    return { instances: instances.length, action: 'unchanged' };
  }

  /** Stops keepalived; it removes the gateway addresses it holds, so the peer takes them over. */
  async stop(): Promise<void> {
    await this.process.stop();
  }

  /** Role gauges from the state files, transitions from the lines added to the log since the last call. */
  async updateMetrics(): Promise<void> {
    const m = this.options.vrrpMetrics;
    if (!m) return;
    const roles = await readRoles(join(this.options.dir, '..'));
    for (const instance of this.instances) {
      m.master.set({ instance: instance.name }, roles.get(instance.name)?.role === 'MASTER' ? 1 : 0);
    }
    const log = await readFile(join(this.stateDir, 'transitions'), 'utf8').catch(() => '');
    if (log.length < this.transitionsRead) this.transitionsRead = 0; // truncated by hand
    const fresh = log.slice(this.transitionsRead);
    const complete = fresh.slice(0, fresh.lastIndexOf('\n') + 1);
    this.transitionsRead += complete.length;
    for (const t of parseTransitions(complete)) m.transitions.inc({ instance: t.instance, state: t.role });
  }

  /** Checks the new configuration with `keepalived --config-test` before it replaces the old one. */
  private async writeChecked(config: string): Promise<boolean> {
    const old = await readFile(this.confFile, 'utf8').catch(() => undefined);
    if (old === config) return false;
    const tmp = `${this.confFile}.new`;
    await writeFile(tmp, config, { mode: 0o600 });
    const [command, args] = inNetns(this.options.netns, this.options.binary, [
      '--config-test',
      '--use-file',
      tmp,
    ]);
    const result = await execFile(command, args);
    if (result.code !== 0) {
      throw new KeepalivedConfigError(
        `keepalived rejected the new VRRP configuration; the previous one stays: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 4).join(' | ')}`,
      );
    }
    await rename(tmp, this.confFile);
    return true;
  }
}

export class KeepalivedConfigError extends Error {
  readonly code = 'KEEPALIVED_CONFIG_INVALID';
}

async function writeIfChanged(file: string, content: string, mode: number): Promise<void> {
  const old = await readFile(file, 'utf8').catch(() => undefined);
  if (old === content) return;
  const tmp = `${file}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}
