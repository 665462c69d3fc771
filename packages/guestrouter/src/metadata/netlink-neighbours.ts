import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Neighbour, NeighbourLookup } from './identity.js';

/** native/neigh.c: one neighbour entry asked of the kernel over rtnetlink. */
interface NeighAddon {
  open(netnsPath: string | null): number;
  close(fd: number): void;
  ifindex(fd: number, link: string): number;
  neighbour(fd: number, ifindex: number, address: string): string | null;
}

let loaded: NeighAddon | null | undefined;

/**
 * The addon built by `make build` (dist/neigh.node), or null when it was not built (no C compiler)
 * or does not load: then the identity check reads /proc/net/arp. Called from the request path, so
 * it never throws. Looked for beside dist/metadata/ and, when running
 * from src/ (tests through tsx), in the package's dist/.
 */
export function neighAddon(): NeighAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  for (const candidate of ['../neigh.node', '../../dist/neigh.node']) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      const addon = createRequire(import.meta.url)(file) as Partial<NeighAddon>;
      const { open, close, ifindex, neighbour } = addon;
      if ([open, close, ifindex, neighbour].every((f) => typeof f === 'function')) {
        loaded = addon as NeighAddon;
      }
    } catch {
      // A file that does not load (truncated, another platform's) is no addon: /proc/net/arp is read.
    }
    break;
  }
  return loaded;
}

/**
 * The namespace whose neighbour table a `/proc/.../net/arp` path shows: `/proc/PID/net/arp` is
 * the namespace of PID (the binder inside the router's namespace), `/proc/net/arp` the reader's
 * own (null). Undefined for any other path (no netlink then).
 */
export function namespaceOfArpPath(arpPath: string): string | null | undefined {
  if (arpPath === '/proc/net/arp' || arpPath === '/proc/self/net/arp') return null;
  const m = /^\/proc\/(\d+)\/net\/arp$/.exec(arpPath);
  return m === null ? undefined : `/proc/${m[1]}/ns/net`;
}

/**
 * Neighbour lookups over one NETLINK_ROUTE socket in the router's namespace: each lookup asks the
 * kernel for that one entry (about 7 us at 10,000 neighbours, measured), so every request is judged
 * on the entry as it is when the request is answered. Link indexes are kept by name and asked
 * again when the kernel no longer knows one (a link deleted and created again).
 */
export class NetlinkNeighbours {
  private readonly indexes = new Map<string, number>();

  private constructor(
    private readonly addon: NeighAddon,
    private fd: number | undefined,
  ) {}

  /** Opens the socket in the namespace; throws what the addon throws (EPERM without CAP_SYS_ADMIN). */
  static open(addon: NeighAddon, netnsPath: string | null): NetlinkNeighbours {
    return new NetlinkNeighbours(addon, addon.open(netnsPath));
  }

  /**
   * The complete entry for the address on the link, or undefined (none, incomplete or failed, or
   * no such link). Throws on a failure of the socket itself: the caller falls back to procfs.
   */
  readonly lookup: NeighbourLookup = (address, dev) => {
    const fd = this.fd;
    if (fd === undefined) throw new Error('netlink neighbour socket closed');
    for (let attempt = 0; attempt < 2; attempt++) {
      let index = this.indexes.get(dev);
      try {
        if (index === undefined) {
          index = this.addon.ifindex(fd, dev);
          this.indexes.set(dev, index);
        }
        const mac = this.addon.neighbour(fd, index, address);
        return mac === null ? undefined : ({ mac, dev } satisfies Neighbour);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENODEV') throw error;
        // The link is gone, or was created again under a new index: ask its index once more.
        const known = this.indexes.delete(dev);
        if (!known) return undefined;
      }
    }
    return undefined;
  };

  close(): void {
    if (this.fd !== undefined) this.addon.close(this.fd);
    this.fd = undefined;
    this.indexes.clear();
  }
}
