import fs from 'node:fs';
import { BrokenPipeError, errnoCode } from './errors.js';

/**
 * Reads and writes are plain synchronous system calls on file descriptors: no object-mode
 * streams, one reused buffer. The thread pool they used before cost a hand-over per call (tens of
 * microseconds here, more than reading 128 KiB from the page cache takes), and a buffer small
 * enough to stay in the CPU cache needs many calls. A blocking read on a quiet pipe now blocks the main thread,
 * as it does in tr; where signals must be handled (in-place cleaning) the input is a regular
 * file, and the pump gives the event loop a turn every few MiB. A descriptor we inherited may be
 * non-blocking (the parent set O_NONBLOCK on a shared pipe); EAGAIN then means "wait until
 * ready", which we do with a short, growing, asynchronous sleep.
 */
const MIN_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readOnce(fd: number, buf: Buffer, offset: number, length: number, position: number | null): number {
  return fs.readSync(fd, buf, offset, length, position);
}

function writeOnce(fd: number, buf: Buffer, offset: number, length: number, position: number | null): number {
  return fs.writeSync(fd, buf, offset, length, position);
}

/** What `readChunkNow` returns when the descriptor is non-blocking and has nothing yet. */
export const WOULD_BLOCK = -1;

/**
 * Reads up to `length` bytes into `buf[offset...]` without waiting: fills the request as far as
 * the source allows (a pipe hands out at most 64 KiB per read, so several reads make one large
 * chunk). From a file it returns less than `length` only at end of input; from a pipe it returns
 * after the first read. `position` null reads at the descriptor's offset (pipes, terminals); a
 * number reads at that offset (pread). Returns `WOULD_BLOCK` when a non-blocking descriptor has
 * no byte ready (then `readChunk` waits). Synchronous so that the pump's loop over a file costs
 * no promise per chunk.
 */
export function readChunkNow(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number | null,
): number {
  let total = 0;
  while (total < length) {
    let n: number;
    try {
      n = readOnce(fd, buf, offset + total, length - total, position === null ? null : position + total);
    } catch (error) {
      const code = errnoCode(error);
      // Hand back what we have rather than wait: a slow interactive producer still gets its lines through.
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return total > 0 ? total : WOULD_BLOCK;
      if (code === 'EINTR') continue;
      throw error;
    }
    if (n === 0) break;
    total += n;
    // A pipe or terminal: pass on what arrived instead of blocking until the chunk is full, so a
    // slow producer's lines come through promptly (tr behaves the same way).
    if (position === null) break;
  }
  return total;
}

/** `readChunkNow` that waits (a short, growing, asynchronous sleep) while nothing is ready. */
export async function readChunk(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number | null,
): Promise<number> {
  let backoff = MIN_BACKOFF_MS;
  for (;;) {
    const n = readChunkNow(fd, buf, offset, length, position);
    if (n !== WOULD_BLOCK) return n;
    await sleep(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

/**
 * Writes as much of `buf[offset, offset + length)` as the descriptor takes without waiting,
 * through partial writes and EINTR; returns how many bytes were written (less than `length`
 * only when a non-blocking descriptor is full: then `writeAll` waits for the rest).
 */
export function writeNow(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number | null,
): number {
  let done = 0;
  while (done < length) {
    try {
      done += writeOnce(fd, buf, offset + done, length - done, position === null ? null : position + done);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return done;
      if (code === 'EINTR') continue;
      if (code === 'EPIPE') throw new BrokenPipeError();
      throw error;
    }
  }
  return done;
}

/** Writes all of `buf[offset, offset + length)`, through partial writes, EAGAIN and EINTR. */
export async function writeAll(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number | null,
): Promise<void> {
  let done = 0;
  let backoff = MIN_BACKOFF_MS;
  for (;;) {
    done += writeNow(fd, buf, offset + done, length - done, position === null ? null : position + done);
    if (done >= length) return;
    await sleep(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}
