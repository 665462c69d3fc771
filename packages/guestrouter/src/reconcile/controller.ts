import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from 'opskit/atomic-write';
import { ApplyIncompleteError, DeletionBudgetError } from '../errors.js';
import type { KeepalivedService } from '../ha/keepalived.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { HaproxyService } from '../lb/haproxy.js';
import type { MetadataService } from '../metadata/service.js';
import type { DnsmasqService } from '../services/dnsmasq.js';
import { type ServingNetwork, servingNetworks } from '../services/serving.js';
import type { CycleObservation } from '../status/board.js';
import type { ControllerMetrics } from './metrics.js';
import { applyPlan, computePlan, isEmptyPlan, type PlanSettings } from './reconcile.js';

/** Failed plan lines logged one by one; the rest are counted in one summary line. */
const LOGGED_LINE_FAILURES = 20;

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
  /** Load balancing (the CloudStack LB rules) through one haproxy; synced after every successful plan. */
  readonly lb?: HaproxyService;
  /** VRRP with the other router (config ha.enabled): keepalived synced after every successful plan. */
  readonly ha?: KeepalivedService;
}

export interface CycleOutcome {
  readonly ok: boolean;
  readonly changes: number;
  /** Networks served with their planned state after the cycle (lines that failed excluded). */
  readonly served: number;
  /** Refused networks whose link is kept as it was, still routing and served DHCP/DNS. */
  readonly kept?: number;
  /** The inventory was fetched and the kernel read: served/refused are current. */
  readonly fetched?: boolean;
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
  /** Cycles run one after another: the timer's and the events' (cycleNow). */
  private serial: Promise<unknown> = Promise.resolve();
  private queued: Promise<CycleOutcome> | undefined;
  /** What the last cycle that read the inventory and the kernel saw (state.json of failed fetches). */
  private lastFetched: { at: string; served: number; kept: number; refused: number } | undefined;
  cycles = 0;
  /** Called after every cycle with what it saw (the status page); must not throw. */
  onCycle: ((c: CycleObservation) => void) | undefined;

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
    const oldLb = this.settings.lb;
    const oldHa = this.settings.ha;
    this.settings = settings;
    if (oldHa !== undefined && oldHa !== settings.ha) {
      oldHa
        .stop()
        .catch((error: Error) =>
          this.logger.error({ event: 'ha', err: error.message }, 'stopping keepalived failed'),
        );
    }
    if (oldMetadata !== undefined && oldMetadata !== settings.metadata) {
      oldMetadata
        .stop()
        .catch((error: Error) =>
          this.logger.error(
            { event: 'metadata', err: error.message },
            'stopping the meta data servers failed',
          ),
        );
    }
    if (oldLb !== undefined && oldLb !== settings.lb) {
      oldLb
        .stop()
        .catch((error: Error) =>
          this.logger.error({ event: 'lb', err: error.message }, 'stopping haproxy failed'),
        );
    }
    if (old !== undefined && old !== settings.dhcp) {
      old
        .stop()
        .catch((error: Error) =>
          this.logger.error({ event: 'dhcp', err: error.message }, 'stopping dnsmasq failed'),
        );
    }
    this.logger.info({ event: 'reload' }, 'configuration reloaded');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) await this.running;
    await this.serial;
    await this.settings.dhcp?.stop();
    await this.settings.metadata?.stop();
    await this.settings.lb?.stop();
    // Last: keepalived removes the gateway addresses as it stops, and the other router takes them.
    await this.settings.ha?.stop();
  }

  /**
   * A cycle that starts after every event recorded so far (the Network Extension's events): it runs
   * after the current one, never beside it; callers arriving before it starts share it.
   */
  cycleNow(): Promise<CycleOutcome> {
    if (this.queued) return this.queued;
    const queued = this.serialCycle(() => {
      this.queued = undefined;
    });
    this.queued = queued;
    return queued;
  }

  private serialCycle(onStart?: () => void): Promise<CycleOutcome> {
    const next = this.serial.then(() => {
      onStart?.();
      return this.cycle();
    });
    this.serial = next.catch(() => undefined);
    return next;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.serialCycle();
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
    // A cycle that read the kernel knows what serves, even when it failed (a link, a daemon); one that
    // could not fetch the inventory knows nothing new and leaves the gauges as they were.
    if (outcome.fetched) {
      this.metrics?.served.set(outcome.served);
      this.metrics?.refused.set(outcome.refused);
    }
    if (outcome.ok) this.metrics?.lastSuccess.set(Date.now() / 1000);
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
        { event: 'fetch-inventory', err: message, kept: true },
        'inventory fetch failed; the router keeps its current state',
      );
      const failed: CycleOutcome = { ok: false, changes: 0, served: 0, refused: 0, error: message };
      // state.json says this cycle failed and why; what serves is what the last cycle that read it saw.
      await this.writeState(failed, undefined);
      this.notify(failed, started, undefined);
      return failed;
    }
    try {
      const { plan, desired, current, lb } = await computePlan(inventory, s.kernel, s);
      const refusedRules = plan.refusedRules ?? [];
      const refusals = [...plan.refused, ...refusedRules].map((r) => r.message).join('\n');
      if (refusals !== this.lastRefusals) {
        for (const r of plan.refused) {
          this.logger.warn({ event: 'refuse', networkId: r.networkId, code: r.code }, r.message);
        }
        for (const r of refusedRules) {
          this.logger.warn(
            { event: 'refuse-rule', networkId: r.networkId, kind: r.kind, ruleId: r.ruleId },
            r.message,
          );
        }
        this.lastRefusals = refusals;
      }
      const budgetErrors: string[] = [];
      if (plan.deletionsWithheld) {
        const budget = new DeletionBudgetError(plan.deletionsWithheld.links, plan.deletionsWithheld.limit);
        budgetErrors.push(budget.message);
        this.metrics?.deletionsWithheld.inc();
        this.logger.error(
          { event: 'deletion-budget', links: budget.links.length, limit: budget.limit },
          budget.message,
        );
      }
      let failedLinks = new Set<string | undefined>();
      if (!isEmptyPlan(plan)) {
        try {
          await applyPlan(
            plan,
            s.kernel,
            s.netns,
            (failures) => {
              for (const f of failures) {
                this.logger.warn(
                  { event: 'announce', link: f.link, address: f.address, err: f.err },
                  'gratuitous ARP failed',
                );
              }
            },
            s.nft,
          );
        } catch (error) {
          if (!(error instanceof ApplyIncompleteError)) throw error;
          // One line each for the first failures, then one summary: thousands of failed lines (a
          // kernel without 802.1Q and 2,000 VLANs) must not become thousands of log lines.
          for (const f of error.failures.slice(0, LOGGED_LINE_FAILURES)) {
            this.logger.error(
              { event: 'apply-line', link: f.link, line: f.line, err: f.error },
              'plan line failed',
            );
          }
          if (error.failures.length > LOGGED_LINE_FAILURES) {
            this.logger.error(
              { event: 'apply-lines', failed: error.failures.length, byError: error.summary.byError },
              `${error.failures.length - LOGGED_LINE_FAILURES} more plan lines failed`,
            );
          }
          failedLinks = new Set(error.failures.map((f) => f.link));
        }
        for (const change of plan.changes) {
          if (failedLinks.has(change.link)) continue;
          // The change's kind (create-link, add-address, ...) is what happened: the log's `event`.
          const { action: kind, ...fields } = change;
          this.logger.info({ event: kind, ...fields }, 'router changed');
          this.metrics?.changes.inc({ action: change.action });
        }
      }
      const serving = servingNetworks(inventory, desired, current, plan, failedLinks);
      const serviceErrors: string[] = [];
      if (s.ha !== undefined) {
        // Only links that serve this cycle get a VRRP instance: keepalived must never add a gateway
        // address to a link that failed to apply or that someone else owns.
        const servingLinks = new Set(serving.filter((n) => !n.kept).map((n) => n.link));
        try {
          const r = await s.ha.sync(desired.links.filter((l) => servingLinks.has(l.name)));
          if (r.action !== 'unchanged' && r.action !== 'idle') {
            this.logger.info(
              { event: 'ha', keepalived: r.action, instances: r.instances, pid: s.ha.pid },
              `vrrp ${r.action}`,
            );
          }
          if (r.exited) {
            serviceErrors.push(
              `keepalived had exited (${r.exited.signal ? `signal ${r.exited.signal}` : `code ${r.exited.code}`}) and was started again`,
            );
          }
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ event: 'ha', err: (error as Error).message }, 'vrrp not updated');
        }
      }
      if (s.dhcp !== undefined) {
        try {
          const r = await s.dhcp.sync(serving, inventory);
          if (r.action !== 'unchanged' && r.action !== 'idle') {
            this.logger.info(
              {
                event: 'dhcp',
                dnsmasq: r.action,
                networks: r.networks,
                leases: r.leases,
                pids: s.dhcp.pids,
              },
              `dhcp ${r.action}`,
            );
          }
          if (r.exited) {
            // DHCP was down for part of the interval: this cycle is not ok, even though it is up again.
            serviceErrors.push(
              `${r.exitedService ?? 'dnsmasq'} had exited (${r.exited.signal ? `signal ${r.exited.signal}` : `code ${r.exited.code}`}) and was started again`,
            );
          }
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ event: 'dhcp', err: (error as Error).message }, 'dhcp not served');
        }
      }
      if (s.metadata !== undefined) {
        try {
          const r = await s.metadata.sync(desired, inventory);
          if (r.opened > 0 || r.closed > 0 || r.userData.fetched > 0 || r.userData.removed > 0) {
            this.logger.info(
              {
                event: 'metadata',
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
            this.logger.error({ event: 'metadata-bind', err: e }, 'cannot listen; retried next cycle');
          }
          if (r.bindErrors.length > 0)
            serviceErrors.push(`meta data: ${r.bindErrors.length} listener(s) not bound`);
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ event: 'metadata', err: (error as Error).message }, 'meta data not served');
        }
      }
      if (s.lb !== undefined && lb !== undefined) {
        try {
          const r = await s.lb.sync(lb);
          if (r.action !== 'unchanged' && r.action !== 'idle') {
            this.logger.info(
              {
                event: 'lb',
                haproxy: r.action,
                frontends: r.frontends,
                backends: r.backends,
                pid: s.lb.pid,
              },
              `load balancer ${r.action}`,
            );
          }
          if (r.exited) {
            serviceErrors.push(
              `haproxy had exited (${r.exited.signal ? `signal ${r.exited.signal}` : `code ${r.exited.code}`}) and was started again`,
            );
          }
        } catch (error) {
          serviceErrors.push((error as Error).message);
          this.logger.error({ event: 'lb', err: (error as Error).message }, 'load balancing not updated');
        }
      }
      const errors = [
        ...(failedLinks.size > 0 ? [`${failedLinks.size} link(s) failed to apply`] : []),
        ...budgetErrors,
        ...serviceErrors,
      ];
      const outcome: CycleOutcome = {
        ok: errors.length === 0,
        changes: plan.changes.length,
        // Networks whose gateway is in place after this cycle: planned ones whose lines all ran, and
        // refused ones kept as they were.
        served: serving.filter((n) => !n.kept).length,
        kept: serving.filter((n) => n.kept).length,
        refused: plan.refused.length,
        fetched: true,
        ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
      };
      // The state file is written before the cycle is reported done, so whoever reads the log line finds it.
      await this.writeState(outcome, inventory.fetchedAt);
      this.notify(outcome, started, { inventory, desired, current, plan, serving });
      const line = { event: 'cycle', ...outcome, ms: Date.now() - started };
      if (outcome.ok) this.logger.info(line, 'reconcile done');
      else this.logger.error(line, `reconcile failed: ${outcome.error}`);
      return outcome;
    } catch (error) {
      const message = (error as Error).message;
      this.logger.error({ event: 'apply', err: message }, 'reconcile failed; will retry next cycle');
      const failed: CycleOutcome = { ok: false, changes: 0, served: 0, refused: 0, error: message };
      this.notify(failed, started, undefined);
      return failed;
    }
  }

  private notify(
    outcome: CycleOutcome,
    started: number,
    seen: (CycleObservation['seen'] & { serving: ServingNetwork[] }) | undefined,
  ): void {
    if (this.onCycle === undefined) return;
    try {
      this.onCycle({
        at: new Date().toISOString(),
        ms: Date.now() - started,
        ok: outcome.ok,
        changes: outcome.changes,
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        ...(seen === undefined ? {} : { seen }),
        processes: this.settings.dhcp?.health() ?? {},
        networkServices: this.settings.metadata === undefined ? [] : ['meta data'],
      });
    } catch (error) {
      this.logger.warn({ event: 'status', err: (error as Error).message }, 'the status board failed');
    }
  }

  /** Last successful cycle, for operators (`cat state.json`); best effort. */
  private async writeState(outcome: CycleOutcome, fetchedAt: number | undefined): Promise<void> {
    const dir = this.settings.stateDir;
    if (!dir) return;
    const at = new Date().toISOString();
    let record: object;
    if (fetchedAt === undefined) {
      const { ok, error } = outcome;
      record = {
        at,
        ok,
        error,
        fetched: false,
        ...(this.lastFetched ? { lastFetched: this.lastFetched } : {}),
      };
    } else {
      record = { at, fetchedAt, ...outcome };
      this.lastFetched = { at, served: outcome.served, kept: outcome.kept ?? 0, refused: outcome.refused };
    }
    try {
      await mkdir(dir, { recursive: true });
      const file = join(dir, 'state.json');
      const services = {
        ...(this.settings.dhcp ? this.settings.dhcp.health() : {}),
        ...(this.settings.lb ? { haproxy: this.settings.lb.health() } : {}),
        ...(this.settings.ha ? { keepalived: this.settings.ha.health() } : {}),
      };
      writeFileAtomic(file, `${JSON.stringify({ ...record, services }, null, 2)}\n`);
    } catch (error) {
      this.logger.warn(
        { event: 'write-state', dir, err: (error as Error).message },
        'cannot write the state file',
      );
    }
  }
}
