import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NulState } from '../core/state.js';
import { countChunk, JS_ONLY, type StripEngine, stripChunk } from '../core/strip.js';
import { readChunk, writeAll } from './fd-io.js';

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
  while (bytesRead < limit) {
    const want = Math.min(buffer.length, limit - bytesRead);
    const n = await readChunk(inputFd, buffer, 0, want, position);
    if (n === 0) break;
    bytesRead += n;
    if (position !== null) position += n;
    if (sink === null) {
      countChunk(buffer, n, state, engine);
    } else {
      const kept = stripChunk(buffer, n, state, engine);
      if (kept > 0) {
        await writeAll(sink.fd, buffer, 0, kept, sinkPosition);
        if (sinkPosition !== null) sinkPosition += kept;
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
