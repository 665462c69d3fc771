import type { NulMode } from './state.js';
import type { StripStrategy } from './strip.js';

/** Everything the command line decides, after validation; defaults live in DEFAULT_OPTIONS. */
export interface DenulOptions {
  /** Files to clean; `-` is standard input. Empty means standard input. */
  files: string[];
  mode: NulMode;
  inPlace: boolean;
  sameInode: boolean;
  count: boolean;
  check: boolean;
  json: boolean;
  quiet: boolean;
  progress: boolean;
  /** Bytes read per chunk; one buffer of this size is reused for everything. */
  chunkSize: number;
  /** How chunks are searched: `auto`, or one path only (`js`, `wasm`) to measure and test it. */
  strategy: StripStrategy;
  /** Files smaller than this show no progress line. */
  progressMinBytes: number;
  /**
   * Skip the holes of sparse input files (lseek SEEK_DATA/SEEK_HOLE) instead of reading their
   * zeros; false reads them, to measure and test both paths.
   */
  skipHoles: boolean;
}

export const MIB = 1024 * 1024;

export const DEFAULT_OPTIONS: Omit<DenulOptions, 'files'> = {
  mode: 'all',
  inPlace: false,
  sameInode: false,
  count: false,
  check: false,
  json: false,
  quiet: false,
  progress: true,
  // Small enough to stay in the CPU cache between the read that fills it and the scan: 256 KiB
  // and more ran 3-4x slower than 128 KiB here (see the README, Benchmark).
  chunkSize: 128 * 1024,
  strategy: 'auto',
  progressMinBytes: 64 * MIB,
  skipHoles: true,
};

export const CHUNK_SIZE_LIMITS = { min: 1, max: 16 * MIB } as const;

/** Parses a byte count such as `4096`, `64k`, `1m`; returns an error text instead of throwing. */
export function parseByteSize(text: string): number | string {
  const match = /^(\d+)([kKmM]?)(i?[bB])?$/.exec(text.trim());
  if (!match) return `"${text}" is not a size (examples: 4096, 64k, 1m)`;
  const unit = (match[2] ?? '').toLowerCase();
  const factor = unit === 'k' ? 1024 : unit === 'm' ? MIB : 1;
  return Number(match[1]) * factor;
}

/** Cross-option rules; returns the problems as messages for a usage error (exit 2). */
export function validateOptions(options: DenulOptions): string[] {
  const problems: string[] = [];
  const stdinNamed = options.files.length === 0 || options.files.includes('-');
  if (options.inPlace && stdinNamed)
    problems.push('--in-place needs file names; standard input cannot be replaced');
  if (options.inPlace && options.check)
    problems.push('--check only reports; it cannot be combined with --in-place');
  if (options.sameInode && !options.inPlace)
    problems.push('--same-inode is a way of doing --in-place; add -i');
  if (options.json && !options.count && !options.check)
    problems.push('--json formats the report of --count or --check');
  if (options.chunkSize < CHUNK_SIZE_LIMITS.min || options.chunkSize > CHUNK_SIZE_LIMITS.max) {
    problems.push(`--chunk-size must be between ${CHUNK_SIZE_LIMITS.min} and ${CHUNK_SIZE_LIMITS.max} bytes`);
  }
  return problems;
}
