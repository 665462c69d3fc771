import type { DesiredLink, DesiredState, LinkSpec, Refusal, SysctlSetting } from '../desired/types.js';
import { networkIdFromMark, PROXY_NEIGH_PROTOCOL } from '../desired/types.js';
import type { CurrentLink, CurrentState } from '../kernel/types.js';
import { cidrContains, type Ipv4Cidr, parseIpv4, subnetOfAddress } from '../net/ipv4.js';
import { linkAddCommand } from './render.js';
import type { Announcement, Change, Plan } from './types.js';

function sameSpec(spec: LinkSpec, current: CurrentLink): boolean {
  if (spec.kind === 'vlan') {
    return (
      current.kind === 'vlan' &&
      current.vlan?.id === spec.id &&
      (current.vlan.parent ?? spec.parent) === spec.parent
    );
  }
  const x = current.vxlan;
  if (current.kind !== 'vxlan' || !x) return false;
  return (
    x.vni === spec.vni &&
    (x.port ?? 8472) === spec.port &&
    x.group === spec.group &&
    x.learning === spec.learning &&
    (x.dev ?? spec.dev) === spec.dev &&
    (spec.local === undefined || x.local === spec.local) &&
    (spec.ttl === undefined || x.ttl === spec.ttl)
  );
}

/**
 * An unmarked link that is exactly what guestrouter would create for this network, still down
 * and without any IPv4 address: the state an apply killed right after `link add` leaves. A link an
 * operator made and uses (up, or with an address, or different settings) never matches.
 */
function isUnfinishedCreate(link: DesiredLink, existing: CurrentLink): boolean {
  return (
    sameSpec(link.spec, existing) &&
    !existing.up &&
    existing.addresses.length === 0 &&
    (existing.mac === undefined || existing.mac === link.mac)
  );
}

interface IpLine {
  readonly line: string;
  readonly link: string;
}

export interface DiffOptions {
  readonly trunk: string;
  readonly uplink: string;
  /**
   * The most marked links one plan may delete (their networks left the inventory); above it no
   * link is deleted and the plan says so (`deletionsWithheld`). Undefined: no limit.
   */
  readonly maxDeletes?: number;
}

/**
 * The default deletion budget: 5 networks or 10 % of the marked links the router has, whichever
 * is larger. A whole zone vanishing from an answer is far more likely a fault than a decision.
 */
export function defaultMaxDeletes(markedLinks: number): number {
  return Math.max(5, Math.ceil(markedLinks / 10));
}

/**
 * Pure: desired + current -> the ordered commands that make current match
 * desired. Rules: only links marked with guestrouter's ifalias are changed or
 * deleted; a desired name held by an unmarked link refuses that network; a
 * marked link whose network is still in the inventory but refused is kept as
 * it is; a marked link whose network is gone (or deselected) is deleted.
 */
export function diff(desired: DesiredState, current: CurrentState, options: DiffOptions): Plan {
  const refused: Refusal[] = [...desired.refused];
  const changes: Change[] = [];
  const deletions: IpLine[] = [];
  const perLink: IpLine[] = [];
  const kept: Plan['kept'][number][] = [];

  const served: DesiredLink[] = [];
  const adopted = new Set<string>();
  for (const link of desired.links) {
    const existing = current.links.get(link.name);
    if (existing && networkIdFromMark(existing.alias) === undefined && isUnfinishedCreate(link, existing)) {
      // What an apply killed between `link add` and `link set ... alias` leaves: ours, adopted.
      adopted.add(link.name);
      served.push(link);
      continue;
    }
    if (existing && networkIdFromMark(existing.alias) === undefined) {
      refused.push({
        networkId: link.networkId,
        networkName: link.networkName,
        code: 'interface-conflict',
        message: `network ${link.networkName} (${link.networkId}) refused: interface ${link.name} already exists and is not managed by guestrouter (no "guestrouter:" alias); it is left untouched`,
      });
      continue;
    }
    served.push(link);
  }
  const servedNames = new Set(served.map((l) => l.name));
  const refusedIds = new Set(refused.map((r) => r.networkId));

  const doomed: { name: string; networkId: string }[] = [];
  for (const [name, link] of current.links) {
    const networkId = networkIdFromMark(link.alias);
    if (networkId === undefined || servedNames.has(name)) continue;
    if (desired.inventoryNetworkIds.has(networkId) && refusedIds.has(networkId)) {
      kept.push({ link: name, networkId, reason: 'refused' });
      continue;
    }
    doomed.push({ name, networkId });
  }
  let deletionsWithheld: Plan['deletionsWithheld'];
  const withheldCidrs: Ipv4Cidr[] = [];
  if (options.maxDeletes !== undefined && doomed.length > options.maxDeletes) {
    // All or nothing: deleting an arbitrary few of many would not be anyone's intent.
    deletionsWithheld = { links: doomed.map((d) => d.name), limit: options.maxDeletes };
    for (const d of doomed) {
      kept.push({ link: d.name, networkId: d.networkId, reason: 'deletion-budget' });
      for (const address of current.links.get(d.name)?.addresses ?? []) {
        const cidr = subnetOfAddress(address);
        if (cidr) withheldCidrs.push(cidr);
      }
    }
  } else {
    for (const d of doomed) {
      deletions.push({ line: `link del dev ${d.name}`, link: d.name });
      changes.push({
        action: 'delete-link',
        link: d.name,
        networkId: d.networkId,
        detail: 'its network is no longer served',
      });
    }
  }

  const recreated = new Set<string>();
  const announce: Announcement[] = [];
  for (const link of served) {
    let existing = current.links.get(link.name);
    if (existing && adopted.has(link.name)) {
      perLink.push({ line: `link set dev ${link.name} alias ${link.alias}`, link: link.name });
      changes.push({
        action: 'adopt-link',
        link: link.name,
        networkId: link.networkId,
        detail: 'created by an interrupted apply (exact settings, down, no address, no mark yet)',
      });
    } else if (existing && (!sameSpec(link.spec, existing) || existing.alias !== link.alias)) {
      deletions.push({ line: `link del dev ${link.name}`, link: link.name });
      changes.push({
        action: 'recreate-link',
        link: link.name,
        networkId: link.networkId,
        detail: existing.alias !== link.alias ? `now belongs to ${link.alias}` : 'its settings differ',
      });
      recreated.add(link.name);
      existing = undefined;
    }
    if (!existing) {
      perLink.push(
        { line: linkAddCommand(link), link: link.name },
        { line: `link set dev ${link.name} alias ${link.alias}`, link: link.name },
      );
      if (!recreated.has(link.name)) {
        changes.push({
          action: 'create-link',
          link: link.name,
          networkId: link.networkId,
          detail: linkAddCommand(link),
        });
      }
    }
    const have = new Set(existing?.addresses ?? []);
    for (const address of existing?.addresses ?? []) {
      if (!link.addresses.includes(address)) {
        perLink.push({ line: `addr del ${address} dev ${link.name}`, link: link.name });
        changes.push({
          action: 'remove-address',
          link: link.name,
          networkId: link.networkId,
          detail: address,
        });
      }
    }
    for (const address of link.addresses) {
      if (!have.has(address) && !link.vrrpAddresses?.includes(address)) {
        if (existing?.up) announce.push({ link: link.name, address: address.split('/')[0] as string });
        perLink.push({ line: `addr add ${address} dev ${link.name}`, link: link.name });
        changes.push({ action: 'add-address', link: link.name, networkId: link.networkId, detail: address });
      }
    }
    if (!existing?.up) {
      perLink.push({ line: `link set dev ${link.name} up`, link: link.name });
      if (existing)
        changes.push({ action: 'set-up', link: link.name, networkId: link.networkId, detail: 'up' });
    }
  }

  // Proxy neighbours (addresses mode): add what is missing, delete only our own (protocol mark) stale entries.
  const conflictedIds = new Set(
    refused.filter((r) => r.code === 'interface-conflict').map((r) => r.networkId),
  );
  const neighbourKey = (address: string, dev: string) => `${address} ${dev}`;
  const wanted = desired.proxyNeighbours.filter((n) => !conflictedIds.has(n.networkId));
  const wantedKeys = new Set(wanted.map((n) => neighbourKey(n.address, n.dev)));
  const haveKeys = new Set(current.proxyNeighbours.map((n) => neighbourKey(n.address, n.dev)));
  const mark = String(PROXY_NEIGH_PROTOCOL);
  for (const n of current.proxyNeighbours) {
    if (n.protocol !== mark || wantedKeys.has(neighbourKey(n.address, n.dev))) continue;
    if (desired.keepProxyAddresses.has(n.address)) continue;
    const address = parseIpv4(n.address);
    if (address !== undefined && withheldCidrs.some((c) => cidrContains(c, address))) continue;
    perLink.push({ line: `neigh del proxy ${n.address} dev ${n.dev}`, link: n.dev });
    changes.push({ action: 'delete-proxy-neighbour', link: n.dev, detail: n.address });
  }
  for (const n of wanted) {
    if (haveKeys.has(neighbourKey(n.address, n.dev))) continue;
    perLink.push({ line: `neigh add proxy ${n.address} dev ${n.dev} protocol ${mark}`, link: n.dev });
    changes.push({ action: 'add-proxy-neighbour', link: n.dev, networkId: n.networkId, detail: n.address });
  }

  const fresh = new Set(
    served
      .filter((l) => !current.links.has(l.name) || recreated.has(l.name) || adopted.has(l.name))
      .map((l) => l.name),
  );
  const conflicted = new Set(desired.links.filter((l) => !servedNames.has(l.name)).map((l) => l.name));
  const sysctlsBefore: SysctlSetting[] = [];
  const sysctls: SysctlSetting[] = [];
  for (const setting of desired.sysctls) {
    if (setting.link !== undefined && conflicted.has(setting.link)) continue;
    const isFresh = setting.link !== undefined && fresh.has(setting.link);
    const have = current.sysctls.get(setting.key);
    const satisfied = setting.minimum ? Number(have) >= Number(setting.value) : have === setting.value;
    if (!isFresh && satisfied) continue;
    // A link that exists already gets its settings before the batch: promote_secondaries must be on
    // before a gateway change deletes the old primary address.
    const before =
      setting.link === undefined || (!fresh.has(setting.link) && current.links.has(setting.link));
    (before ? sysctlsBefore : sysctls).push(setting);
    changes.push({
      action: 'set-sysctl',
      ...(setting.link ? { link: setting.link } : {}),
      detail: `${setting.key}=${setting.value}`,
    });
  }

  const missingInterfaces: Plan['missingInterfaces'][number][] = [];
  if (!current.links.has(options.trunk)) missingInterfaces.push({ role: 'trunk', name: options.trunk });
  if (!current.links.has(options.uplink)) missingInterfaces.push({ role: 'uplink', name: options.uplink });

  return {
    ipCommands: [...deletions, ...perLink].map((l) => l.line),
    ipCommandLinks: [...deletions, ...perLink].map((l) => l.link),
    sysctlsBefore,
    sysctls,
    changes,
    refused,
    kept,
    missingInterfaces,
    served: served.length,
    announce,
    ...(deletionsWithheld ? { deletionsWithheld } : {}),
  };
}
