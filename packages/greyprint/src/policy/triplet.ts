import { networkOf, type ParsedAddress } from '../net/cidr.js';
import type { TripletKey } from '../store/types.js';
import { registeredDomain } from './domain.js';
import { normalizeRecipient, normalizeSender } from './normalize.js';

export interface ClientKeyOptions {
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  readonly keyByDomain: boolean;
}

/**
 * The client part of the triplet: the network (IPv4 /24, IPv6 /64 by default),
 * or, with `keyByDomain`, the registered domain of a verified, non-dynamic
 * reverse DNS name, so a sender pool that retries from another address is
 * recognised as the same sender.
 */
export function clientKey(
  address: ParsedAddress,
  verifiedName: string | undefined,
  options: ClientKeyOptions,
): string {
  if (options.keyByDomain && verifiedName !== undefined) {
    const domain = registeredDomain(verifiedName);
    if (domain !== undefined) return domain;
  }
  return networkOf(address, address.kind() === 'ipv4' ? options.ipv4Prefix : options.ipv6Prefix);
}

export function tripletKey(client: string, sender: string, recipient: string): TripletKey {
  return { client, sender: normalizeSender(sender), recipient: normalizeRecipient(recipient) };
}

export const formatTriplet = (k: TripletKey): string => `${k.client}/${k.sender}/${k.recipient}`;
