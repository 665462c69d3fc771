import type { VmRecord } from './records.js';

/** One complete neighbour entry of the router: who answers for an address, on which link. */
export interface Neighbour {
  readonly mac: string;
  readonly dev: string;
}

/** ATF_COM in the flags column: the entry is resolved (an incomplete entry has no MAC yet). */
const ATF_COM = 0x2;

/** Bytes of the table's text: `\n` and space, which delimit an entry's line and its fields. */
const NEWLINE = 0x0a;

/**
 * The complete entry for one address on one link, from the text of
 * `/proc/net/arp` (the kernel's IPv4 neighbour table of the reading process's
 * namespace: address, hardware type, flags, MAC, mask, device; one address may
 * be learnt on two links) held in `table[0, length)`. Only the lines of that
 * address are decoded, so a lookup in a table of 10,000 neighbours costs a
 * native byte search, not a parse, and the table is never turned into a string.
 */
export function findNeighbour(
  table: Buffer,
  address: string,
  dev: string,
  length = table.length,
): Neighbour | undefined {
  const needle = `\n${address} `;
  for (let at = table.indexOf(needle, 0, 'latin1'); at !== -1 && at < length; ) {
    let end = table.indexOf(NEWLINE, at + 1);
    if (end === -1 || end > length) end = length;
    const f = table
      .toString('latin1', at + 1, end)
      .trim()
      .split(/\s+/);
    if (f.length >= 6 && f[5] === dev) {
      if ((Number.parseInt(f[2] ?? '0', 16) & ATF_COM) === 0) return undefined;
      return { mac: (f[3] ?? '').toLowerCase(), dev };
    }
    at = table.indexOf(needle, at + 1, 'latin1');
  }
  return undefined;
}

/** Looks up the router's neighbour entry for an address on a link. */
export type NeighbourLookup = (address: string, dev: string) => Neighbour | undefined;

export type IdentityVerdict =
  | { readonly ok: true; readonly vm: VmRecord }
  | {
      readonly ok: false;
      readonly reason: 'unknown-address' | 'wrong-gateway' | 'no-neighbour' | 'wrong-mac';
    };

/**
 * Whether a request may be answered with a VM's data: its source address is a
 * VM NIC's, it was sent to that NIC's network gateway, and the router's
 * neighbour entry for the address on the NIC's link holds the NIC's MAC. The
 * neighbour entry is what the reply is sent to, so a VM that took another's
 * address with its own MAC fails here even when the TCP handshake completed.
 */
export function checkIdentity(
  remote: string,
  local: string,
  records: ReadonlyMap<string, VmRecord>,
  neighbour: NeighbourLookup,
): IdentityVerdict {
  const vm = records.get(remote);
  if (vm === undefined) return { ok: false, reason: 'unknown-address' };
  if (local !== vm.gateway) return { ok: false, reason: 'wrong-gateway' };
  const entry = neighbour(remote, vm.link);
  if (entry === undefined) return { ok: false, reason: 'no-neighbour' };
  if (entry.mac !== vm.mac) return { ok: false, reason: 'wrong-mac' };
  return { ok: true, vm };
}

/** `::ffff:192.0.2.5` (a dual-stack socket's view of an IPv4 peer) to `192.0.2.5`. */
export function plainIpv4(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
