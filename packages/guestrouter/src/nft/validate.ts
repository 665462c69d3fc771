/** Pure checks of single CloudStack rule fields; each returns the value or a message naming what is wrong. */
import { formatIpv4, type Ipv4Cidr, maskOf, parseIpv4 } from '../net/ipv4.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

export function parsePort(text: string | undefined, what: string): Checked<number> {
  const trimmed = (text ?? '').trim();
  if (!/^\d{1,5}$/.test(trimmed))
    return { ok: false, message: `${what} "${text ?? ''}" is not a port number` };
  const port = Number(trimmed);
  if (port < 1 || port > 65535) return { ok: false, message: `${what} ${port} is out of range 1-65535` };
  return { ok: true, value: port };
}

export interface PortRange {
  readonly start: number;
  readonly end: number;
}

export function parsePortRange(
  start: string | undefined,
  end: string | undefined,
  what: string,
): Checked<PortRange> {
  const s = parsePort(start, `${what} start port`);
  if (!s.ok) return s;
  const e = end === undefined || end === '' ? s : parsePort(end, `${what} end port`);
  if (!e.ok) return e;
  if (e.value < s.value)
    return { ok: false, message: `${what} range ${s.value}-${e.value} ends before it starts` };
  return { ok: true, value: { start: s.value, end: e.value } };
}

export function portText(range: PortRange): string {
  return range.start === range.end ? String(range.start) : `${range.start}-${range.end}`;
}

/**
 * A CIDR as CloudStack's cidrlist holds it; a bare address is a /32. Host bits
 * set are cleared, as CloudStack's own NetUtils does for firewall CIDRs.
 */
export function parseRuleCidr(text: string): Ipv4Cidr | undefined {
  const [addr, prefixText, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const ip = parseIpv4(addr);
  if (ip === undefined) return undefined;
  if (prefixText !== undefined && !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (prefix > 32) return undefined;
  const network = (ip & maskOf(prefix)) >>> 0;
  return { network, prefix, first: network, last: (network | ~maskOf(prefix)) >>> 0 };
}

/**
 * The CIDR list as an nft match on `field` (`ip saddr`, `ip daddr`), or "" for
 * any. Blocks inside others are dropped: nft refuses overlapping intervals in
 * one anonymous set.
 */
export function cidrMatch(cidrs: readonly string[], field: string, what: string): Checked<string> {
  const parsed: Ipv4Cidr[] = [];
  for (const text of cidrs) {
    const cidr = parseRuleCidr(text);
    if (cidr === undefined) return { ok: false, message: `${what} "${text}" is not an IPv4 CIDR` };
    parsed.push(cidr);
  }
  if (parsed.length === 0 || parsed.some((c) => c.prefix === 0)) return { ok: true, value: '' };
  parsed.sort((a, b) => a.first - b.first || a.prefix - b.prefix);
  const kept: Ipv4Cidr[] = [];
  for (const c of parsed) {
    const last = kept[kept.length - 1];
    if (last && c.first >= last.first && c.last <= last.last) continue;
    kept.push(c);
  }
  const items = kept.map((c) =>
    c.prefix === 32 ? formatIpv4(c.network) : `${formatIpv4(c.network)}/${c.prefix}`,
  );
  return {
    ok: true,
    value: items.length === 1 ? `${field} ${items[0]}` : `${field} { ${items.join(', ')} }`,
  };
}

/** CloudStack writes -1 for "any ICMP type/code". */
export function icmpMatch(type: string | undefined, code: string | undefined, what: string): Checked<string> {
  const any = (v: string | undefined) => v === undefined || v === '' || v.trim() === '-1';
  if (any(type)) return { ok: true, value: 'meta l4proto icmp' };
  const t = Number(type);
  if (!Number.isInteger(t) || t < 0 || t > 255)
    return { ok: false, message: `${what} ICMP type "${type}" is not -1 or 0-255` };
  if (any(code)) return { ok: true, value: `icmp type ${t}` };
  const c = Number(code);
  if (!Number.isInteger(c) || c < 0 || c > 255)
    return { ok: false, message: `${what} ICMP code "${code}" is not -1 or 0-255` };
  return { ok: true, value: `icmp type ${t} icmp code ${c}` };
}

/** The protocol and port part of a firewall rule (tcp/udp with a range, icmp with type/code, all). */
export function protocolMatch(
  rule: {
    protocol: string;
    startPort?: string;
    endPort?: string;
    icmpType?: string;
    icmpCode?: string;
  },
  what: string,
): Checked<string> {
  const protocol = rule.protocol.toLowerCase();
  if (protocol === 'all' || protocol === '') return { ok: true, value: '' };
  if (protocol === 'icmp') return icmpMatch(rule.icmpType, rule.icmpCode, what);
  if (protocol !== 'tcp' && protocol !== 'udp')
    return { ok: false, message: `${what} protocol "${rule.protocol}" is not tcp, udp, icmp or all` };
  if (rule.startPort === undefined || rule.startPort === '')
    return { ok: true, value: `meta l4proto ${protocol}` };
  const range = parsePortRange(rule.startPort, rule.endPort, what);
  if (!range.ok) return range;
  return { ok: true, value: `${protocol} dport ${portText(range.value)}` };
}
