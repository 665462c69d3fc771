import type { FirewallRule, LoadBalancerRule, PortForwardRule } from '../inventory/rules.js';
import type { GuestNetwork, Inventory, PublicIp, VmNic } from '../inventory/types.js';
import { formatIpv4, maskOf, parseCidr } from '../net/ipv4.js';
import { type ExtensionEvent, PayloadError } from './payload.js';

/**
 * What the events told the router, kept as sets keyed by what CloudStack names them, so a repeated
 * event (CloudStack retries) changes nothing. Pure: the store persists it, `toInventory` turns it into
 * the same Inventory the API poller builds, and the one engine plans from that.
 */
export interface EventNetwork {
  readonly id: string;
  readonly zoneId: string;
  readonly isolation: 'vlan' | 'vxlan';
  readonly tag: number;
  readonly cidr: string;
  readonly gateway: string;
  readonly shutdown: boolean;
  readonly egressDefaultAllow?: boolean;
}

export interface EventNic {
  readonly networkId: string;
  readonly mac: string;
  readonly ip: string;
  readonly vmId: string;
  readonly hostname: string;
  readonly isDefault: boolean;
}

/**
 * What save-vm-data and the save-* commands told the router about the VM behind one NIC. The meta data
 * keys the poller computes itself (addresses, public address) are not kept; the password never is (it
 * goes to the pending-password store, see passwordOf).
 */
export interface EventVmData {
  /** The VM's UUID (`vm-id`, else `instance-id`): the id the poller uses, and the password store's key. */
  readonly vmId?: string;
  readonly vmName?: string;
  readonly zoneName?: string;
  readonly serviceOfferingName?: string;
  readonly hypervisorHost?: string;
  /** One public key per line as CloudStack sent them; absent: none. */
  readonly publicKeys?: string;
  /** The user data bytes, base64 (so the state stays JSON); null: the VM has none; absent: never sent. */
  readonly userData?: string | null;
}

export interface EventState {
  readonly version: 1;
  readonly networks: Readonly<Record<string, EventNetwork>>;
  /** Keyed `networkId/mac`. */
  readonly nics: Readonly<Record<string, EventNic>>;
  /** Keyed by address. */
  readonly publicIps: Readonly<Record<string, PublicIp>>;
  /** Keyed `address/protocol/publicPort`. */
  readonly portForwards: Readonly<Record<string, PortForwardRule & { readonly privateIp: string }>>;
  /** Per network: the whole set from the last apply-fw-rules. */
  readonly firewall: Readonly<Record<string, readonly FirewallRule[]>>;
  readonly egress: Readonly<Record<string, readonly FirewallRule[]>>;
  readonly loadBalancers: Readonly<
    Record<string, readonly (LoadBalancerRule & { readonly memberIps: readonly string[] })[]>
  >;
  /** Keyed `networkId/ip` (the element names a VM by its NIC); absent in states saved before it existed. */
  readonly vmData?: Readonly<Record<string, EventVmData>>;
}

export const EMPTY_STATE: EventState = {
  version: 1,
  networks: {},
  nics: {},
  publicIps: {},
  portForwards: {},
  firewall: {},
  egress: {},
  loadBalancers: {},
  vmData: {},
};

function without<T>(
  record: Readonly<Record<string, T>>,
  keep: (key: string, value: T) => boolean,
): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(record)) if (keep(k, v)) out[k] = v;
  return out;
}

function netmaskOf(cidr: string): string {
  const parsed = parseCidr(cidr);
  if (!parsed) throw new PayloadError(`cidr "${cidr}" is not an IPv4 network (a.b.c.d/p)`);
  return formatIpv4(maskOf(parsed.prefix));
}

const publicIpId = (address: string) => `ip:${address}`;

function requireNetwork(state: EventState, event: ExtensionEvent): EventNetwork {
  const id = event.fields.network_id as string;
  const network = state.networks[id];
  if (network === undefined) {
    throw new PayloadError(
      `${event.command}: network ${id} was never implemented on this router (send implement-network first)`,
    );
  }
  return network;
}

function nicOf(state: EventState, networkId: string, ip: string): EventNic | undefined {
  return Object.values(state.nics).find((n) => n.networkId === networkId && n.ip === ip);
}

/** The NIC a NAT or forwarding rule points at; refused until prepare-nic made it. */
function ruleTargetNic(state: EventState, command: string, networkId: string, privateIp: string): EventNic {
  const nic = nicOf(state, networkId, privateIp);
  if (!nic) {
    throw new PayloadError(
      `${command}: no NIC with address ${privateIp} in network ${networkId} (prepare-nic first)`,
    );
  }
  return nic;
}

function nicFromEvent(event: ExtensionEvent, previous: EventNic | undefined): EventNic {
  const f = event.fields;
  const vmId = f.vm_id ?? f.vm_uuid ?? previous?.vmId ?? `nic-${f.nic_uuid ?? f.nic_id ?? (f.mac as string)}`;
  return {
    networkId: f.network_id as string,
    mac: (f.mac as string).toLowerCase(),
    ip: f.ip as string,
    vmId,
    hostname: f.hostname ?? previous?.hostname ?? vmId,
    isDefault: f.default_nic === undefined ? (previous?.isDefault ?? true) : f.default_nic === 'true',
  };
}

function portRange(text: string, what: string): [string, string] {
  const m = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new PayloadError(`${what} "${text}" is not a port or a range like 8080-8090`);
  return [m[1] as string, m[2] ?? (m[1] as string)];
}

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String).filter((s) => s !== '');
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  return [];
}

function str(value: unknown): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

function firewallRules(event: ExtensionEvent): {
  ingress: FirewallRule[];
  egress: FirewallRule[];
  defaultEgressAllow?: boolean;
} {
  const raw = event.structured.fw_rules;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PayloadError('apply-fw-rules: payload.fw_rules must be an object with "rules"');
  }
  const record = raw as Record<string, unknown>;
  if (record.rules !== undefined && !Array.isArray(record.rules))
    throw new PayloadError('apply-fw-rules: payload.fw_rules.rules must be a list');
  const ingress: FirewallRule[] = [];
  const egress: FirewallRule[] = [];
  for (const [i, item] of ((record.rules as unknown[] | undefined) ?? []).entries()) {
    if (typeof item !== 'object' || item === null)
      throw new PayloadError(`apply-fw-rules: rule ${i} is not an object`);
    const r = item as Record<string, unknown>;
    const type = str(r.type) ?? 'ingress';
    const rule: FirewallRule = {
      id: str(r.id) ?? `fw-${i}`,
      protocol: (str(r.protocol) ?? 'all').toLowerCase(),
      ...(str(r.portStart) ? { startPort: str(r.portStart) as string } : {}),
      ...(str(r.portEnd) ? { endPort: str(r.portEnd) as string } : {}),
      ...(str(r.icmpType) ? { icmpType: str(r.icmpType) as string } : {}),
      ...(str(r.icmpCode) ? { icmpCode: str(r.icmpCode) as string } : {}),
      cidrs: list(r.sourceCidrs),
      destCidrs: list(r.destCidrs),
      networkId: event.fields.network_id as string,
    };
    if (type === 'egress') egress.push(rule);
    else if (type === 'ingress') {
      const address = str(r.publicIp);
      if (!address) throw new PayloadError(`apply-fw-rules: ingress rule ${rule.id} has no publicIp`);
      ingress.push({ ...rule, publicIpId: publicIpId(address) });
    } else
      throw new PayloadError(`apply-fw-rules: rule ${rule.id}: type "${type}" is neither ingress nor egress`);
  }
  const d = record.default_egress_allow;
  const defaultEgressAllow = d === undefined ? undefined : d === true || d === 'true';
  return { ingress, egress, ...(defaultEgressAllow === undefined ? {} : { defaultEgressAllow }) };
}

function lbRules(event: ExtensionEvent, state: EventState): EventState['loadBalancers'][string] {
  const raw = event.structured.lb_rules;
  if (!Array.isArray(raw)) throw new PayloadError('apply-lb-rules: payload.lb_rules must be a list');
  const networkId = event.fields.network_id as string;
  const out: (LoadBalancerRule & { memberIps: string[] })[] = [];
  for (const [i, item] of raw.entries()) {
    if (typeof item !== 'object' || item === null)
      throw new PayloadError(`apply-lb-rules: rule ${i} is not an object`);
    const r = item as Record<string, unknown>;
    if (r.revoke === true || r.revoke === 'true') continue;
    const address = str(r.publicIp);
    if (!address) throw new PayloadError(`apply-lb-rules: rule ${str(r.id) ?? i} has no publicIp`);
    const backends = Array.isArray(r.backends) ? (r.backends as Record<string, unknown>[]) : [];
    const live = backends.filter((b) => !(b.revoked === true || b.revoked === 'true') && str(b.ip));
    out.push({
      id: str(r.id) ?? `lb-${i}`,
      name: str(r.name) ?? `lb-${i}`,
      publicIpId: publicIpId(address),
      publicPort: str(r.publicPort) ?? '',
      privatePort: str(r.privatePort) ?? '',
      algorithm: str(r.algorithm) ?? 'roundrobin',
      protocol: str(r.protocol) ?? 'tcp',
      networkId,
      cidrs: [],
      members: live.map((b) => ({
        vmId: nicOf(state, networkId, String(b.ip))?.vmId ?? `ip-${String(b.ip)}`,
        ipAddress: String(b.ip),
      })),
      memberIps: live.map((b) => String(b.ip)),
    });
  }
  return out;
}

/** The entries of save-vm-data's `vm_data` list: `{dir, file, content}`, contents as text. */
function vmDataEntries(event: ExtensionEvent): { dir: string; file: string; content: string }[] {
  const raw = event.structured.vm_data;
  if (!Array.isArray(raw)) throw new PayloadError('save-vm-data: payload.vm_data must be a list');
  return raw.map((item, i) => {
    if (typeof item !== 'object' || item === null)
      throw new PayloadError(`save-vm-data: vm_data entry ${i} is not an object`);
    const r = item as Record<string, unknown>;
    const dir = str(r.dir);
    const file = str(r.file);
    if (dir === undefined || file === undefined)
      throw new PayloadError(`save-vm-data: vm_data entry ${i} has no dir or file`);
    const content = r.content === undefined || r.content === null ? '' : r.content;
    if (typeof content !== 'string')
      throw new PayloadError(`save-vm-data: vm_data entry ${dir}/${file}: content must be a string`);
    return { dir, file, content };
  });
}

const userDataValue = (text: string): string | null =>
  text === '' ? null : Buffer.from(text, 'utf8').toString('base64');

/** The VM data of one save-vm-data event, over what was known before (a key not sent is kept). */
function vmDataFromEntries(event: ExtensionEvent, previous: EventVmData | undefined): EventVmData {
  const meta = new Map<string, string>();
  let userData: string | null | undefined = previous?.userData;
  for (const e of vmDataEntries(event)) {
    if (e.dir === 'userdata' && e.file === 'user_data') userData = userDataValue(e.content);
    else if (e.dir === 'metadata') meta.set(e.file, e.content.trim());
  }
  const pick = (key: string, before: string | undefined) => {
    const v = meta.get(key);
    return v === undefined ? before : v === '' ? undefined : v;
  };
  const vmId = pick('vm-id', undefined) ?? pick('instance-id', undefined) ?? previous?.vmId;
  const next: EventVmData = {
    vmId,
    vmName: pick('local-hostname', previous?.vmName),
    zoneName: pick('availability-zone', previous?.zoneName),
    serviceOfferingName: pick('service-offering', previous?.serviceOfferingName),
    hypervisorHost: pick('hypervisor-host-name', previous?.hypervisorHost),
    publicKeys: pick('public-keys', previous?.publicKeys),
    userData,
  };
  return withoutUndefined(next);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function setVmData(state: EventState, event: ExtensionEvent, change: (d: EventVmData) => EventVmData) {
  requireNetwork(state, event);
  const key = `${event.fields.network_id}/${event.fields.ip}`;
  const vmData = state.vmData ?? {};
  return { ...state, vmData: { ...vmData, [key]: withoutUndefined(change(vmData[key] ?? {})) } };
}

/**
 * The password an event hands to the VM behind its NIC, if any (save-password, or save-vm-data's
 * `password/vm_password`). Never kept in the event state: the caller puts it in the pending-password
 * store under vmIdOf's id.
 */
export function passwordOf(event: ExtensionEvent): string | undefined {
  if (event.command === 'save-password') return event.fields.password;
  if (event.command !== 'save-vm-data') return undefined;
  const entry = vmDataEntries(event).find((e) => e.dir === 'password' && e.file === 'vm_password');
  const password = entry?.content.trim();
  return password === undefined || password === '' ? undefined : password;
}

/** The id the router serves the NIC at `networkId/ip` under: the VM's UUID once save-vm-data named it. */
export function vmIdOf(state: EventState, networkId: string, ip: string): string | undefined {
  const nic = nicOf(state, networkId, ip);
  return state.vmData?.[`${networkId}/${ip}`]?.vmId ?? nic?.vmId;
}

/** User data per VM id, as the meta data server looks it up: bytes, or null for "none". */
export function userDataByVm(state: EventState): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>();
  for (const [key, data] of Object.entries(state.vmData ?? {})) {
    if (data.userData === undefined) continue;
    const slash = key.indexOf('/');
    const vmId = vmIdOf(state, key.slice(0, slash), key.slice(slash + 1));
    if (vmId === undefined) continue;
    out.set(vmId, data.userData === null ? null : Buffer.from(data.userData, 'base64'));
  }
  return out;
}

/** The state after one event; throws PayloadError (state unchanged) when the event cannot be applied. */
export function applyEvent(state: EventState, event: ExtensionEvent): EventState {
  const f = event.fields;
  const networkId = f.network_id as string;
  switch (event.command) {
    case 'implement-network': {
      const isolation = event.physical['guestrouter.isolation'] ?? 'vlan';
      if (isolation !== 'vlan' && isolation !== 'vxlan')
        throw new PayloadError(`guestrouter.isolation "${isolation}" must be vlan or vxlan`);
      const tag = (f.vlan as string).replace(/^(vlan|vxlan):\/\//, '');
      if (!/^\d+$/.test(tag)) throw new PayloadError(`implement-network: vlan "${f.vlan}" is not a number`);
      const cidr = f.cidr as string;
      netmaskOf(cidr);
      const previous = state.networks[networkId];
      const network: EventNetwork = {
        id: networkId,
        zoneId: f.zone_id ?? '',
        isolation,
        tag: Number(tag),
        cidr,
        gateway: f.gateway as string,
        shutdown: false,
        ...(previous?.egressDefaultAllow === undefined
          ? {}
          : { egressDefaultAllow: previous.egressDefaultAllow }),
      };
      return { ...state, networks: { ...state.networks, [networkId]: network } };
    }
    case 'shutdown-network': {
      const network = state.networks[networkId];
      if (!network) return state;
      return { ...state, networks: { ...state.networks, [networkId]: { ...network, shutdown: true } } };
    }
    case 'destroy-network': {
      const other = (_: string, v: { networkId?: string }) => v.networkId !== networkId;
      return {
        ...state,
        networks: without(state.networks, (k) => k !== networkId),
        nics: without(state.nics, other),
        publicIps: without(state.publicIps, other),
        portForwards: without(state.portForwards, other),
        firewall: without(state.firewall, (k) => k !== networkId),
        egress: without(state.egress, (k) => k !== networkId),
        loadBalancers: without(state.loadBalancers, (k) => k !== networkId),
        vmData: without(state.vmData ?? {}, (k) => !k.startsWith(`${networkId}/`)),
      };
    }
    case 'restore-network': {
      // Rebuilt from what the router persisted: the next cycle plans the network from scratch.
      const network = requireNetwork(state, event);
      return { ...state, networks: { ...state.networks, [networkId]: { ...network, shutdown: false } } };
    }
    case 'prepare-nic':
    case 'add-dhcp-entry':
    case 'add-dns-entry': {
      requireNetwork(state, event);
      const key = `${networkId}/${(f.mac as string).toLowerCase()}`;
      const nic = nicFromEvent(event, state.nics[key]);
      // One address, one NIC: a NIC that moved to another MAC replaces the old entry.
      const nics = without(
        state.nics,
        (k, v) => k === key || !(v.networkId === networkId && v.ip === nic.ip),
      );
      return { ...state, nics: { ...nics, [key]: nic } };
    }
    case 'release-nic':
    case 'remove-dhcp-entry': {
      const key = `${networkId}/${(f.mac as string).toLowerCase()}`;
      const gone = state.nics[key];
      // The VM's data goes with its NIC: CloudStack sends save-vm-data again when the NIC comes back.
      const vmData = gone
        ? without(state.vmData ?? {}, (k) => k !== `${networkId}/${gone.ip}`)
        : (state.vmData ?? {});
      return { ...state, nics: without(state.nics, (k) => k !== key), vmData };
    }
    case 'remove-dns-entry': {
      const key = `${networkId}/${(f.mac as string).toLowerCase()}`;
      const nic = state.nics[key];
      if (!nic) return state;
      return { ...state, nics: { ...state.nics, [key]: { ...nic, hostname: nic.vmId } } };
    }
    case 'assign-ip': {
      requireNetwork(state, event);
      const address = f.public_ip as string;
      const previous = state.publicIps[address];
      const ip: PublicIp = {
        ...previous,
        id: publicIpId(address),
        address,
        networkId,
        state: 'Allocated',
        isSourceNat: f.source_nat === 'true' || previous?.isSourceNat === true,
      };
      return { ...state, publicIps: { ...state.publicIps, [address]: ip } };
    }
    case 'release-ip': {
      const address = f.public_ip as string;
      return {
        ...state,
        publicIps: without(state.publicIps, (k) => k !== address),
        portForwards: without(state.portForwards, (_, v) => v.publicIpId !== publicIpId(address)),
      };
    }
    case 'add-static-nat': {
      requireNetwork(state, event);
      const address = f.public_ip as string;
      const privateIp = f.private_ip as string;
      const nic = ruleTargetNic(state, 'add-static-nat', networkId, privateIp);
      const previous = state.publicIps[address];
      const ip: PublicIp = {
        ...previous,
        id: publicIpId(address),
        address,
        networkId,
        state: 'Allocated',
        isStaticNat: true,
        vmId: nic.vmId,
        vmIpAddress: privateIp,
      };
      return { ...state, publicIps: { ...state.publicIps, [address]: ip } };
    }
    case 'delete-static-nat': {
      const address = f.public_ip as string;
      const previous = state.publicIps[address];
      if (!previous) return state;
      const { isStaticNat: _s, vmId: _v, vmIpAddress: _a, ...rest } = previous;
      return { ...state, publicIps: { ...state.publicIps, [address]: rest } };
    }
    case 'add-port-forward': {
      requireNetwork(state, event);
      const address = f.public_ip as string;
      const privateIp = f.private_ip as string;
      const nic = ruleTargetNic(state, 'add-port-forward', networkId, privateIp);
      const [publicStartPort, publicEndPort] = portRange(f.public_port as string, 'public_port');
      const [privateStartPort, privateEndPort] = portRange(f.private_port as string, 'private_port');
      const protocol = (f.protocol as string).toLowerCase();
      const key = `${address}/${protocol}/${publicStartPort}`;
      const rule = {
        id: `pf:${key}`,
        publicIpId: publicIpId(address),
        protocol,
        publicStartPort,
        publicEndPort,
        privateStartPort,
        privateEndPort,
        vmId: nic.vmId,
        vmGuestIp: privateIp,
        privateIp,
        networkId,
        cidrs: [],
        state: 'Active',
      };
      // The address must be one the router answers for: a port forward implies the address is assigned.
      const publicIps = state.publicIps[address]
        ? state.publicIps
        : {
            ...state.publicIps,
            [address]: { id: publicIpId(address), address, networkId, state: 'Allocated' },
          };
      return { ...state, publicIps, portForwards: { ...state.portForwards, [key]: rule } };
    }
    case 'delete-port-forward': {
      const [start] = portRange(f.public_port as string, 'public_port');
      const key = `${f.public_ip}/${(f.protocol as string).toLowerCase()}/${start}`;
      return { ...state, portForwards: without(state.portForwards, (k) => k !== key) };
    }
    case 'apply-fw-rules': {
      const network = requireNetwork(state, event);
      const { ingress, egress, defaultEgressAllow } = firewallRules(event);
      const updated: EventNetwork =
        defaultEgressAllow === undefined ? network : { ...network, egressDefaultAllow: defaultEgressAllow };
      return {
        ...state,
        networks: { ...state.networks, [networkId]: updated },
        firewall: { ...state.firewall, [networkId]: ingress },
        egress: { ...state.egress, [networkId]: egress },
      };
    }
    case 'apply-lb-rules': {
      requireNetwork(state, event);
      return { ...state, loadBalancers: { ...state.loadBalancers, [networkId]: lbRules(event, state) } };
    }
    case 'save-vm-data':
      return setVmData(state, event, (d) => vmDataFromEntries(event, d));
    case 'save-password':
      // The password itself goes to the pending-password store (passwordOf); the NIC must be known.
      requireNetwork(state, event);
      if (vmIdOf(state, networkId, f.ip as string) === undefined) {
        throw new PayloadError(`save-password: no NIC with address ${f.ip} in network ${networkId}`);
      }
      return state;
    case 'save-userdata':
      return setVmData(state, event, (d) => ({ ...d, userData: userDataValue(f.userdata ?? '') }));
    case 'save-sshkey':
      return setVmData(state, event, (d) => ({ ...d, publicKeys: f.sshkey?.trim() || undefined }));
    case 'save-hypervisor-hostname':
      return setVmData(state, event, (d) => ({ ...d, hypervisorHost: f.hypervisor_hostname }));
    case 'config-dhcp-subnet':
    case 'config-dns-subnet': {
      // Sent before every add-dhcp-entry (when DhcpAccrossMultipleSubnets is declared) and every
      // add-dns-entry, naming the network's own gateway and CIDR: that subnet is served on the
      // network's link from implement-network on. Another one cannot be: the payload does not name it.
      const network = requireNetwork(state, event);
      if (f.cidr !== undefined && f.cidr !== '' && f.cidr !== network.cidr) {
        throw new PayloadError(
          `${event.command}: network ${networkId} is served as ${network.cidr}; a second subnet (${f.cidr}) on the same network is not provided`,
        );
      }
      return state;
    }
    case 'remove-dhcp-subnet':
    case 'remove-dns-subnet':
      // The network's own subnet stays served until shutdown-network or destroy-network.
      return state;
  }
}

/** The inventory the poller would build for the same CloudStack state; shut-down networks are left out. */
export function toInventory(state: EventState, fetchedAt = Date.now()): Inventory {
  const live = Object.values(state.networks).filter((n) => !n.shutdown);
  const liveIds = new Set(live.map((n) => n.id));
  const networks: GuestNetwork[] = live.map((n) => ({
    id: n.id,
    name: `network-${n.id}`,
    zoneId: n.zoneId,
    isolation: n.isolation === 'vlan' ? { kind: 'vlan', id: n.tag } : { kind: 'vxlan', vni: n.tag },
    broadcastUri: `${n.isolation}://${n.tag}`,
    cidr: n.cidr,
    gateway: n.gateway,
    netmask: netmaskOf(n.cidr),
    services: [],
    tags: [],
    state: 'Implemented',
    ...(n.egressDefaultAllow === undefined ? {} : { egressDefaultAllow: n.egressDefaultAllow }),
  }));
  const nics: VmNic[] = Object.values(state.nics)
    .filter((n) => liveIds.has(n.networkId))
    .map((n) => {
      const d = state.vmData?.[`${n.networkId}/${n.ip}`] ?? {};
      return {
        vmId: d.vmId ?? n.vmId,
        vmName: d.vmName ?? n.hostname,
        hostname: n.hostname,
        networkId: n.networkId,
        macAddress: n.mac,
        ipAddress: n.ip,
        isDefault: n.isDefault,
        state: 'Running',
        ...(d.zoneName === undefined ? {} : { zoneName: d.zoneName }),
        ...(d.serviceOfferingName === undefined ? {} : { serviceOfferingName: d.serviceOfferingName }),
        ...(d.hypervisorHost === undefined ? {} : { hypervisorHost: d.hypervisorHost }),
        ...(d.publicKeys === undefined
          ? {}
          : { publicKeys: d.publicKeys.split('\n').filter((k) => k.trim()) }),
      };
    });
  // Rules recorded before save-vm-data named the VM point at the NIC's provisional id: follow the rename.
  const renamed = new Map<string, string>();
  for (const n of Object.values(state.nics)) {
    const id = state.vmData?.[`${n.networkId}/${n.ip}`]?.vmId;
    if (id !== undefined && id !== n.vmId) renamed.set(n.vmId, id);
  }
  const vm = <T extends { vmId?: string }>(v: T): T =>
    v.vmId !== undefined && renamed.has(v.vmId) ? { ...v, vmId: renamed.get(v.vmId) } : v;
  const inLive = (v: { networkId?: string }) => v.networkId !== undefined && liveIds.has(v.networkId);
  const perNetwork = <T>(record: Readonly<Record<string, readonly T[]>>) =>
    Object.entries(record)
      .filter(([id]) => liveIds.has(id))
      .flatMap(([, rules]) => rules);
  const zones = [...new Set(live.map((n) => n.zoneId))].map((id) => ({ id, name: id }));
  return {
    zones,
    networks,
    nics,
    publicIps: Object.values(state.publicIps).filter(inLive).map(vm),
    rules: {
      portForwards: Object.values(state.portForwards)
        .filter(inLive)
        .map(({ privateIp: _p, ...rule }) => vm(rule)),
      firewall: perNetwork(state.firewall),
      egress: perNetwork(state.egress),
      loadBalancers: perNetwork(state.loadBalancers).map(({ memberIps: _m, ...rule }) => ({
        ...rule,
        members: rule.members.map(vm),
      })),
    },
    fetchedAt,
  };
}
