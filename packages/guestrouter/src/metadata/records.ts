import type { DesiredState } from '../desired/types.js';
import type { Inventory, VmNic } from '../inventory/types.js';

/**
 * What one VM NIC is served: its meta data in the Virtual Router's order, its
 * user data, and what a request must come from to get them (the NIC's address
 * and MAC on the link of its network, addressed to that network's gateway).
 */
export interface VmRecord {
  readonly vmId: string;
  readonly vmName: string;
  readonly ip: string;
  readonly mac: string;
  /** The router's interface for the NIC's network (e.g. `vxlan5001`). */
  readonly link: string;
  readonly gateway: string;
  /** Key and value, in the order the index lists them. Only keys that can be served. */
  readonly metaData: readonly (readonly [string, string])[];
  /** The bytes CloudStack holds (base64-decoded); null: the VM has none; undefined: not fetched yet. */
  readonly userData: Buffer | null | undefined;
}

export interface RecordOptions {
  /** CloudStack's `cloud.identifier`; without it `cloud-identifier` is not listed. */
  readonly cloudIdentifier?: string;
}

/** User data per VM id, as fetched: bytes, or null for "none". */
export type UserDataLookup = (vmId: string) => Buffer | null | undefined;

/** The `public-keys` text of a VM NIC's VM, or undefined when it has none that can be served. */
export type PublicKeyLookup = (nic: VmNic) => string | undefined;

/**
 * A meta data key name that can be listed and served: the Virtual Router writes each key as a file,
 * and cloud-init's EC2 crawler reads a trailing `/` as a directory and `=` as a key index, so a
 * user data variable named otherwise is not listed (cloud-init would drop all meta data on it).
 */
export const SERVABLE_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The keys CloudStack writes for every VM; a user data variable of the same name is not listed twice. */
const STANDARD_KEYS = new Set([
  'service-offering',
  'availability-zone',
  'local-ipv4',
  'local-hostname',
  'public-ipv4',
  'public-hostname',
  'instance-id',
  'vm-id',
  'public-keys',
  'cloud-identifier',
  'hypervisor-host-name',
]);

/**
 * The meta data CloudStack's management server writes for a VM (its
 * generateVmData), limited to what the API gives guestrouter: a key whose
 * value is unknown is left out, never listed empty, because cloud-init drops
 * all meta data when one listed key fails. `public-keys` is listed only when
 * the VM's keys are known (from listSSHKeyPairs for its key pairs, or from the
 * extension's save-vm-data and save-sshkey); the user data variables
 * (`userdatadetails`) where CloudStack puts them, after `local-hostname`.
 */
export function metaDataFor(
  nic: VmNic,
  staticNatAddress: string | undefined,
  options: RecordOptions,
  publicKeys?: string,
): [string, string][] {
  const out: [string, string][] = [];
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined && value !== '') out.push([key, value]);
  };
  add('service-offering', nic.serviceOfferingName);
  add('availability-zone', nic.zoneName);
  add('local-ipv4', nic.ipAddress);
  add('local-hostname', nic.hostname);
  for (const [key, value] of nic.userDataDetails ?? []) {
    if (SERVABLE_KEY.test(key) && !STANDARD_KEYS.has(key) && !out.some(([k]) => k === key)) add(key, value);
  }
  // Without a static NAT address CloudStack gives the NIC's address and the VM's name (shared networks).
  add('public-ipv4', staticNatAddress ?? nic.ipAddress);
  add('public-hostname', staticNatAddress ?? nic.hostname);
  add('instance-id', nic.vmId);
  add('vm-id', nic.vmId);
  add('public-keys', publicKeys);
  if (options.cloudIdentifier !== undefined)
    add('cloud-identifier', `CloudStack-{${options.cloudIdentifier}}`);
  add('hypervisor-host-name', nic.hypervisorHost);
  return out;
}

/**
 * One record per VM NIC of a served network, keyed by the NIC's address.
 * Pure: inventory, desired links and the user data fetched so far in; the
 * index the servers answer from out. NICs of networks not served, and a
 * second NIC claiming an address already taken, are left out (with why).
 */
export function buildRecords(
  desired: DesiredState,
  inventory: Inventory,
  userData: UserDataLookup,
  options: RecordOptions = {},
  publicKeys: PublicKeyLookup = (nic) => nic.publicKeys?.join('\n'),
): { records: Map<string, VmRecord>; skipped: string[] } {
  const networks = new Map(inventory.networks.map((n) => [n.id, n]));
  const linkOf = new Map(desired.links.map((l) => [l.networkId, l.name]));
  const staticNat = new Map<string, string>();
  for (const ip of inventory.publicIps) if (ip.vmId !== undefined) staticNat.set(ip.vmId, ip.address);
  const records = new Map<string, VmRecord>();
  const skipped: string[] = [];
  for (const nic of inventory.nics) {
    const link = linkOf.get(nic.networkId);
    const network = networks.get(nic.networkId);
    if (link === undefined || network === undefined) continue;
    if (records.has(nic.ipAddress)) {
      skipped.push(
        `VM ${nic.vmName} (${nic.vmId}) NIC ${nic.ipAddress}: address already served to another NIC`,
      );
      continue;
    }
    records.set(nic.ipAddress, {
      vmId: nic.vmId,
      vmName: nic.vmName,
      ip: nic.ipAddress,
      mac: nic.macAddress.toLowerCase(),
      link,
      gateway: network.gateway,
      metaData: metaDataFor(nic, staticNat.get(nic.vmId), options, publicKeys(nic)),
      userData: userData(nic.vmId),
    });
  }
  return { records, skipped };
}
