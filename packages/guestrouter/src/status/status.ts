import type { DesiredState } from '../desired/types.js';
import type { Inventory, VmNic } from '../inventory/types.js';
import type { CurrentState } from '../kernel/types.js';
import type { Plan } from '../plan/types.js';

export interface VmStatus {
  readonly vmId: string;
  readonly vmName: string;
  readonly hostname: string;
  readonly ipAddress: string;
  readonly macAddress: string;
  /** The VM's state in CloudStack (Running, Stopped ...), when the API gave it. */
  readonly state?: string;
  /** Answered one ping from the router; null when not pinged (network not served, or VM not Running). */
  readonly reachable: boolean | null;
}

export interface NetworkStatus {
  readonly networkId: string;
  readonly networkName: string;
  readonly interface?: string;
  readonly present: boolean;
  readonly up: boolean;
  readonly addresses: readonly string[];
  readonly refused?: string;
  readonly vms: readonly VmStatus[];
}

/** Answers whether an address replies to ping from the router. */
export type Pinger = (address: string) => Promise<boolean>;

/** Runs tasks with at most `limit` in flight; order of results follows the input. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A stopped VM cannot answer: it is listed but not pinged. */
function isPingable(nic: VmNic): boolean {
  return nic.ipAddress !== '' && (nic.state === undefined || nic.state.toLowerCase() === 'running');
}

/** The seed's checks, per network: the interface, its address, the VMs CloudStack knows, and which answer ping. */
export async function networkStatus(
  inventory: Inventory,
  desired: DesiredState,
  current: CurrentState,
  plan: Plan,
  ping: Pinger,
  concurrency: number,
): Promise<NetworkStatus[]> {
  const linkByNetwork = new Map(desired.links.map((l) => [l.networkId, l]));
  const refusedByNetwork = new Map(plan.refused.map((r) => [r.networkId, r.message]));
  const skipped = new Set(desired.skipped.map((s) => s.networkId));
  const rows = inventory.networks
    .filter((n) => !skipped.has(n.id))
    .map((network) => {
      const link = refusedByNetwork.has(network.id) ? undefined : linkByNetwork.get(network.id);
      const kernelLink = link ? current.links.get(link.name) : undefined;
      const nics = inventory.nics.filter((nic) => nic.networkId === network.id);
      return { network, link, kernelLink, nics };
    });
  const targets = rows.flatMap((row) =>
    row.kernelLink?.up ? row.nics.filter(isPingable).map((nic) => nic.ipAddress) : [],
  );
  const answers = await mapBounded(
    [...new Set(targets)],
    concurrency,
    async (ip) => [ip, await ping(ip)] as const,
  );
  const reachable = new Map(answers);
  return rows.map(({ network, link, kernelLink, nics }) => ({
    networkId: network.id,
    networkName: network.name,
    ...(link ? { interface: link.name } : {}),
    present: kernelLink !== undefined,
    up: kernelLink?.up ?? false,
    addresses: kernelLink?.addresses ?? [],
    ...(refusedByNetwork.has(network.id) ? { refused: refusedByNetwork.get(network.id) as string } : {}),
    vms: nics.map((nic) => ({
      vmId: nic.vmId,
      vmName: nic.vmName,
      hostname: nic.hostname,
      ipAddress: nic.ipAddress,
      macAddress: nic.macAddress,
      ...(nic.state ? { state: nic.state } : {}),
      reachable: isPingable(nic) ? (reachable.get(nic.ipAddress) ?? null) : null,
    })),
  }));
}

/** Why a VM was not pinged, so `not checked` never leaves the operator guessing. */
function notCheckedReason(row: NetworkStatus, vm: VmStatus): string {
  if (vm.state && vm.state.toLowerCase() !== 'running') return vm.state;
  if (row.refused) return 'network refused';
  if (!row.present) return 'interface absent: run guestrouter apply';
  if (!row.up) return 'interface down';
  return 'no IPv4 address';
}

function networkState(row: NetworkStatus): string {
  return row.refused ? 'refused' : row.present ? (row.up ? 'up' : 'down') : 'absent';
}

export function formatStatus(rows: readonly NetworkStatus[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(
      `${row.networkName} (${row.networkId}) ${row.interface ?? '-'} ${networkState(row)} ${row.addresses.join(',') || '-'} vms=${row.vms.length}`,
    );
    if (row.refused) lines.push(`  ${row.refused}`);
    for (const vm of row.vms) {
      const answer =
        vm.reachable === null
          ? `not checked (${notCheckedReason(row, vm)})`
          : vm.reachable
            ? 'answers'
            : 'no answer';
      lines.push(`  ${vm.vmName} ${vm.ipAddress} ${vm.macAddress} ${answer}`);
    }
  }
  const vms = rows.flatMap((row) => row.vms);
  const count = (state: string) => rows.filter((row) => networkState(row) === state).length;
  lines.push(
    `${rows.length} networks: ${count('up')} up, ${count('down')} down, ${count('absent')} absent, ${count('refused')} refused; ` +
      `${vms.length} VMs: ${vms.filter((vm) => vm.reachable === true).length} answer, ` +
      `${vms.filter((vm) => vm.reachable === false).length} no answer, ${vms.filter((vm) => vm.reachable === null).length} not checked`,
  );
  return lines.join('\n');
}
