import { getDomain } from 'tldts';

/**
 * The registered domain of a host name by the Public Suffix List (ICANN
 * section, through tldts, which ships the list): `mx1.mail.example.co.uk` ->
 * `example.co.uk`, `mail-db8eur05on2105.outbound.protection.outlook.com` ->
 * `outlook.com`. The list's private section (hosting platforms that hand out
 * subdomains) is left out on purpose: greylisting keys a verified mail server
 * by the operator that runs its pool, not by a customer's subdomain. Used only
 * for clients with forward-confirmed reverse DNS, when `keyByDomain` is on.
 * Undefined for a name the list cannot split (a single label, a public suffix
 * itself, an IP address): the caller then keys by network.
 */
export function registeredDomain(hostname: string): string | undefined {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return getDomain(name, { allowPrivateDomains: false, extractHostname: false }) ?? undefined;
}
