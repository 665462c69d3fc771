import type { DesiredState } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import type { CurrentState } from '../kernel/types.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { Plan } from '../plan/types.js';
import type { OwnedProcessHealth } from '../services/owned-process.js';
import type { ServingNetwork } from '../services/serving.js';
import { mapBounded, type Pinger } from './status.js';

/** What one reconcile cycle hands the status board. */
export interface CycleObservation {
  /** ISO time the cycle ended. */
  readonly at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly changes: number;
  readonly error?: string;
  /** Present when the inventory was fetched and the kernel read (absent on a failed fetch). */
  readonly seen?: {
    readonly inventory: Inventory;
    readonly desired: DesiredState;
    readonly current: CurrentState;
    readonly plan: Plan;
    readonly serving: readonly ServingNetwork[];
  };
  /** The daemons run owns, by name (`dnsmasq-<link>` ...). */
  readonly processes: Readonly<Record<string, OwnedProcessHealth>>;
  /** Services that follow the served networks without a process of their own (meta data ...). */
  readonly networkServices: readonly string[];
}

export interface ServiceState {
  /** `running`, `stopped`, `failed`, `serving` ... as the service says it. */
  readonly state: string;
  readonly detail?: string;
}

export interface VmRow {
  readonly vmId: string;
  readonly vmName: string;
  readonly ipAddress: string;
  readonly state?: string;
  /** Answered the last check; null when not checked (network not served, VM not running). */
  readonly answered: boolean | null;
  readonly checkedAt?: string;
}

export interface NetworkRow {
  readonly networkId: string;
  readonly networkName: string;
  /** served: the router holds its gateway; kept: refused now but left as it was; refused: not served. */
  readonly state: 'served' | 'kept' | 'refused' | 'not-served';
  readonly reason?: string;
  readonly link?: string;
  readonly linkUp?: boolean;
  readonly gateway?: string;
  readonly cidr?: string;
  /** Service name to state; a service added later (NAT, LB) appears by adding its key. */
  readonly services: Readonly<Record<string, ServiceState>>;
  readonly vms: readonly VmRow[];
}

export interface CycleRow {
  readonly at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly changes: number;
  readonly error?: string;
}

export interface RouterStatus {
  readonly generatedAt: string;
  /** Router-wide facts (HA role, ...) as name to text; shown as they come. */
  readonly router: Readonly<Record<string, string>>;
  readonly networks: readonly NetworkRow[];
  readonly cycles: readonly CycleRow[];
  readonly processes: Readonly<Record<string, OwnedProcessHealth>>;
}

const KEPT_CYCLES = 20;

/**
 * What `run` shows on its status page: the last cycle's networks, the VMs and whether they
 * answered the last check, the services per network and the last cycles. Fed by the controller
 * after each cycle; a failed fetch keeps the last networks seen (and says so in the cycles).
 */
export class StatusBoard {
  private readonly cycles: CycleRow[] = [];
  private networks: NetworkRow[] = [];
  private processes: Readonly<Record<string, OwnedProcessHealth>> = {};
  private readonly answers = new Map<string, { answered: boolean; at: string }>();
  private checking: Promise<void> | undefined;
  readonly router: Record<string, string> = {};

  constructor(
    private readonly ping?: Pinger,
    private readonly pingConcurrency = 8,
  ) {}

  observe(c: CycleObservation): void {
    const { at, ms, ok, changes, error } = c;
    this.cycles.push({ at, ms, ok, changes, ...(error === undefined ? {} : { error }) });
    if (this.cycles.length > KEPT_CYCLES) this.cycles.shift();
    this.processes = c.processes;
    if (c.seen === undefined) return;
    this.networks = networkRows(c.seen, c.processes, c.networkServices);
    if (this.ping !== undefined && this.checking === undefined) {
      this.checking = this.check().finally(() => {
        this.checking = undefined;
      });
    }
  }

  /** Waits for the VM check in flight, if any (tests; shutdown). */
  async settled(): Promise<void> {
    await this.checking;
  }

  snapshot(): RouterStatus {
    return {
      generatedAt: new Date().toISOString(),
      router: { ...this.router },
      networks: this.networks.map((n) => ({
        ...n,
        vms: n.vms.map((vm) => {
          const a = this.answers.get(vm.ipAddress);
          return a === undefined || !isCheckable(n, vm)
            ? vm
            : { ...vm, answered: a.answered, checkedAt: a.at };
        }),
      })),
      cycles: [...this.cycles].reverse(),
      processes: this.processes,
    };
  }

  /** One ping per running VM of a served or kept network, bounded; a check at a time. */
  private async check(): Promise<void> {
    const ping = this.ping as Pinger;
    const targets = [
      ...new Set(
        this.networks.flatMap((n) => n.vms.filter((vm) => isCheckable(n, vm)).map((vm) => vm.ipAddress)),
      ),
    ];
    const results = await mapBounded(targets, this.pingConcurrency, async (address) => ({
      address,
      answered: await ping(address).catch(() => false),
    }));
    const at = new Date().toISOString();
    this.answers.clear();
    for (const r of results) this.answers.set(r.address, { answered: r.answered, at });
  }
}

function isCheckable(n: NetworkRow, vm: VmRow): boolean {
  return (
    (n.state === 'served' || n.state === 'kept') &&
    n.linkUp === true &&
    vm.ipAddress !== '' &&
    (vm.state === undefined || vm.state.toLowerCase() === 'running')
  );
}

/** Pure: one row per guest network of the inventory, from what the cycle saw. */
export function networkRows(
  seen: NonNullable<CycleObservation['seen']>,
  processes: Readonly<Record<string, OwnedProcessHealth>>,
  networkServices: readonly string[],
): NetworkRow[] {
  const serving = new Map(seen.serving.map((s) => [s.networkId, s]));
  const refused = new Map(seen.plan.refused.map((r) => [r.networkId, r.message]));
  const links = new Map(seen.desired.links.map((l) => [l.networkId, l]));
  const skipped = new Map(seen.desired.skipped.map((s) => [s.networkId, s]));
  return seen.inventory.networks.map((network) => {
    const s = serving.get(network.id);
    const link = s?.link ?? links.get(network.id)?.name;
    const kernel = link === undefined ? undefined : seen.current.links.get(link);
    const state: NetworkRow['state'] =
      s !== undefined ? (s.kept ? 'kept' : 'served') : refused.has(network.id) ? 'refused' : 'not-served';
    const reason =
      refused.get(network.id) ??
      (skipped.has(network.id) ? 'not selected by the configuration (networks.*)' : undefined);
    const services: Record<string, ServiceState> = {};
    if (link !== undefined) {
      const dnsmasq = processes[`dnsmasq-${link}`];
      if (dnsmasq !== undefined) {
        services['DHCP/DNS'] = {
          state: dnsmasq.state,
          ...(dnsmasq.error
            ? { detail: dnsmasq.error }
            : dnsmasq.pid
              ? { detail: `pid ${dnsmasq.pid}` }
              : {}),
        };
      }
    }
    if (s !== undefined) for (const name of networkServices) services[name] = { state: 'serving' };
    const vms = seen.inventory.nics
      .filter((nic) => nic.networkId === network.id)
      .map((nic) => ({
        vmId: nic.vmId,
        vmName: nic.vmName,
        ipAddress: nic.ipAddress,
        ...(nic.state === undefined ? {} : { state: nic.state }),
        answered: null,
      }));
    return {
      networkId: network.id,
      networkName: network.name,
      state,
      ...(reason === undefined ? {} : { reason }),
      ...(link === undefined ? {} : { link }),
      ...(kernel === undefined ? {} : { linkUp: kernel.up }),
      ...(s === undefined
        ? {}
        : { gateway: s.gateway, cidr: `${formatIpv4(s.cidr.network)}/${s.cidr.prefix}` }),
      services,
      vms,
    };
  });
}
