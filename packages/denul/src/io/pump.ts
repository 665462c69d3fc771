import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NulState } from '../core/state.js';
import { canSkipZeros, countChunk, JS_ONLY, type StripEngine, skipZeros, stripChunk } from '../core/strip.js';
import { readChunk, readChunkNow, WOULD_BLOCK, writeAll, writeNow } from './fd-io.js';
import { fstatSize, type HoleSeeker } from './holes.js';

/**
 * I/O is synchronous, so signal handlers (in-place cleaning) run only when the event loop gets a
 * turn: one after this many input bytes keeps Ctrl-C prompt and costs nothing measurable.
 */
const YIELD_EVERY_BYTES = 8 * 1024 * 1024;

/** Where cleaned bytes go: a descriptor, and a position (null: the descriptor's own offset). */
export interface PumpSink {
  fd: number;
  position: number | null;
}

export interface PumpRequest {
  inputFd: number;
  /** Offset to read from (pread), or null for pipes and terminals. */
  inputPosition: number | null;
  /** Stop after this many input bytes (in-place passes read up to a size they observed). */
  limit?: number;
  /** Null: only count, write nothing. */
  sink: PumpSink | null;
  state: NulState;
  buffer: Buffer;
  /** How chunks are searched; the kernel, if any, must own `buffer`. Default: JavaScript only. */
  engine?: StripEngine;
  /** Stop reading as soon as this is true (`--check` stops at the first NUL). */
  stopWhen?: (state: NulState) => boolean;
  /** Called after every chunk: progress display and cancellation (it may throw). */
  afterChunk?: (state: NulState) => void;
  /**
   * Skips the holes of a sparse input (with `inputPosition` only): they read as zeros, so they
   * are accounted as NUL runs without being read. Null or absent: everything is read.
   */
  holes?: HoleSeeker | null;
}

export interface PumpResult {
  bytesRead: number;
  /** Where the sink's position ended (when it had one). */
  sinkPosition: number | null;
  /** True when the input was read to its end (or `limit`), false when `stopWhen` ended it. */
  complete: boolean;
}

/** Streams input through the NUL stripper (or counter) into the sink, one reused buffer at a time. */
export async function pump(request: PumpRequest): Promise<PumpResult> {
  const { inputFd, sink, state, buffer } = request;
  let position = request.inputPosition;
  let sinkPosition = sink?.position ?? null;
  let bytesRead = 0;
  const limit = request.limit ?? Number.POSITIVE_INFINITY;
  const engine = request.engine ?? JS_ONLY;
  let nextYield = YIELD_EVERY_BYTES;
  const holes = position === null ? null : (request.holes ?? null);
  // Where the next hole starts; reads stop there. Infinity: no hole ahead (or not skipping).
  let holeAt =
    holes === null || position === null ? Number.POSITIVE_INFINITY : nextHole(holes, inputFd, position);
  while (bytesRead < limit) {
    if (position !== null && position >= holeAt) {
      if (holes === null || !canSkipZeros(request.state)) {
        holeAt = Number.POSITIVE_INFINITY;
        continue;
      }
      // From here to the next data byte (or to the end of the file) the file reads as zeros.
      let dataAt = seekOrNull(() => holes.seekData(inputFd, position as number));
      if (dataAt === null) {
        holeAt = Number.POSITIVE_INFINITY;
        continue;
      }
      if (dataAt < 0) dataAt = Math.max(position, fstatSize(inputFd));
      const skipped = Math.min(dataAt - position, limit - bytesRead);
      skipZeros(state, skipped);
      bytesRead += skipped;
      position += skipped;
      holeAt = nextHole(holes, inputFd, position);
      // The hole was filled meanwhile (data where a hole was): read on, never loop in place.
      if (skipped === 0 && holeAt <= position) holeAt = Number.POSITIVE_INFINITY;
    } else {
      const want = Math.min(buffer.length, limit - bytesRead, holeAt - (position ?? 0));
      // The common case (a file, or a blocking pipe) takes no promise; only a non-blocking
      // descriptor with nothing ready goes through the waiting path.
      let n = readChunkNow(inputFd, buffer, 0, want, position);
      if (n === WOULD_BLOCK) n = await readChunk(inputFd, buffer, 0, want, position);
      if (n === 0) break;
      bytesRead += n;
      if (position !== null) position += n;
      if (sink === null) {
        countChunk(buffer, n, state, engine);
      } else {
        const kept = stripChunk(buffer, n, state, engine);
        if (kept > 0) {
          const written = writeNow(sink.fd, buffer, 0, kept, sinkPosition);
          if (written < kept)
            await writeAll(
              sink.fd,
              buffer,
              written,
              kept - written,
              sinkPosition === null ? null : sinkPosition + written,
            );
          if (sinkPosition !== null) sinkPosition += kept;
        }
      }
    }
    if (bytesRead >= nextYield) {
      nextYield = bytesRead + YIELD_EVERY_BYTES;
      await nextTurn();
    }
    request.afterChunk?.(state);
    if (request.stopWhen?.(state)) return { bytesRead, sinkPosition, complete: false };
  }
  return { bytesRead, sinkPosition, complete: true };
}

/**
 * The start of the next hole at or after `position` (the end of the file counts as one), or
 * Infinity: past the end, or where the file system refuses SEEK_HOLE (then everything is read).
 */
function nextHole(holes: HoleSeeker, fd: number, position: number): number {
  const at = seekOrNull(() => holes.seekHole(fd, position));
  return at === null || at < 0 ? Number.POSITIVE_INFINITY : at;
}

/** An lseek that fails (EINVAL on a file system without SEEK_DATA/SEEK_HOLE) gives null. */
function seekOrNull(seek: () => number): number | null {
  try {
    return seek();
  } catch {
    return null;
  }
}
