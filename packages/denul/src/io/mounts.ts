import fs from 'node:fs';

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * True when `realPath` is itself a mount point (a file bind-mounted over another): rename() can
 * never replace it, so in-place refuses before doing any work. Where /proc is missing we cannot
 * tell, and the rename's EBUSY/EXDEV is reported instead.
 */
export function isMountPoint(realPath: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint !== undefined && unescapeMountPath(mountPoint) === realPath) return true;
  }
  return false;
}
