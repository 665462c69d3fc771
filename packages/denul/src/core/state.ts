/**
 * What to remove: every NUL byte (`all`, the same bytes `tr -d '\000'` removes) or only the
 * block of NULs at the very start of the input (`leading`, what copytruncate rotation leaves).
 */
export type NulMode = 'all' | 'leading';

/**
 * State carried from one chunk to the next, so that a NUL run split across a chunk boundary is
 * counted once and the leading-only state machine survives arbitrary chunk sizes.
 */
export interface NulState {
  readonly mode: NulMode;
  /** Bytes seen so far (before removal). */
  bytesIn: number;
  /** Bytes kept so far (after removal). */
  bytesOut: number;
  /** NUL bytes removed (or, when only counting, that would be removed). */
  removed: number;
  /** Maximal runs of consecutive NUL bytes that were removed. */
  runs: number;
  /** Offset in the input of the first removed NUL, or -1. */
  firstNulOffset: number;
  /** The last byte seen was a NUL: a NUL at the start of the next chunk continues that run. */
  lastWasNul: boolean;
  /** Leading mode only: a non-NUL byte has been seen, nothing more is removed. */
  leadingDone: boolean;
}

export function createNulState(mode: NulMode = 'all'): NulState {
  return {
    mode,
    bytesIn: 0,
    bytesOut: 0,
    removed: 0,
    runs: 0,
    firstNulOffset: -1,
    lastWasNul: false,
    leadingDone: false,
  };
}
