const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(2)} GiB`;
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** One progress line: `denul: big.log  42%  1.20 GiB of 2.00 GiB  950 MB/s  1234 NULs`. */
export function formatProgress(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  removed: number,
): string {
  const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
  const rate = elapsedMs > 0 ? done / 1e6 / (elapsedMs / 1000) : 0;
  return `denul: ${label}  ${percent}%  ${formatBytes(done)} of ${formatBytes(total)}  ${rate.toFixed(0)} MB/s  ${removed} NUL bytes`;
}
