import type { NulState } from './state.js';
import { zeroRunEnd } from './zero-run.js';

function noteRun(state: NulState, chunkOffset: number, start: number, end: number): void {
  const continuesPreviousChunk = start === 0 && state.lastWasNul;
  if (!continuesPreviousChunk) state.runs++;
  if (state.firstNulOffset < 0) state.firstNulOffset = chunkOffset + start;
  state.removed += end - start;
}

function finishChunk(state: NulState, view: Buffer, length: number, kept: number): void {
  state.bytesIn += length;
  state.bytesOut += kept;
  if (length > 0) state.lastWasNul = view[length - 1] === 0;
}

/**
 * Removes NUL bytes from `buf[0, length)` in place (the kept bytes are moved to the front) and
 * returns how many bytes were kept. Which NULs go depends on `state.mode`; counts and the carried
 * state are updated so the next chunk continues where this one stopped.
 */
export function stripChunk(buf: Buffer, length: number, state: NulState): number {
  const view = buf.subarray(0, length);
  const chunkOffset = state.bytesIn;
  if (state.mode === 'leading') {
    if (state.leadingDone || length === 0) {
      finishChunk(state, view, length, length);
      return length;
    }
    const end = zeroRunEnd(view, 0, length);
    if (end > 0) noteRun(state, chunkOffset, 0, end);
    if (end < length) {
      state.leadingDone = true;
      if (end > 0) view.copyWithin(0, end, length);
    }
    finishChunk(state, view, length, length - end);
    return length - end;
  }
  let read = 0;
  let write = 0;
  while (read < length) {
    const nul = view.indexOf(0, read);
    const segmentEnd = nul === -1 ? length : nul;
    if (segmentEnd > read) {
      if (write !== read) view.copyWithin(write, read, segmentEnd);
      write += segmentEnd - read;
    }
    if (nul === -1) break;
    const runEnd = zeroRunEnd(view, nul, length);
    noteRun(state, chunkOffset, nul, runEnd);
    read = runEnd;
  }
  finishChunk(state, view, length, write);
  return write;
}

/** Like `stripChunk` but only counts: the buffer is left as it is. */
export function countChunk(buf: Buffer, length: number, state: NulState): void {
  const view = buf.subarray(0, length);
  const chunkOffset = state.bytesIn;
  let kept = length;
  if (state.mode === 'leading') {
    if (!state.leadingDone && length > 0) {
      const end = zeroRunEnd(view, 0, length);
      if (end > 0) noteRun(state, chunkOffset, 0, end);
      if (end < length) state.leadingDone = true;
      kept = length - end;
    }
    finishChunk(state, view, length, kept);
    return;
  }
  let read = 0;
  while (read < length) {
    const nul = view.indexOf(0, read);
    if (nul === -1) break;
    const runEnd = zeroRunEnd(view, nul, length);
    noteRun(state, chunkOffset, nul, runEnd);
    kept -= runEnd - nul;
    read = runEnd;
  }
  finishChunk(state, view, length, kept);
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
