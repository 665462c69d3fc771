import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** SELinux labels can only be copied (and only matter) when the kernel runs SELinux. */
const selinuxEnabled = (): boolean => existsSync('/sys/fs/selinux/enforce');

/**
 * Copies the extended attributes, POSIX ACLs (and the SELinux label, where
 * SELinux runs) of `from` onto `to`, leaving `to`'s data alone. Node has no
 * xattr or ACL API, and GNU cp does exactly this with --attributes-only, ACLs
 * included (they travel with `mode`). Returns undefined on success, otherwise
 * what cp said, so the caller can refuse to replace a file with a copy that
 * lost them.
 */
export function copyExtendedAttributes(from: string, to: string): string | undefined {
  const preserve = ['mode', 'xattr', ...(selinuxEnabled() ? ['context'] : [])].join(',');
  const result = spawnSync(
    'cp',
    ['--attributes-only', '--no-dereference', `--preserve=${preserve}`, '--', from, to],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (result.error !== undefined) return `cp: ${result.error.message}`;
  if (result.status !== 0)
    return (result.stderr || `cp exited with ${result.status ?? result.signal}`).trim();
  return undefined;
}
