/**
 * Minimal IPv4 arithmetic for validation and planning. Addresses are kept as
 * unsigned 32-bit numbers so overlap checks over a thousand networks stay linear
 * after a sort. (ipaddr.js, which greyprint uses, works on address objects and
 * answers "is this address in that range", not "do these two blocks overlap";
 * guestrouter does not depend on it.)
 */

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted quad strictly (no leading zeros beyond a single 0, each part <= 255). */
export function parseIpv4(text: string): number | undefined {
  const m = QUAD.exec(text.trim());
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export interface Ipv4Cidr {
  /** Network address (host bits cleared). */
  readonly network: number;
  readonly prefix: number;
  /** First and last address of the block, inclusive. */
  readonly first: number;
  readonly last: number;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/p`; host bits must be zero (CloudStack's cidr field is always a network). */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  const [addr, prefixText, extra] = text.trim().split('/');
  if (addr === undefined || prefixText === undefined || extra !== undefined) return undefined;
  if (!/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > 32) return undefined;
  const ip = parseIpv4(addr);
  if (ip === undefined) return undefined;
  const mask = maskOf(prefix);
  if ((ip & ~mask) >>> 0 !== 0) return undefined;
  return { network: ip, prefix, first: ip, last: (ip | ~mask) >>> 0 };
}

/** The subnet of an interface address such as `192.0.2.1/24` (host bits allowed, unlike parseCidr). */
export function subnetOfAddress(text: string): Ipv4Cidr | undefined {
  const [addr, prefixText] = text.split('/');
  const ip = parseIpv4(addr ?? '');
  if (ip === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > 32) return undefined;
  return parseCidr(`${formatIpv4((ip & maskOf(prefix)) >>> 0)}/${prefix}`);
}

/** Prefix length of a contiguous netmask such as 255.255.255.0, undefined when not contiguous. */
export function prefixFromNetmask(netmask: string): number | undefined {
  const value = parseIpv4(netmask);
  if (value === undefined) return undefined;
  for (let p = 0; p <= 32; p++) if (maskOf(p) === value) return p;
  return undefined;
}

export function cidrContains(cidr: Ipv4Cidr, ip: number): boolean {
  return ip >= cidr.first && ip <= cidr.last;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.first <= b.last && b.first <= a.last;
}

const NOT_PUBLIC: readonly Ipv4Cidr[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  '127.0.0.0/8',
].map((c) => parseCidr(c) as Ipv4Cidr);

/**
 * A guest subnet is "public" when it lies outside the private, shared (CGNAT),
 * link-local and loopback blocks: those subnets are routed straight to the VMs
 * (the seed's second option), so the router answers ARP for them on the uplink.
 */
export function isPublicCidr(cidr: Ipv4Cidr): boolean {
  return !NOT_PUBLIC.some((block) => cidrsOverlap(block, cidr));
}
