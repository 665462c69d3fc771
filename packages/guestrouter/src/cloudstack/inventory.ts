/**
 * Reads the inventory guestrouter plans from: zones, guest networks, VM NICs
 * and public addresses. The mapping from CloudStack's raw JSON to the
 * inventory shapes is pure (mapNetwork, mapVirtualMachineNics, ...), so it is
 * tested on fixed JSON; fetchInventory only adds the four list calls.
 */
import type { GuestNetwork, Inventory, Isolation, PublicIp, VmNic, Zone } from '../inventory/types.js';
import type { CloudStackClient, CloudStackLogger, Params } from './client.js';
import type { RawNetwork, RawPublicIp, RawVirtualMachine, RawZone } from './messages.js';
import { fetchRules } from './rules.js';

/**
 * Why a network has no isolation: CloudStack returns `vlan` and
 * `broadcasturi` only to root admins. The planner shows this when it refuses
 * such a network.
 */
export const ISOLATION_HIDDEN_REASON =
  'CloudStack did not return vlan or broadcasturi for this network; they are returned to root admin accounts only, ' +
  'so use the API key of a root admin (domain ROOT, role type Admin)';

/** The operator-facing reason a network has no usable isolation, or undefined when it has one. */
export function missingIsolationReason(
  network: Pick<GuestNetwork, 'isolation' | 'broadcastUri' | 'id' | 'name'>,
): string | undefined {
  if (network.isolation !== undefined) return undefined;
  const which = `network ${network.name} (${network.id})`;
  if (network.broadcastUri !== undefined) {
    return (
      `${which} has broadcasturi ${network.broadcastUri}, which is neither a tagged VLAN (vlan://1-4094) ` +
      'nor a VXLAN segment (vxlan://VNI); guestrouter cannot join it'
    );
  }
  return `${which}: ${ISOLATION_HIDDEN_REASON}`;
}

const INTEGER = /^\d+$/;

/**
 * Isolation from `broadcasturi` (`vlan://1234`, `vxlan://5001`, a bare
 * number), else from `vlan` with `broadcastdomaintype` deciding VLAN or VXLAN.
 * Numbers are not range-checked here: the planner refuses a VLAN outside
 * 1-4094 with its own message. Untagged, private VLAN and other schemes give
 * undefined.
 */
export function parseIsolation(
  raw: Pick<RawNetwork, 'broadcasturi' | 'vlan' | 'broadcastdomaintype'>,
): Isolation | undefined {
  const domainIsVxlan = raw.broadcastdomaintype?.toLowerCase() === 'vxlan';
  const uri = raw.broadcasturi?.trim();
  if (uri !== undefined && uri !== '') {
    const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(uri);
    if (match === null) {
      return INTEGER.test(uri) ? numbered(domainIsVxlan ? 'vxlan' : 'vlan', uri) : undefined;
    }
    const scheme = (match[1] ?? '').toLowerCase();
    const value = match[2] ?? '';
    if ((scheme === 'vlan' || scheme === 'vxlan') && INTEGER.test(value)) return numbered(scheme, value);
    return undefined;
  }
  const vlan = raw.vlan?.trim();
  if (vlan !== undefined && INTEGER.test(vlan)) return numbered(domainIsVxlan ? 'vxlan' : 'vlan', vlan);
  return undefined;
}

function numbered(kind: 'vlan' | 'vxlan', digits: string): Isolation {
  const n = Number.parseInt(digits, 10);
  return kind === 'vlan' ? { kind: 'vlan', id: n } : { kind: 'vxlan', vni: n };
}

export function mapZone(raw: RawZone): Zone {
  return {
    id: raw.id,
    name: raw.name,
    ...(raw.networktype === undefined ? {} : { networkType: raw.networktype }),
  };
}

/**
 * Tags become `key=value`; a tag with an empty key becomes just its value.
 * Services keep their name and their first provider (`Dhcp` by `VirtualRouter`).
 * Returns undefined for a network without an IPv4 CIDR or gateway (an L2
 * network): there is nothing to route.
 */
export function mapNetwork(raw: RawNetwork): GuestNetwork | undefined {
  if (!raw.cidr || !raw.gateway) return undefined;
  const isolation = parseIsolation(raw);
  const services = (raw.service ?? []).map((service) => {
    const provider = service.provider?.[0]?.name;
    return provider === undefined ? { name: service.name } : { name: service.name, provider };
  });
  const tags = (raw.tags ?? []).map((tag) =>
    tag.key ? `${tag.key}=${tag.value ?? ''}` : String(tag.value ?? ''),
  );
  return {
    id: raw.id,
    name: raw.name,
    zoneId: raw.zoneid,
    ...(isolation === undefined ? {} : { isolation }),
    ...(raw.broadcasturi === undefined ? {} : { broadcastUri: raw.broadcasturi }),
    cidr: raw.cidr,
    gateway: raw.gateway,
    netmask: raw.netmask ?? '',
    services,
    tags,
    ...(raw.state === undefined ? {} : { state: raw.state }),
    ...(raw.egressdefaultpolicy === undefined ? {} : { egressDefaultAllow: raw.egressdefaultpolicy }),
  };
}

/**
 * One VmNic per NIC with an IPv4 address and a MAC. `hostname` is the VM's
 * `name` (CloudStack hands it to the guest as its hostname); the raw
 * `hostname` field is the hypervisor host and is not used.
 */
export function mapVirtualMachineNics(vm: RawVirtualMachine): VmNic[] {
  const out: VmNic[] = [];
  for (const nic of vm.nic ?? []) {
    if (!nic.networkid || !nic.macaddress || !nic.ipaddress) continue;
    out.push({
      vmId: vm.id,
      vmName: vm.displayname || vm.name,
      hostname: vm.name,
      networkId: nic.networkid,
      macAddress: nic.macaddress.toLowerCase(),
      ipAddress: nic.ipaddress,
      isDefault: nic.isdefault === true,
      ...(vm.state === undefined ? {} : { state: vm.state }),
      ...(vm.zonename === undefined ? {} : { zoneName: vm.zonename }),
      ...(vm.serviceofferingname === undefined ? {} : { serviceOfferingName: vm.serviceofferingname }),
      ...(vm.hostname === undefined ? {} : { hypervisorHost: vm.hostname }),
      ...vmMetadataFields(vm),
    });
  }
  return out;
}

/** What the meta data server needs besides the NIC: key pair names, their owner, user data variables. */
function vmMetadataFields(vm: RawVirtualMachine): Partial<VmNic> {
  const names = (vm.keypairs ?? vm.keypair ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const details = parseUserDataDetails(vm.userdatadetails);
  const owner = {
    ...(vm.account === undefined ? {} : { account: vm.account }),
    ...(vm.domainid === undefined ? {} : { domainId: vm.domainid }),
    ...(vm.projectid === undefined ? {} : { projectId: vm.projectid }),
  };
  return {
    ...(names.length === 0 ? {} : { keyPairs: names, owner }),
    ...(details.length === 0 ? {} : { userDataDetails: details }),
  };
}

/**
 * `userdatadetails` as CloudStack gives it (a Java map printed: `{key1=value1, key2=value2}`), split
 * the way the management server splits it for the Virtual Router: the braces off, pairs at commas,
 * key and value at the first `=`, both trimmed. A pair without `=` or with an empty key is dropped.
 */
export function parseUserDataDetails(text: string | undefined): [string, string][] {
  if (text === undefined) return [];
  let inner = text.trim();
  if (inner.startsWith('{') && inner.endsWith('}')) inner = inner.slice(1, -1);
  const out: [string, string][] = [];
  for (const pair of inner.split(',')) {
    const at = pair.indexOf('=');
    if (at === -1) continue;
    const key = pair.slice(0, at).trim();
    if (key !== '') out.push([key, pair.slice(at + 1).trim()]);
  }
  return out;
}

/** `networkId` is the guest network the address is associated with (`associatednetworkid`). */
export function mapPublicIp(raw: RawPublicIp): PublicIp {
  return {
    id: raw.id,
    address: raw.ipaddress,
    ...(raw.associatednetworkid === undefined ? {} : { networkId: raw.associatednetworkid }),
    ...(raw.virtualmachineid === undefined ? {} : { vmId: raw.virtualmachineid }),
    ...(raw.state === undefined ? {} : { state: raw.state }),
    ...(raw.issourcenat === undefined ? {} : { isSourceNat: raw.issourcenat }),
    ...(raw.isstaticnat === undefined ? {} : { isStaticNat: raw.isstaticnat }),
    ...(raw.vmipaddress === undefined ? {} : { vmIpAddress: raw.vmipaddress }),
  };
}

export interface RawInventory {
  zones: readonly RawZone[];
  networks: readonly RawNetwork[];
  virtualMachines: readonly RawVirtualMachine[];
  publicIpAddresses: readonly RawPublicIp[];
}

export interface SkippedItem {
  readonly kind: 'network' | 'nic';
  readonly id: string;
  readonly reason: string;
}

/** Pure: raw list answers to the Inventory, plus what was left out and why. */
export function buildInventory(
  raw: RawInventory,
  fetchedAt: number,
): { inventory: Inventory; skipped: SkippedItem[] } {
  const skipped: SkippedItem[] = [];
  const networks: GuestNetwork[] = [];
  for (const rawNetwork of raw.networks) {
    const network = mapNetwork(rawNetwork);
    if (network === undefined) {
      skipped.push({ kind: 'network', id: rawNetwork.id, reason: 'no IPv4 cidr/gateway (L2 network)' });
    } else {
      networks.push(network);
    }
  }
  const nics: VmNic[] = [];
  for (const vm of raw.virtualMachines) {
    const mapped = mapVirtualMachineNics(vm);
    nics.push(...mapped);
    const dropped = (vm.nic?.length ?? 0) - mapped.length;
    if (dropped > 0)
      skipped.push({ kind: 'nic', id: vm.id, reason: `${dropped} NIC(s) without IPv4 address or MAC` });
  }
  return {
    inventory: {
      zones: raw.zones.map(mapZone),
      networks,
      nics,
      publicIps: raw.publicIpAddresses.map(mapPublicIp),
      fetchedAt,
    },
    skipped,
  };
}

export interface FetchInventoryOptions {
  /** Only this zone (its id); default all zones the key can see. */
  zoneId?: string;
  /**
   * Also list resources owned by projects (`projectid=-1`), which CloudStack
   * leaves out of `listall=true` answers. Default true.
   */
  includeProjects?: boolean;
  /** Told about networks and NICs left out (L2 networks, NICs without IPv4). */
  logger?: CloudStackLogger;
  now?: () => number;
}

/** Items of both passes, each id once (the account pass wins). */
function mergeById<T extends { id: string }>(first: T[], second: T[]): T[] {
  const seen = new Set(first.map((item) => item.id));
  return [...first, ...second.filter((item) => !seen.has(item.id))];
}

/**
 * listZones, listNetworks, listVirtualMachines (NICs come inside) and
 * listPublicIpAddresses, all pages, `listall=true` so an admin key sees every
 * account's resources, then the same with `projectid=-1` for project
 * resources. Any failed call rejects the whole fetch: a partial inventory
 * must never look like networks were removed.
 */
export async function fetchInventory(
  client: CloudStackClient,
  options: FetchInventoryOptions = {},
): Promise<Inventory> {
  const zoneFilter: Params = options.zoneId === undefined ? {} : { zoneid: options.zoneId };
  const zoneParams: Params = options.zoneId === undefined ? {} : { id: options.zoneId };
  const includeProjects = options.includeProjects ?? true;
  // Sequential on purpose: one management server, and the counts are small next to its page size.
  const listBoth = async <T extends { id: string }>(
    command: string,
    params: Params,
    key: string,
  ): Promise<T[]> => {
    const own = await client.listAll<T>(command, { listall: true, ...params, ...zoneFilter }, key);
    if (!includeProjects) return own;
    const projects = await client.listAll<T>(
      command,
      { listall: true, ...params, ...zoneFilter, projectid: -1 },
      key,
    );
    return mergeById(own, projects);
  };
  const zones = await client.listAll<RawZone>('listZones', zoneParams, 'zone');
  const networks = await listBoth<RawNetwork>('listNetworks', {}, 'network');
  const virtualMachines = await listBoth<RawVirtualMachine>('listVirtualMachines', {}, 'virtualmachine');
  const publicIpAddresses = await listBoth<RawPublicIp>(
    'listPublicIpAddresses',
    { allocatedonly: true },
    'publicipaddress',
  );
  const rules = await fetchRules(client, listBoth);
  const { inventory, skipped } = buildInventory(
    { zones, networks, virtualMachines, publicIpAddresses },
    (options.now ?? Date.now)(),
  );
  for (const item of skipped)
    options.logger?.warn(
      { event: 'inventory-skip', kind: item.kind, id: item.id, reason: item.reason },
      'inventory item skipped',
    );
  return { ...inventory, rules };
}
