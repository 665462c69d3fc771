import type { GuestrouterConfig } from '../config/schema.js';
import { desiredState } from '../desired/desired.js';
import { type DesiredState, networkIdFromMark } from '../desired/types.js';
import { ApplyIncompleteError, InterfaceMissingError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { CurrentState } from '../kernel/types.js';
import { defaultMaxDeletes, diff } from '../plan/diff.js';
import type { Announcement, Plan } from '../plan/types.js';

export interface PlanResult {
  readonly desired: DesiredState;
  readonly current: CurrentState;
  readonly plan: Plan;
}

export interface PlanSettings {
  readonly trunk: string;
  readonly uplink: string;
  readonly config: GuestrouterConfig;
  /** The operator's confirmation for this run (`apply --allow-deletes N`): overrides the budget. */
  readonly allowDeletes?: number;
}

/** Inventory + kernel state -> plan. No change is made. */
export async function computePlan(
  inventory: Inventory,
  kernel: KernelAdapter,
  settings: PlanSettings,
): Promise<PlanResult> {
  const desired = desiredState(inventory, {
    trunk: settings.trunk,
    uplink: settings.uplink,
    vxlan: settings.config.vxlan,
    selection: settings.config.networks,
    publicRouting: settings.config.publicRouting.enabled,
    proxyArp: settings.config.publicRouting.proxyArp,
  });
  const current = await kernel.readState(desired.sysctls.map((s) => s.key));
  const marked = [...current.links.values()].filter((l) => networkIdFromMark(l.alias) !== undefined).length;
  const maxDeletes =
    settings.allowDeletes ?? settings.config.safety.maxDeletesPerCycle ?? defaultMaxDeletes(marked);
  return {
    desired,
    current,
    plan: diff(desired, current, { trunk: settings.trunk, uplink: settings.uplink, maxDeletes }),
  };
}

/**
 * Runs a plan: global sysctls, the ip batch, then the per-link sysctls.
 * Refuses before changing anything when the trunk or uplink interface is
 * missing. A failed ip line does not stop the other networks: their lines and
 * sysctls still run, the failed link's sysctls are skipped, and the failures
 * are thrown together afterwards (ApplyIncompleteError).
 */
export async function applyPlan(
  plan: Plan,
  kernel: KernelAdapter,
  netns?: string,
  onAnnounceFailure?: (failures: readonly (Announcement & { err: string })[]) => void,
): Promise<void> {
  const missing = plan.missingInterfaces[0];
  if (missing) throw new InterfaceMissingError(missing.role, missing.name, netns);
  await kernel.writeSysctls(plan.sysctlsBefore);
  const failed = await kernel.runBatch(plan.ipCommands);
  const failedLinks = new Set(failed.map((f) => plan.ipCommandLinks[f.index]));
  await kernel.writeSysctls(plan.sysctls.filter((s) => s.link === undefined || !failedLinks.has(s.link)));
  // A link that comes up announces its addresses itself (arp_notify); a gateway added to a link that
  // was up already is announced here, so VMs do not wait for their ARP entry to go stale.
  const announcements = plan.announce.filter((a) => !failedLinks.has(a.link));
  const announceFailures = await mapBounded(announcements, 16, (a) => kernel.announce(a.link, a.address));
  onAnnounceFailure?.(
    announceFailures.flatMap((err, i) =>
      err === undefined ? [] : [{ ...(announcements[i] as Announcement), err }],
    ),
  );
  if (failed.length > 0) {
    throw new ApplyIncompleteError(
      failed.map((f) => {
        const link = plan.ipCommandLinks[f.index];
        return { line: f.line, error: f.error, ...(link ? { link } : {}) };
      }),
    );
  }
}

async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.ipCommands.length === 0 && plan.sysctls.length === 0 && plan.sysctlsBefore.length === 0;
}
