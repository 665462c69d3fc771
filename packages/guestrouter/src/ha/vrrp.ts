/**
 * Pure: the served guest links -> the VRRP instances keepalived runs, and keepalived's
 * configuration text. No I/O here (the service in keepalived.ts writes and loads it).
 *
 * One instance per guest network, its virtual router id derived from the network's VNI or VLAN id
 * (`id % 255 + 1`), so both routers compute the same id without talking to each other and an
 * existing network keeps its id when others are added. Networks whose ids collide share one
 * instance (they fail over together) instead of being refused: every served gateway has a master.
 */
import type { DesiredLink } from '../desired/types.js';

export interface HaSettings {
  /** keepalived's router_id (logs); defaults to the host name. */
  readonly routerId: string;
  /** 1-254; the higher takes the master role in an election. */
  readonly priority: number;
  /** Interface the VRRP adverts use (default: the trunk); the gateway addresses live on the guest links. */
  readonly interface: string;
  /** Unicast peers (the other router's address on `interface`); empty: multicast 224.0.0.18. */
  readonly peers: readonly string[];
  /** Source of unicast adverts; unset: keepalived takes the interface's primary address. */
  readonly sourceAddress?: string;
  /** VRRP PASS authentication (8 characters at most); unset: none. */
  readonly authPass?: string;
  /** Advert interval in seconds (fractions: VRRPv3); the backup takes over after about 3 intervals without one. */
  readonly advertIntervalSeconds: number;
  /** A backup does not take the role back from a live master with lower priority (the Virtual Router's way). */
  readonly nopreempt: boolean;
  /** How many VRRP instances at most (1-255, default 255): networks share an instance by `id % groups`. */
  readonly instanceGroups?: number;
}

export interface VirtualAddress {
  readonly address: string;
  readonly dev: string;
  readonly label?: string;
}

/** A NAT public address of a network, answered on the uplink by that network's master only. */
export interface UplinkAddress {
  readonly address: string;
  readonly networkId: string;
}

export interface UplinkAddresses {
  readonly uplink: string;
  /** `<uplink>:gr`: the label guestrouter's public addresses carry (see publicip/publicip.ts). */
  readonly label: string;
  readonly addresses: readonly UplinkAddress[];
}

export interface VrrpInstance {
  /** `gr_<vrid>`: the name keepalived, the state files and the metrics use. */
  readonly name: string;
  readonly vrid: number;
  /**
   * The gateway addresses (`10.1.0.1/24`) and the guest link each lives on, then the network's NAT
   * public addresses (`/32` on the uplink, with the label that marks them as guestrouter's).
   */
  readonly addresses: readonly VirtualAddress[];
  readonly networkIds: readonly string[];
}

/**
 * The VRRP virtual router id of a guest link: its VNI or VLAN id folded into 1..`groups` (255: one
 * instance per network up to 255 networks; fewer: networks grouped, fewer adverts and transitions).
 */
export function vridFor(link: DesiredLink, groups = 255): number {
  const id = link.spec.kind === 'vxlan' ? link.spec.vni : link.spec.id;
  return (id % groups) + 1;
}

export function instanceName(vrid: number): string {
  return `gr_${vrid}`;
}

/**
 * Groups the links by virtual router id; instances and their addresses sorted, so the text is stable.
 * A network's NAT public addresses join its instance as uplink addresses: the router that is master
 * for the network holds them (answers ARP, keepalived sends gratuitous ARP on becoming master) and
 * the backup does not, so the internet side follows the master as the guest side does. With
 * `groups` below 255 a group's instance carries the guest and NAT addresses of all its networks.
 */
export function vrrpInstances(
  links: readonly DesiredLink[],
  uplink?: UplinkAddresses,
  groups = 255,
): VrrpInstance[] {
  const byVrid = new Map<number, { addresses: VirtualAddress[]; networkIds: string[] }>();
  const vridOfNetwork = new Map<string, number>();
  for (const link of links) {
    const vrid = vridFor(link, groups);
    const entry = byVrid.get(vrid) ?? { addresses: [], networkIds: [] };
    for (const address of link.addresses) entry.addresses.push({ address, dev: link.name });
    entry.networkIds.push(link.networkId);
    byVrid.set(vrid, entry);
    vridOfNetwork.set(link.networkId, vrid);
  }
  const seen = new Set<string>();
  for (const a of uplink?.addresses ?? []) {
    const vrid = vridOfNetwork.get(a.networkId);
    // An address of a network not served here, or already given to another instance, is not added twice.
    if (vrid === undefined || !uplink || seen.has(a.address)) continue;
    seen.add(a.address);
    byVrid.get(vrid)?.addresses.push({ address: `${a.address}/32`, dev: uplink.uplink, label: uplink.label });
  }
  const order = (a: VirtualAddress) => (a.label === undefined ? 0 : 1);
  return [...byVrid.entries()]
    .sort(([a], [b]) => a - b)
    .map(([vrid, e]) => ({
      name: instanceName(vrid),
      vrid,
      addresses: e.addresses.sort(
        (a, b) => order(a) - order(b) || a.dev.localeCompare(b.dev) || a.address.localeCompare(b.address),
      ),
      networkIds: e.networkIds.sort(),
    }));
}

export interface RenderOptions {
  /** Script keepalived runs on every state change (`INSTANCE <name> <STATE> <priority>`). */
  readonly notifyScript: string;
  /** Also run on becoming master, backup or fault (`<hook> primary|backup|fault`): conntrackd's commit. */
  readonly transitionHook?: string;
}

/** keepalived.conf for the instances. */
export function renderKeepalivedConfig(
  instances: readonly VrrpInstance[],
  ha: HaSettings,
  options: RenderOptions,
): string {
  const lines: string[] = [
    '# Written by guestrouter (run); changes here are overwritten.',
    'global_defs {',
    `  router_id ${ha.routerId}`,
    // The notify script is root's own file in guestrouter's state dir.
    '  script_user root',
    '  enable_script_security',
    // Gratuitous ARP on becoming master, repeated: the hypervisors' bridges and the VMs learn the
    // new router at once (both routers carry the same gateway MAC, only its location moves).
    '  vrrp_garp_master_delay 1',
    '  vrrp_garp_master_repeat 3',
    '  vrrp_garp_master_refresh 10',
    '  vrrp_garp_lower_prio_repeat 1',
    '}',
  ];
  for (const instance of instances) {
    lines.push(
      '',
      `vrrp_instance ${instance.name} {`,
      // With nopreempt keepalived requires the initial state BACKUP; an election decides the master.
      '  state BACKUP',
      `  interface ${ha.interface}`,
      `  virtual_router_id ${instance.vrid}`,
      `  priority ${ha.priority}`,
      `  advert_int ${ha.advertIntervalSeconds}`,
    );
    // Sub-second adverts exist only in VRRP version 3 (which has no authentication).
    if (!Number.isInteger(ha.advertIntervalSeconds)) lines.push('  version 3');
    if (ha.nopreempt) lines.push('  nopreempt');
    if (ha.peers.length > 0) {
      if (ha.sourceAddress) lines.push(`  unicast_src_ip ${ha.sourceAddress}`);
      lines.push('  unicast_peer {', ...ha.peers.map((p) => `    ${p}`), '  }');
    }
    if (ha.authPass) {
      lines.push('  authentication {', '    auth_type PASS', `    auth_pass ${ha.authPass}`, '  }');
    }
    // A guest link that goes down puts its instance in FAULT: the other router takes that network.
    // The uplink is not tracked (one uplink down would put every instance in FAULT on both routers alike).
    const devs = [...new Set(instance.addresses.filter((a) => a.label === undefined).map((a) => a.dev))];
    lines.push('  track_interface {', ...devs.map((d) => `    ${d}`), '  }');
    lines.push(
      '  virtual_ipaddress {',
      ...instance.addresses.map(
        (a) => `    ${a.address} dev ${a.dev}${a.label === undefined ? '' : ` label ${a.label}`}`,
      ),
      '  }',
      `  notify ${options.notifyScript}`,
    );
    if (options.transitionHook) {
      const hook = options.transitionHook;
      lines.push(
        `  notify_master "${hook} primary"`,
        `  notify_backup "${hook} backup"`,
        `  notify_fault "${hook} fault"`,
      );
    }
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

/** The notify script: one state file per instance (atomic rename) and one line per transition. */
export function renderNotifyScript(stateDir: string): string {
  return [
    '#!/bin/sh',
    '# Written by guestrouter: keepalived calls it as: notify TYPE NAME STATE PRIORITY',
    `dir=${shellQuote(stateDir)}`,
    'case "$2" in *[!A-Za-z0-9_]*|"") exit 0;; esac',
    'now=$(date +%s)',
    'printf \'%s %s\\n\' "$3" "$now" > "$dir/$2.tmp" && mv -f "$dir/$2.tmp" "$dir/$2"',
    'printf \'%s %s %s\\n\' "$now" "$2" "$3" >> "$dir/transitions"',
    '',
  ].join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

export type VrrpRole = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'UNKNOWN';

/** Parses one state file (`MASTER 1764521000`). */
export function parseStateFile(text: string): { role: VrrpRole; since?: number } {
  const [word, at] = text.trim().split(/\s+/);
  const role: VrrpRole =
    word === 'MASTER' || word === 'BACKUP' || word === 'FAULT' || word === 'STOP' ? word : 'UNKNOWN';
  const since = Number(at);
  return Number.isFinite(since) && since > 0 ? { role, since } : { role };
}

/** Parses the transitions log (`<epoch> <instance> <STATE>` per line); malformed lines are skipped. */
export function parseTransitions(text: string): { at: number; instance: string; role: VrrpRole }[] {
  const out: { at: number; instance: string; role: VrrpRole }[] = [];
  for (const line of text.split('\n')) {
    const [at, instance, state] = line.trim().split(/\s+/);
    if (!at || !instance || !state) continue;
    const role = parseStateFile(state).role;
    if (Number.isFinite(Number(at))) out.push({ at: Number(at), instance, role });
  }
  return out;
}
