import type { GuestrouterConfig } from '../config/schema.js';
import { desiredState } from '../desired/desired.js';
import { type DesiredLink, type DesiredState, networkIdFromMark } from '../desired/types.js';
import { ApplyIncompleteError, InterfaceMissingError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import type { KernelAdapter } from '../kernel/kernel.js';
import type { CurrentState } from '../kernel/types.js';
import { type DesiredLb, desiredLoadBalancers } from '../lb/desired.js';
import { haproxyOperation } from '../lb/plan.js';
import type { NftAdapter } from '../nft/current.js';
import { desiredNft } from '../nft/desired.js';
import { diffNft } from '../nft/diff.js';
import type { PublicAddress } from '../nft/types.js';
import { defaultMaxDeletes, diff } from '../plan/diff.js';
import type { Announcement, Change, Plan } from '../plan/types.js';
import { diffPublicAddresses, publicAddressLabel, readLabelledAddresses } from '../publicip/publicip.js';

export interface PlanResult {
  readonly desired: DesiredState;
  readonly current: CurrentState;
  readonly plan: Plan;
  /**
   * The NAT public addresses the router answers for on the uplink. With ha.enabled the plan leaves
   * them to keepalived (only the master of their network holds them), which gets them from here.
   */
  readonly publicAddresses?: readonly PublicAddress[];
  /** The load balancer frontends `run` gives haproxy (computed with the nft rule set that opens their ports). */
  readonly lb?: DesiredLb;
}

export interface PlanSettings {
  readonly trunk: string;
  readonly uplink: string;
  readonly config: GuestrouterConfig;
  /** The nftables side; without it (or with firewall.enabled false) the plan covers links, addresses and sysctls only. */
  readonly nft?: NftAdapter;
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
    vrrp: settings.config.ha.enabled,
  });
  const current = await kernel.readState(desired.sysctls.map((s) => s.key));
  const marked = [...current.links.values()].filter((l) => networkIdFromMark(l.alias) !== undefined).length;
  const maxDeletes =
    settings.allowDeletes ?? settings.config.safety.maxDeletesPerCycle ?? defaultMaxDeletes(marked);
  const base = diff(desired, current, { trunk: settings.trunk, uplink: settings.uplink, maxDeletes });
  if (!settings.nft || !settings.config.firewall.enabled) return { desired, current, plan: base };
  // Withheld deletions mean the inventory may be wrong: the rule set (NAT of those networks included) stays as it is.
  if (base.deletionsWithheld) return { desired, current, plan: base };
  const conflicted = new Set(
    base.refused.filter((r) => r.code === 'interface-conflict').map((r) => r.networkId),
  );
  const links = desired.links.filter((l) => !conflicted.has(l.networkId));
  const lb = desiredLoadBalancers(inventory, links);
  const { plan, publicAddresses } = await withNft(base, links, lb, inventory, settings, settings.nft);
  const haproxy = await haproxyOperation(
    lb,
    settings.config.stateDir,
    settings.config.loadBalancer.checkIntervalMs,
  );
  return {
    desired,
    current,
    lb,
    publicAddresses,
    plan: haproxy ? { ...plan, serviceOperations: [haproxy] } : plan,
  };
}

/** Adds the nft rule set and the uplink's NAT public addresses to the link plan. */
async function withNft(
  base: Plan,
  links: readonly DesiredLink[],
  lb: DesiredLb,
  inventory: Inventory,
  settings: PlanSettings,
  nft: NftAdapter,
): Promise<{ plan: Plan; publicAddresses: readonly PublicAddress[] }> {
  const wanted = desiredNft(
    inventory,
    links,
    { uplink: settings.uplink, isolation: settings.config.firewall.isolation },
    lb,
  );
  const label = publicAddressLabel(settings.uplink);
  const [currentNft, labelled] = await Promise.all([
    nft.read(),
    label ? readLabelledAddresses(settings.config.netns, settings.uplink, label) : Promise.resolve([]),
  ]);
  const nftPlan = diffNft(wanted, currentNft);
  const refusedRules = [...wanted.refused];
  let addresses = { lines: [] as string[], changes: [] as Change[] };
  // With VRRP keepalived adds and removes them (on the master of their network only), so that
  // only the master answers ARP for them on the uplink: the plan neither adds nor removes them.
  if (label && settings.config.ha.enabled) addresses = { lines: [], changes: [] };
  else if (label) addresses = diffPublicAddresses(wanted.publicAddresses, labelled, settings.uplink, label);
  else if (wanted.publicAddresses.length > 0) {
    refusedRules.push({
      kind: 'source-nat',
      ruleId: settings.uplink,
      message: `public addresses not answered: the uplink name ${settings.uplink} leaves no room for the address label ${settings.uplink}:gr (15 characters at most)`,
    });
  }
  const nftChanges: Change[] = nftPlan.operations.map((op) => ({
    action: `${op.action}-${op.object.kind}` as Change['action'],
    detail: `${'table' in op.object ? `${op.object.table} ${op.object.chain}` : ''}${op.object.kind === 'nft-rule' ? ` ${op.object.key}` : ''}${op.detail ? `: ${op.detail}` : ''}`,
    reason: op.reason,
    ...(op.networkId ? { networkId: op.networkId } : {}),
  }));
  const plan: Plan = {
    ...base,
    ipCommands: [...base.ipCommands, ...addresses.lines],
    ipCommandLinks: [...base.ipCommandLinks, ...addresses.lines.map(() => settings.uplink)],
    changes: [...base.changes, ...addresses.changes, ...nftChanges],
    nftScript: nftPlan.script,
    nftOperations: nftPlan.operations,
    refusedRules,
  };
  return { plan, publicAddresses: label ? wanted.publicAddresses : [] };
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
  nft?: NftAdapter,
): Promise<void> {
  const missing = plan.missingInterfaces[0];
  if (missing) throw new InterfaceMissingError(missing.role, missing.name, netns);
  const script = plan.nftScript ?? [];
  if (script.length > 0 && !nft) throw new Error('the plan changes nft rules but no nft adapter was given');
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
  // One transaction: an nft failure leaves the previous rule set in place and fails the cycle.
  if (script.length > 0) await nft?.apply(script);
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
  return (
    plan.ipCommands.length === 0 &&
    plan.sysctls.length === 0 &&
    plan.sysctlsBefore.length === 0 &&
    (plan.nftScript ?? []).length === 0
  );
}
