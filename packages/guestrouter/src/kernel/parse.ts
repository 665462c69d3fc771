import { KernelStateParseError } from '../errors.js';
import type { CurrentLink, CurrentProxyNeighbour } from './types.js';

type Json = Record<string, unknown>;

function asArray(text: string, source: string, key = 'ifname'): Json[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (error) {
    throw new KernelStateParseError(source, (error as Error).message);
  }
  if (!Array.isArray(parsed)) throw new KernelStateParseError(source, 'expected a JSON array');
  for (const entry of parsed) {
    if (entry === null || typeof entry !== 'object' || typeof (entry as Json)[key] !== 'string') {
      throw new KernelStateParseError(source, `an entry has no ${key}`);
    }
  }
  return parsed as Json[];
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Parses `ip -json -details link show`. */
export function parseLinks(text: string): Map<string, Omit<CurrentLink, 'addresses'>> {
  const links = new Map<string, Omit<CurrentLink, 'addresses'>>();
  for (const entry of asArray(text, 'ip -json -details link show')) {
    const name = entry.ifname as string;
    const flags = Array.isArray(entry.flags) ? (entry.flags as unknown[]) : [];
    const linkinfo = (entry.linkinfo ?? {}) as Json;
    const kind = str(linkinfo.info_kind);
    const data = (linkinfo.info_data ?? {}) as Json;
    const link: {
      -readonly [K in keyof Omit<CurrentLink, 'addresses'>]: Omit<CurrentLink, 'addresses'>[K];
    } = { name, up: flags.includes('UP') };
    const alias = str(entry.ifalias);
    if (alias !== undefined) link.alias = alias;
    const mac = str(entry.address);
    if (mac !== undefined) link.mac = mac.toLowerCase();
    if (kind !== undefined) link.kind = kind;
    if (kind === 'vlan') {
      const id = num(data.id);
      if (id === undefined)
        throw new KernelStateParseError('ip -json -details link show', `vlan ${name} has no id`);
      const parent = str(entry.link);
      link.vlan = parent === undefined ? { id } : { id, parent };
    } else if (kind === 'vxlan') {
      const vni = num(data.id);
      if (vni === undefined)
        throw new KernelStateParseError('ip -json -details link show', `vxlan ${name} has no id`);
      const vxlan: {
        -readonly [K in keyof NonNullable<CurrentLink['vxlan']>]: NonNullable<CurrentLink['vxlan']>[K];
      } = {
        vni,
        learning: data.learning !== false,
      };
      const port = num(data.port);
      if (port !== undefined) vxlan.port = port;
      const group = str(data.group);
      if (group !== undefined) vxlan.group = group;
      const local = str(data.local);
      if (local !== undefined) vxlan.local = local;
      const dev = str(data.link);
      if (dev !== undefined) vxlan.dev = dev;
      const ttl = num(data.ttl);
      if (ttl !== undefined && ttl !== 0) vxlan.ttl = ttl;
      link.vxlan = vxlan;
    }
    links.set(name, link);
  }
  return links;
}

/** Parses `ip -json addr show` into IPv4 `address/prefix` per interface. */
export function parseAddresses(text: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const entry of asArray(text, 'ip -json addr show')) {
    const infos = Array.isArray(entry.addr_info) ? (entry.addr_info as Json[]) : [];
    const addresses: string[] = [];
    for (const info of infos) {
      const local = str(info.local);
      const prefix = num(info.prefixlen);
      if (info.family === 'inet' && local !== undefined && prefix !== undefined)
        addresses.push(`${local}/${prefix}`);
    }
    result.set(entry.ifname as string, addresses);
  }
  return result;
}

export function combineLinksAndAddresses(
  links: Map<string, Omit<CurrentLink, 'addresses'>>,
  addresses: Map<string, string[]>,
): Map<string, CurrentLink> {
  const combined = new Map<string, CurrentLink>();
  for (const [name, link] of links) combined.set(name, { ...link, addresses: addresses.get(name) ?? [] });
  return combined;
}

/** Parses `grep -sH '' /proc/sys/...` output (`path:value` per line) into sysctl keys. */
export function parseSysctlDump(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || !line.startsWith('/proc/sys/')) continue;
    values.set(sysctlKeyFromPath(line.slice(0, colon)), line.slice(colon + 1).trim());
  }
  return values;
}

/** `net.ipv4.conf.eth1/1234.proxy_arp` -> `/proc/sys/net/ipv4/conf/eth1.1234/proxy_arp` */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key
    .split('.')
    .map((part) => part.replaceAll('/', '.'))
    .join('/')}`;
}

export function sysctlKeyFromPath(path: string): string {
  return path
    .slice('/proc/sys/'.length)
    .split('/')
    .map((part) => part.replaceAll('.', '/'))
    .join('.');
}

/** Parses `ip -N -json neigh show proxy` (protocol numbers, not names). */
export function parseProxyNeighbours(text: string): CurrentProxyNeighbour[] {
  return asArray(text, 'ip -N -json neigh show proxy', 'dst').map((entry) => {
    const dev = str(entry.dev) ?? '';
    const protocol = entry.protocol === undefined ? undefined : String(entry.protocol);
    return protocol === undefined
      ? { address: entry.dst as string, dev }
      : { address: entry.dst as string, dev, protocol };
  });
}
