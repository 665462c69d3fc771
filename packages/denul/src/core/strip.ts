import type { NulKernel } from './nul-kernel.js';
import type { NulState } from './state.js';
import { zeroRunEnd } from './zero-run.js';

/**
 * How a chunk is searched. `js`: `indexOf` (memchr) finds each NUL, `copyWithin` (memmove) moves
 * each clean stretch; fastest where NULs are rare, but every call costs far more than a byte, so
 * a NUL every few bytes makes it crawl. `wasm`: the SIMD kernel from the first NUL of the chunk
 * on, 16 bytes per step whatever the mix. `auto` (the default): `js` until a chunk has shown
 * `DENSE_AFTER_RUNS` runs, then the kernel for the rest of that chunk. The other two exist to
 * measure and test each path.
 */
export type StripStrategy = 'auto' | 'js' | 'wasm';

/**
 * Runs per chunk after which `auto` hands the rest of the chunk to the kernel. Not finely tuned:
 * logs with NUL runs after 0.2 % of their lines show 2-3 runs per 128 KiB chunk and stay on
 * `indexOf` (which the bench measured faster than the kernel there), while a NUL every other
 * byte switches after a few dozen bytes.
 */
export const DENSE_AFTER_RUNS = 8;

export interface StripEngine {
  /** The kernel whose buffer is the chunk buffer, or null (JavaScript only). */
  kernel: NulKernel | null;
  strategy: StripStrategy;
}

export const JS_ONLY: StripEngine = { kernel: null, strategy: 'js' };

function noteRun(state: NulState, chunkOffset: number, start: number, end: number): void {
  const continuesPreviousChunk = start === 0 && state.lastWasNul;
  if (!continuesPreviousChunk) state.runs++;
  if (state.firstNulOffset < 0) state.firstNulOffset = chunkOffset + start;
  state.removed += end - start;
}

function finishChunk(state: NulState, length: number, kept: number, lastWasNul: boolean): void {
  state.bytesIn += length;
  state.bytesOut += kept;
  if (length > 0) state.lastWasNul = lastWasNul;
}

/** The kernel for this chunk, once `runsSoFar` runs were seen in it; null: stay on indexOf. */
function kernelFor(engine: StripEngine, buf: Buffer, runsSoFar: number): NulKernel | null {
  const { kernel, strategy } = engine;
  if (kernel === null || strategy === 'js') return null;
  if (strategy === 'auto' && runsSoFar < DENSE_AFTER_RUNS) return null;
  if (kernel.buffer !== buf) throw new Error('the kernel works only on its own buffer');
  return kernel;
}

/**
 * Removes NUL bytes from `buf[0, length)` in place (the kept bytes are moved to the front) and
 * returns how many bytes were kept. Which NULs go depends on `state.mode`; counts and the carried
 * state are updated so the next chunk continues where this one stopped. Bytes of the buffer past
 * the kept ones are left undefined.
 */
export function stripChunk(
  buf: Buffer,
  length: number,
  state: NulState,
  engine: StripEngine = JS_ONLY,
): number {
  const view = buf.subarray(0, length);
  const chunkOffset = state.bytesIn;
  // Taken first: compaction may overwrite the end of the chunk.
  const lastWasNul = length > 0 ? view[length - 1] === 0 : state.lastWasNul;
  if (state.mode === 'leading') {
    if (state.leadingDone || length === 0) {
      finishChunk(state, length, length, lastWasNul);
      return length;
    }
    const end = zeroRunEnd(view, 0, length);
    if (end > 0) noteRun(state, chunkOffset, 0, end);
    if (end < length) {
      state.leadingDone = true;
      if (end > 0) view.copyWithin(0, end, length);
    }
    finishChunk(state, length, length - end, lastWasNul);
    return length - end;
  }
  let read = 0;
  let write = 0;
  let runs = 0;
  while (read < length) {
    const nul = view.indexOf(0, read);
    const segmentEnd = nul === -1 ? length : nul;
    if (segmentEnd > read) {
      if (write !== read) view.copyWithin(write, read, segmentEnd);
      write += segmentEnd - read;
    }
    if (nul === -1) break;
    const kernel = kernelFor(engine, buf, runs);
    if (kernel !== null) {
      // `nul` is the first NUL at or after `read`, and `read` follows a kept byte unless it is 0.
      const carry = nul === 0 && state.lastWasNul;
      const result = kernel.strip(nul, length, write, carry);
      const kept = result.end - write;
      if (state.firstNulOffset < 0) state.firstNulOffset = chunkOffset + nul;
      state.runs += result.runs;
      state.removed += length - nul - kept;
      write = result.end;
      break;
    }
    const runEnd = zeroRunEnd(view, nul, length);
    noteRun(state, chunkOffset, nul, runEnd);
    runs++;
    read = runEnd;
  }
  finishChunk(state, length, write, lastWasNul);
  return write;
}

/** Like `stripChunk` but only counts: the buffer is left as it is. */
export function countChunk(
  buf: Buffer,
  length: number,
  state: NulState,
  engine: StripEngine = JS_ONLY,
): void {
  const view = buf.subarray(0, length);
  const chunkOffset = state.bytesIn;
  const lastWasNul = length > 0 ? view[length - 1] === 0 : state.lastWasNul;
  let kept = length;
  if (state.mode === 'leading') {
    if (!state.leadingDone && length > 0) {
      const end = zeroRunEnd(view, 0, length);
      if (end > 0) noteRun(state, chunkOffset, 0, end);
      if (end < length) state.leadingDone = true;
      kept = length - end;
    }
    finishChunk(state, length, kept, lastWasNul);
    return;
  }
  let read = 0;
  let runs = 0;
  while (read < length) {
    const nul = view.indexOf(0, read);
    if (nul === -1) break;
    const kernel = kernelFor(engine, buf, runs);
    if (kernel !== null) {
      const result = kernel.count(nul, length, nul === 0 && state.lastWasNul);
      if (state.firstNulOffset < 0) state.firstNulOffset = chunkOffset + nul;
      state.runs += result.runs;
      state.removed += result.nuls;
      kept -= result.nuls;
      break;
    }
    const runEnd = zeroRunEnd(view, nul, length);
    noteRun(state, chunkOffset, nul, runEnd);
    runs++;
    kept -= runEnd - nul;
    read = runEnd;
  }
  finishChunk(state, length, kept, lastWasNul);
}

/**
 * True when nothing more can be removed whatever follows: in leading mode once a non-NUL byte has
 * been seen. Lets `--check` and in-place cleaning stop reading early.
 */
export function nothingMoreToRemove(state: NulState): boolean {
  return state.mode === 'leading' && state.leadingDone;
}

/** True when the input seen so far held something to remove. */
export function hasRemovals(state: NulState): boolean {
  return state.removed > 0;
}

/**
 * True when a stretch of `length` NUL bytes can be accounted without looking at it (a hole of a
 * sparse file, which reads as zeros): in `all` mode always, in `leading` mode while still inside
 * the leading block (after it, NULs are kept, so they must be read and written).
 */
export function canSkipZeros(state: NulState): boolean {
  return state.mode === 'all' || !state.leadingDone;
}

/**
 * Accounts `length` NUL bytes that were not read (a hole), exactly as `stripChunk` would have
 * for a chunk of that many zeros: nothing kept, a run that continues the previous NUL or starts
 * a new one. Only valid where `canSkipZeros` holds.
 */
export function skipZeros(state: NulState, length: number): void {
  if (length <= 0) return;
  noteRun(state, state.bytesIn, 0, length);
  finishChunk(state, length, 0, true);
}
