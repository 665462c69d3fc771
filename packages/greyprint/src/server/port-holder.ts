import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A process holding a listening TCP socket. */
export interface PortHolder {
  readonly pid: number;
  /** Its command line, arguments separated by spaces. */
  readonly command: string;
}

/**
 * Socket inodes of the TCP sockets listening on `port`, from /proc/net/tcp and tcp6 (rows:
 * `sl local_address rem_address st ...`, the address as HEX_IP:HEX_PORT, state 0A = LISTEN,
 * the inode in the tenth column). Pure, for tests.
 */
export function listeningInodes(tables: readonly string[], port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue;
      if ((cols[1] ?? '').endsWith(`:${hexPort}`) && cols[9] !== '0') inodes.add(cols[9] as string);
    }
  }
  return inodes;
}

const readOr = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/**
 * The processes that hold a listening TCP socket on `port` in this network namespace: the
 * socket inodes from /proc/net, then every /proc/PID/fd link `socket:[INODE]`, as `ss -ltnp`
 * does. Empty when it cannot tell (another namespace, or /proc/PID/fd not readable without root).
 */
export function findPortHolders(port: number): PortHolder[] {
  const inodes = listeningInodes([readOr('/proc/net/tcp'), readOr('/proc/net/tcp6')], port);
  if (inodes.size === 0) return [];
  const holders: PortHolder[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m !== null && inodes.has(m[1] as string)) {
        const command = readOr(`/proc/${pid}/cmdline`).split('\0').filter(Boolean).join(' ');
        holders.push({ pid: Number(pid), command: command || readOr(`/proc/${pid}/comm`).trim() });
        break;
      }
    }
  }
  return holders;
}

/** What to add to "address already in use": who holds the port, and for postgrey what to do. */
export function describePortHolders(port: number, holders: readonly PortHolder[]): string {
  if (holders.length === 0) {
    return `; cannot tell which process holds port ${port} (try: ss -ltnp 'sport = :${port}')`;
  }
  const who = holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ');
  const postgrey = holders.some((h) => /postgrey/.test(h.command))
    ? '; that is postgrey, which Debian starts on this port: systemctl disable --now postgrey'
    : '';
  return `; held by ${who}${postgrey}`;
}
