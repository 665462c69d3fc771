import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guestScript = fileURLToPath(new URL('./cloud-init-guest.py', import.meta.url));

/**
 * Debian's cloud-init package, unpacked (never installed: it would add boot-time units to this
 * machine) into a cache directory shared by test runs. Returns its dist-packages directory.
 */
export function unpackedCloudInit(): string {
  const cache = join(tmpdir(), 'guestrouter-cloud-init');
  const packages = join(cache, 'root', 'usr', 'lib', 'python3', 'dist-packages');
  if (existsSync(join(packages, 'cloudinit', 'sources', 'DataSourceCloudStack.py'))) return packages;
  mkdirSync(cache, { recursive: true });
  // apt's download user must be able to write here.
  chmodSync(cache, 0o777);
  let deb = readdirSync(cache).find((f) => f.startsWith('cloud-init_') && f.endsWith('.deb'));
  if (deb === undefined) {
    const r = spawnSync('apt-get', ['download', 'cloud-init'], { cwd: cache, encoding: 'utf8' });
    deb = readdirSync(cache).find((f) => f.startsWith('cloud-init_') && f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download cloud-init failed: ${r.stderr}`);
  }
  rmSync(join(cache, 'root'), { recursive: true, force: true });
  execFileSync('dpkg-deb', ['-x', join(cache, deb), join(cache, 'root')]);
  return packages;
}

/**
 * Runs the cloud-init guest script in a VM namespace with `nameserver` as its only DNS server (a
 * resolv.conf mounted over the host's inside the namespace's private mount table) and the host's
 * DHCP lease directories hidden, so discovery sees only what the VM would.
 */
export function cloudInitGuest(
  ns: string,
  packages: string,
  nameserver: string,
  args: string[],
  workDir: string,
): Record<string, unknown> {
  const resolv = join(workDir, `${ns}.resolv.conf`);
  writeFileSync(resolv, `nameserver ${nameserver}\noptions timeout:1 attempts:1\n`);
  const hide = ['/run/systemd/netif/leases', '/var/lib/dhclient', '/var/lib/dhcp', '/var/lib/NetworkManager']
    .map((d) => `[ -d ${d} ] && mount -t tmpfs tmpfs ${d};`)
    .join(' ');
  const shell = `mount --bind "$RESOLV" /etc/resolv.conf; ${hide} exec /usr/bin/python3 "$@"`;
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', shell, 'sh', guestScript, ...args], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', PYTHONPATH: packages, RESOLV: resolv, HOME: workDir },
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(
      `cloud-init guest ${args.join(' ')} in ${ns} failed (${r.status}): ${r.stdout}${r.stderr}`,
    );
  }
}
