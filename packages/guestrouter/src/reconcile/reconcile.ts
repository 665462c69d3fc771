import type { GuestrouterConfig } from '../config/schema.js';
import { desiredState } from '../desired/desired.js';
import type { DesiredState } from '../desired/types.js';
import { InterfaceMissingError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { CurrentState } from '../kernel/types.js';
import { diff } from '../plan/diff.js';
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
  });
  const current = await kernel.readState(desired.sysctls.map((s) => s.key));
  return { desired, current, plan: diff(desired, current, settings) };
}

/**
 * Runs a plan: global sysctls, the ip batch, then the per-link sysctls. Refuses before changing
 * anything when the trunk or uplink interface is missing.
 */
export async function applyPlan(plan: Plan, kernel: KernelAdapter, netns?: string): Promise<void> {
  const missing = plan.missingInterfaces[0];
  if (missing) throw new InterfaceMissingError(missing.role, missing.name, netns);
  await kernel.writeSysctls(plan.sysctlsBefore);
  await kernel.runBatch(plan.ipCommands);
  await kernel.writeSysctls(plan.sysctls);
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.ipCommands.length === 0 && plan.sysctls.length === 0 && plan.sysctlsBefore.length === 0;
}
