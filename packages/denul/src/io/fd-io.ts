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

/**
 * Reads up to `length` bytes into `buf[offset...]`; fills the request as far as the source allows
 * (a pipe hands out at most 64 KiB per read, so several reads make one large chunk). From a file it
 * returns less than `length` only at end of input; from a pipe it returns after the first read. `position` null reads at the
 * descriptor's offset (pipes, terminals); a number reads at that offset (pread).
 */
export async function readChunk(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number | null,
): Promise<number> {
  let total = 0;
  let backoff = MIN_BACKOFF_MS;
  while (total < length) {
    let n: number;
    try {
      n = readOnce(fd, buf, offset + total, length - total, position === null ? null : position + total);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        // Hand back what we have rather than wait: a slow interactive producer still gets its lines through.
        if (total > 0) return total;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (code === 'EINTR') continue;
      throw error;
    }
    if (n === 0) break;
    total += n;
    backoff = MIN_BACKOFF_MS;
    // A pipe or terminal: pass on what arrived instead of blocking until the chunk is full, so a
    // slow producer's lines come through promptly (tr behaves the same way).
    if (position === null) break;
  }
  return total;
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
  while (done < length) {
    try {
      done += writeOnce(fd, buf, offset + done, length - done, position === null ? null : position + done);
      backoff = MIN_BACKOFF_MS;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (code === 'EINTR') continue;
      if (code === 'EPIPE') throw new BrokenPipeError();
      throw error;
    }
  }
}
