import type { GuestrouterConfig } from '../config/schema.js';
import { desiredState } from '../desired/desired.js';
import { type DesiredState, networkIdFromMark } from '../desired/types.js';
import { ApplyIncompleteError, InterfaceMissingError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { CurrentState } from '../kernel/types.js';
import { defaultMaxDeletes, diff } from '../plan/diff.js';
import type { Plan } from '../plan/types.js';

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
export async function applyPlan(plan: Plan, kernel: KernelAdapter, netns?: string): Promise<void> {
  const missing = plan.missingInterfaces[0];
  if (missing) throw new InterfaceMissingError(missing.role, missing.name, netns);
  await kernel.writeSysctls(plan.sysctlsBefore);
  const failed = await kernel.runBatch(plan.ipCommands);
  const failedLinks = new Set(failed.map((f) => plan.ipCommandLinks[f.index]));
  await kernel.writeSysctls(plan.sysctls.filter((s) => s.link === undefined || !failedLinks.has(s.link)));
  if (failed.length > 0) {
    throw new ApplyIncompleteError(
      failed.map((f) => {
        const link = plan.ipCommandLinks[f.index];
        return { line: f.line, error: f.error, ...(link ? { link } : {}) };
      }),
    );
  }
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.ipCommands.length === 0 && plan.sysctls.length === 0 && plan.sysctlsBefore.length === 0;
}
