import { createHash } from 'node:crypto';

/**
 * The gateway MAC of a network: derived from its id, so a link created again (a network dropped
 * and re-added, a repaired link, another router taking over) keeps the MAC the VMs have in their
 * ARP caches. Locally administered (bit 1 of the first octet set), unicast (bit 0 clear); 46
 * bits of SHA-256, so two networks sharing one is as likely as a collision of random MACs.
 */
export function gatewayMac(networkId: string): string {
  const bytes = createHash('sha256').update(`guestrouter-gateway-mac:${networkId}`).digest().subarray(0, 6);
  bytes[0] = ((bytes[0] as number) & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
