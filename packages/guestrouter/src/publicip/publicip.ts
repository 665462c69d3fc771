/**
 * The NAT public addresses the router answers for on the uplink: each is a
 * /32 on the uplink with the label `<uplink>:gr` (the mark: only labelled
 * addresses are ever removed). An address, not proxy ARP: the kernel answers
 * proxy ARP only for addresses routed through another interface, and a NAT
 * address is routed nowhere else; as a local address it also takes haproxy's
 * listeners and gets replies to source NAT.
 */
import { execFile } from '../kernel/exec.js';
import { ipArgs } from '../kernel/kernel.js';
import type { PublicAddress } from '../nft/types.js';
import type { Change } from '../plan/types.js';

const IFNAMSIZ = 15;

export function publicAddressLabel(uplink: string): string | undefined {
  const label = `${uplink}:gr`;
  return label.length <= IFNAMSIZ ? label : undefined;
}

/** Pure: parses `ip -json addr show dev UPLINK` into the labelled addresses (without prefix). */
export function parseLabelledAddresses(text: string, label: string): string[] {
  if (text.trim() === '') return [];
  const links = JSON.parse(text) as {
    addr_info?: { family?: string; local?: string; prefixlen?: number; label?: string }[];
  }[];
  return links.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.label === label && a.local)
      .map((a) => a.local as string),
  );
}

export async function readLabelledAddresses(
  netns: string | undefined,
  uplink: string,
  label: string,
): Promise<string[]> {
  const result = await execFile('ip', ipArgs(netns, ['-json', 'addr', 'show', 'dev', uplink]));
  // A missing uplink has no addresses; plan warns about it and apply refuses elsewhere.
  if (result.code !== 0) return [];
  return parseLabelledAddresses(result.stdout, label);
}

export interface PublicAddressPlan {
  readonly lines: string[];
  readonly changes: Change[];
}

/** Pure: the ip -batch lines and changes that make the uplink hold exactly the wanted public addresses. */
export function diffPublicAddresses(
  wanted: readonly PublicAddress[],
  current: readonly string[],
  uplink: string,
  label: string,
): PublicAddressPlan {
  const lines: string[] = [];
  const changes: Change[] = [];
  const want = new Set(wanted.map((a) => a.address));
  for (const address of current) {
    if (want.has(address)) continue;
    lines.push(`addr del ${address}/32 dev ${uplink}`);
    changes.push({
      action: 'remove-public-address',
      link: uplink,
      detail: `${address}/32`,
      reason: 'no NAT rule uses it any more',
    });
  }
  const have = new Set(current);
  for (const a of wanted) {
    if (have.has(a.address)) continue;
    lines.push(`addr add ${a.address}/32 dev ${uplink} label ${label}`);
    changes.push({
      action: 'add-public-address',
      link: uplink,
      networkId: a.networkId,
      detail: `${a.address}/32`,
      reason: a.purpose,
    });
  }
  return { lines, changes };
}
