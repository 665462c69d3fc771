import type { VmRecord } from './records.js';

/** One complete neighbour entry of the router: who answers for an address, on which link. */
export interface Neighbour {
  readonly mac: string;
  readonly dev: string;
}

/** ATF_COM: the entry is resolved (an incomplete entry has no MAC yet). */
const ATF_COM = 0x2;

/**
 * Parses `/proc/net/arp` (the kernel's IPv4 neighbour table of the process's
 * namespace: address, hardware type, flags, MAC, mask, device). Only complete
 * entries are kept; the key is `address dev`, since one address may be
 * learnt on two links.
 */
export function parseProcNetArp(text: string): Map<string, Neighbour> {
  const out = new Map<string, Neighbour>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = (lines[i] ?? '').trim().split(/\s+/);
    if (f.length < 6) continue;
    const [address, , flags, mac, , dev] = f as [string, string, string, string, string, string];
    if ((Number.parseInt(flags, 16) & ATF_COM) === 0) continue;
    out.set(`${address} ${dev}`, { mac: mac.toLowerCase(), dev });
  }
  return out;
}

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
  neighbours: ReadonlyMap<string, Neighbour>,
): IdentityVerdict {
  const vm = records.get(remote);
  if (vm === undefined) return { ok: false, reason: 'unknown-address' };
  if (local !== vm.gateway) return { ok: false, reason: 'wrong-gateway' };
  const entry = neighbours.get(`${remote} ${vm.link}`);
  if (entry === undefined) return { ok: false, reason: 'no-neighbour' };
  if (entry.mac !== vm.mac) return { ok: false, reason: 'wrong-mac' };
  return { ok: true, vm };
}

/** `::ffff:192.0.2.5` (a dual-stack socket's view of an IPv4 peer) to `192.0.2.5`. */
export function plainIpv4(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
