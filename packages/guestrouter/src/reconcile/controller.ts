import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplyIncompleteError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { MetadataService } from '../metadata/service.js';
import type { DnsmasqService } from '../services/dnsmasq.js';
import type { ControllerMetrics } from './metrics.js';
import { applyPlan, computePlan, isEmptyPlan, type PlanSettings } from './reconcile.js';

export interface ControllerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What one cycle needs; re-read on reload (SIGHUP). */
export interface ControllerSettings extends PlanSettings {
  readonly fetchInventory: () => Promise<Inventory>;
  readonly kernel: KernelAdapter;
  readonly intervalMs: number;
  readonly jitterMs: number;
  readonly stateDir?: string;
  readonly netns?: string;
  /** DHCP for the served networks (config dhcp.enabled); synced after every successful plan. */
  readonly dhcp?: DnsmasqService;
  /** Meta data and password servers (config metadata.enabled); synced after DHCP. */
  readonly metadata?: MetadataService;
}

export interface CycleOutcome {
  readonly ok: boolean;
  readonly changes: number;
  readonly served: number;
  readonly refused: number;
  readonly error?: string;
}

/**
 * Reconciles on an interval with jitter. A failed cycle (API down, ip error)
 * is logged and changes nothing else: the last applied state stays, because
 * a missing inventory must never look like "every network was removed".
 */
export class Controller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CycleOutcome> | undefined;
  private stopped = false;
  private lastRefusals = '';
  cycles = 0;

  constructor(
    private settings: ControllerSettings,
    private readonly logger: ControllerLogger,
    private readonly random: () => number = Math.random,
    private readonly metrics?: ControllerMetrics,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Replaces the settings; the next cycle uses them. */
  reload(settings: ControllerSettings): void {
    const old = this.settings.dhcp;
    const oldMetadata = this.settings.metadata;
    this.settings = settings;
    if (oldMetadata !== undefined && oldMetadata !== settings.metadata) {
      oldMetadata
        .stop()
        .catch((error: Error) =>
          this.logger.error(
            { action: 'metadata', err: error.message },
            'stopping the meta data servers failed',
          ),
        );
    }
    if (old !== undefined && old !== settings.dhcp) {
      old
        .stop()
        .catch((error: Error) =>
          this.logger.error({ action: 'dhcp', err: error.message }, 'stopping dnsmasq failed'),
        );
    }
    this.logger.info({ action: 'reload' }, 'configuration reloaded');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) await this.running;
    await this.settings.dhcp?.stop();
    await this.settings.metadata?.stop();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.cycle();
      void this.running.then(() => {
        this.running = undefined;
        const { intervalMs, jitterMs } = this.settings;
        this.schedule(intervalMs + Math.floor(this.random() * jitterMs));
      });
    }, delayMs);
  }

  /** One reconcile: fetch, plan, apply, log each change. Never throws. */
  async cycle(): Promise<CycleOutcome> {
    const stopTimer = this.metrics?.duration.startTimer();
    const outcome = await this.reconcile();
    stopTimer?.();
    this.metrics?.cycles.inc({ result: outcome.ok ? 'ok' : 'failed' });
    if (outcome.ok) {
      this.metrics?.served.set(outcome.served);
      this.metrics?.refused.set(outcome.refused);
      this.metrics?.lastSuccess.set(Date.now() / 1000);
    }
    return outcome;
  }

  private async reconcile(): Promise<CycleOutcome> {
    const started = Date.now();
    this.cycles++;
    const s = this.settings;
    let inventory: Inventory;
    try {
      inventory = await s.fetchInventory();
    } catch (error) {
      const message = (error as Error).message;
      this.logger.error(
        { action: 'fetch-inventory', err: message, kept: true },
        'inventory fetch failed; the router keeps its current state',
      );
      return { ok: false, changes: 0, served: 0, refused: 0, error: message };
    }
    try {
      const { plan, desired } = await computePlan(inventory, s.kernel, s);
      const refusals = plan.refused.map((r) => r.message).join('\n');
      if (refusals !== this.lastRefusals) {
        for (const r of plan.refused) {
          this.logger.warn({ action: 'refuse', networkId: r.networkId, code: r.code }, r.message);
        }
        this.lastRefusals = refusals;
      }
      let failedLinks = new Set<string | undefined>();
      if (!isEmptyPlan(plan)) {
        try {
          await applyPlan(plan, s.kernel, s.netns);
        } catch (error) {
          if (!(error instanceof ApplyIncompleteError)) throw error;
          for (const f of error.failures) {
            this.logger.error(
              { action: 'apply-line', link: f.link, line: f.line, err: f.error },
              'plan line failed',
            );
          }
          failedLinks = new Set(error.failures.map((f) => f.link));
        }
        for (const change of plan.changes) {
          if (failedLinks.has(change.link)) continue;
          this.logger.info({ ...change }, 'router changed');
          this.metrics?.changes.inc({ action: change.action });
        }
      }
      const serviceErrors: string[] = [];
      if (s.dhcp !== undefined) {
        try {
          const r = await s.dhcp.sync(desired, inventory);
          if (r.action !== 'unchanged' && r.action !== 'idle') {
            this.logger.info(
              { action: 'dhcp', dnsmasq: r.action, networks: r.networks, leases: r.leases, pid: s.dhcp.pid },
              `dhcp ${r.action}`,
            );
          }
          if (r.exited) {
            // DHCP was down for part of the interval: this cycle is not ok, even though it is up again.
            serviceErrors.push(
              `dnsmasq had exited (${r.exited.signal ? `signal ${r.exited.signal}` : `code ${r.exited.code}`}) and was started again`,
            );
          }
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ action: 'dhcp', err: (error as Error).message }, 'dhcp not served');
        }
      }
      if (s.metadata !== undefined) {
        try {
          const r = await s.metadata.sync(desired, inventory);
          if (r.opened > 0 || r.closed > 0 || r.userData.fetched > 0 || r.userData.removed > 0) {
            this.logger.info(
              {
                action: 'metadata',
                vms: r.vms,
                gateways: r.gateways,
                opened: r.opened,
                closed: r.closed,
                userDataFetched: r.userData.fetched,
                userDataFailed: r.userData.failed,
                userDataRemoved: r.userData.removed,
                pendingPasswords: r.pendingPasswords,
              },
              'meta data updated',
            );
          }
          for (const e of r.bindErrors) {
            this.logger.error({ action: 'metadata-bind', err: e }, 'cannot listen; retried next cycle');
          }
          if (r.bindErrors.length > 0)
            serviceErrors.push(`meta data: ${r.bindErrors.length} listener(s) not bound`);
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ action: 'metadata', err: (error as Error).message }, 'meta data not served');
        }
      }
      const errors = [
        ...(failedLinks.size > 0 ? [`${failedLinks.size} link(s) failed to apply`] : []),
        ...serviceErrors,
      ];
      const outcome: CycleOutcome = {
        ok: errors.length === 0,
        changes: plan.changes.length,
        served: plan.served,
        refused: plan.refused.length,
        ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
      };
      // The state file is written before the cycle is reported done, so whoever reads the log line finds it.
      await this.writeState(outcome, inventory.fetchedAt);
      const line = { action: 'cycle', ...outcome, ms: Date.now() - started };
      if (outcome.ok) this.logger.info(line, 'reconcile done');
      else this.logger.error(line, `reconcile failed: ${outcome.error}`);
      return outcome;
    } catch (error) {
      const message = (error as Error).message;
      this.logger.error({ action: 'apply', err: message }, 'reconcile failed; will retry next cycle');
      return { ok: false, changes: 0, served: 0, refused: 0, error: message };
    }
  }

  /** Last successful cycle, for operators (`cat state.json`); best effort. */
  private async writeState(outcome: CycleOutcome, fetchedAt: number): Promise<void> {
    const dir = this.settings.stateDir;
    if (!dir) return;
    try {
      await mkdir(dir, { recursive: true });
      const file = join(dir, 'state.json');
      const tmp = `${file}.tmp`;
      const services = this.settings.dhcp ? { dnsmasq: this.settings.dhcp.health() } : {};
      await writeFile(
        tmp,
        `${JSON.stringify({ at: new Date().toISOString(), fetchedAt, ...outcome, services }, null, 2)}\n`,
      );
      await rename(tmp, file);
    } catch (error) {
      this.logger.warn(
        { action: 'write-state', dir, err: (error as Error).message },
        'cannot write the state file',
      );
    }
  }
}
