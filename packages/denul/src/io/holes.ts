import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * lseek(2) with SEEK_DATA/SEEK_HOLE, from the small native addon native/seek.c (Node.js has no
 * lseek). Each returns -1 where lseek fails with ENXIO (no data, or no byte, at or after
 * `offset`) and, like lseek, moves the descriptor's offset. With it, the pump skips the holes
 * of a sparse file instead of reading their zeros.
 */
export interface HoleSeeker {
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  /** The descriptor's current offset (SEEK_CUR). */
  offset(fd: number): number;
  /** Moves the descriptor's offset (SEEK_SET). */
  moveTo(fd: number, offset: number): void;
}

interface SeekAddon {
  lseek(fd: number, offset: number, whence: number): number;
  SEEK_SET: number;
  SEEK_CUR: number;
  SEEK_DATA: number;
  SEEK_HOLE: number;
}

let loaded: HoleSeeker | null | undefined;

/**
 * The addon, or null when it was not built (no C compiler at build time) or does not load: then
 * holes are read like other bytes. Loaded only for an input that has holes, so it costs nothing
 * elsewhere. dist/seek.node is beside the bundle (dist/denul.cjs), and at ../../dist/ from this
 * module as tsc emits it (dist/io/holes.js) or as the tests run it (src/io/holes.ts).
 */
export function loadHoleSeeker(): HoleSeeker | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  for (const candidate of ['../../dist/seek.node', './seek.node']) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (!fs.existsSync(file)) continue;
    try {
      const module = { exports: {} as Partial<SeekAddon> };
      process.dlopen(module, file);
      const { lseek, SEEK_SET, SEEK_CUR, SEEK_DATA, SEEK_HOLE } = module.exports;
      if (typeof lseek === 'function' && [SEEK_SET, SEEK_CUR, SEEK_DATA, SEEK_HOLE].every(Number.isInteger)) {
        loaded = {
          seekData: (fd, offset) => lseek(fd, offset, SEEK_DATA as number),
          seekHole: (fd, offset) => lseek(fd, offset, SEEK_HOLE as number),
          offset: (fd) => lseek(fd, 0, SEEK_CUR as number),
          moveTo: (fd, offset) => void lseek(fd, offset, SEEK_SET as number),
        };
      }
    } catch {
      // A stale or foreign build: reading the holes is correct, only slower.
    }
    break;
  }
  return loaded;
}

/**
 * True when a regular file has fewer blocks allocated than its size needs, i.e. it has holes
 * (`st_blocks` counts 512-byte units). Compressed or inline-data file systems can also show
 * this; a file without holes then just pays one lseek.
 */
export function mayHaveHoles(stats: fs.Stats): boolean {
  return stats.isFile() && stats.blocks * 512 < stats.size;
}

/** The current size of an open file (where the data after a position ends, once no data follows). */
export function fstatSize(fd: number): number {
  return fs.fstatSync(fd).size;
}
