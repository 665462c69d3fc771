import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Creates `dir` with mode 0700, its missing parents with the ordinary mode (0755 under the usual
 * umask). `mkdir -p` with a mode gives every directory it creates that mode: a 0700 STATEDIR made
 * that way keeps dnsmasq, which reads its hosts files after giving up root, out of STATEDIR/dhcp,
 * and it then answers no DHCP request at all (seen with `ha`, whose directory was created first).
 */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
