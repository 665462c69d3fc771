/**
 * Scanning a long NUL run byte by byte in JavaScript costs about a nanosecond per byte; a sparse
 * multi-gigabyte log is mostly one run. Comparing whole blocks against a zero block runs in native
 * memcmp, so runs are skipped in growing blocks and only the block holding the run's end is
 * walked byte by byte.
 */
const ZERO_BLOCK = Buffer.alloc(64 * 1024);
const BYTEWISE_PREFIX = 32;
const FIRST_BLOCK = 256;

/** Returns the index of the first non-NUL byte in `view[from, to)`, or `to` if all are NUL. */
export function zeroRunEnd(view: Buffer, from: number, to: number): number {
  let i = from;
  // Most runs inside text are short: a few bytes are cheaper to look at than to compare.
  const quickEnd = Math.min(to, from + BYTEWISE_PREFIX);
  while (i < quickEnd && view[i] === 0) i++;
  if (i < quickEnd || i === to) return i;
  let block = FIRST_BLOCK;
  while (i < to) {
    const n = Math.min(block, to - i);
    if (view.compare(ZERO_BLOCK, 0, n, i, i + n) === 0) {
      i += n;
      if (block < ZERO_BLOCK.length) block *= 2;
      continue;
    }
    // A non-NUL byte lies within [i, i + n): this walk is bounded by the block.
    while (view[i] === 0) i++;
    return i;
  }
  return to;
}
