import ipaddr from 'ipaddr.js';

export type ParsedAddress = ipaddr.IPv4 | ipaddr.IPv6;

export class CidrError extends Error {
  override readonly name = 'CidrError';
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a client address as Postfix sends it. IPv4-mapped IPv6 addresses are
 * folded to IPv4 so one client has one key. Returns undefined for anything
 * that is not an IP address.
 */
export function parseAddress(text: string): ParsedAddress | undefined {
  // The hot path: Postfix sends dotted-quad IPv4.
  const v4 = parseDottedQuad(text);
  if (v4 !== undefined) return v4;
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  try {
    const addr = ipaddr.parse(text);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
      return (addr as ipaddr.IPv6).toIPv4Address();
    }
    return addr;
  } catch {
    return undefined;
  }
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const DOT = 0x2e;

/**
 * Strict dotted-quad IPv4 (four decimal octets 0-255, no leading zeros: what
 * node's isIPv4 accepts, and the only form Postfix writes), in one pass over
 * the characters: a regular expression, a split and four Number() calls cost
 * several times as much, and this runs once per request. Anything else is
 * undefined (ipaddr's own grammar would also take octal and short forms).
 */
function parseDottedQuad(text: string): ipaddr.IPv4 | undefined {
  if (text.length < 7 || text.length > 15) return undefined;
  const octets = [0, 0, 0, 0];
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - DIGIT_0);
      digits++;
      if (value > 255) return undefined;
    } else if (c === DOT && digits > 0 && part < 3) {
      octets[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  octets[3] = value;
  return new ipaddr.IPv4(octets);
}

/** A CIDR block, or a bare address meaning the single host. */
export interface Cidr {
  readonly text: string;
  readonly kind: 'ipv4' | 'ipv6';
  readonly bits: number;
  /** Network bytes (4 or 16). */
  readonly bytes: readonly number[];
}

export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addrText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const addr = parseAddress(addrText);
  if (addr === undefined) throw new CidrError(text, `"${text}" is not an IP address or CIDR block`);
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const bitsText = trimmed.slice(slash + 1);
    bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > max) {
      throw new CidrError(text, `"${text}" has an invalid prefix length (0-${max})`);
    }
    // An IPv4-mapped IPv6 block /96+ becomes the IPv4 block.
    if (addrText.includes(':') && addr.kind() === 'ipv4') bits = Math.max(0, bits - 96);
  }
  return { text: trimmed, kind: addr.kind(), bits, bytes: maskBytes(addr.toByteArray(), bits) };
}

/** Byte `index` of an address masked to a `bits`-long prefix. */
function maskOctet(byte: number, index: number, bits: number): number {
  const keep = Math.max(0, Math.min(8, bits - index * 8));
  return keep === 0 ? 0 : byte & (0xff << (8 - keep)) & 0xff;
}

function maskBytes(bytes: number[], bits: number): number[] {
  return bytes.map((b, i) => maskOctet(b, i, bits));
}

export function cidrContains(cidr: Cidr, addr: ParsedAddress): boolean {
  if (addr.kind() !== cidr.kind) return false;
  const bytes = addr.toByteArray();
  let bits = cidr.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== cidr.bytes[i]) return false;
  }
  return true;
}

/** The network of an address at a prefix length, in CIDR text: `192.0.2.0/24`, `2001:db8::/64`. */
export function networkOf(addr: ParsedAddress, bits: number): string {
  if (addr.kind() === 'ipv4') {
    // Once per request: the octets are masked in place of copying and mapping arrays.
    const [a = 0, b = 0, c = 0, d = 0] = (addr as ipaddr.IPv4).octets;
    return `${maskOctet(a, 0, bits)}.${maskOctet(b, 1, bits)}.${maskOctet(c, 2, bits)}.${maskOctet(d, 3, bits)}/${bits}`;
  }
  const net = ipaddr.fromByteArray(maskBytes(addr.toByteArray(), bits));
  return `${net.toString()}/${bits}`;
}

/** Longest-prefix lookup over a small set of blocks (operator pins, allow-lists). */
export class CidrTable<T> {
  private readonly entries: { cidr: Cidr; value: T }[] = [];

  add(cidr: Cidr, value: T): void {
    this.entries.push({ cidr, value });
    this.entries.sort((a, b) => b.cidr.bits - a.cidr.bits);
  }

  get size(): number {
    return this.entries.length;
  }

  lookup(addr: ParsedAddress): T | undefined {
    for (const e of this.entries) if (cidrContains(e.cidr, addr)) return e.value;
    return undefined;
  }
}
