import { STRIP_WASM_BASE64 } from './strip-wasm.js';

/**
 * The WebAssembly SIMD kernel (wasm/strip.wat) for chunks dense in NULs: where `indexOf` finds a
 * NUL every few bytes, each call costs more than the bytes it skips, while the kernel looks at
 * 16 bytes per step whatever their mix. It works on its own linear memory, so the read buffer
 * is allocated inside that memory: reads land where the kernel works, nothing is copied.
 */
// The project compiles without the DOM library, and @types/node 20 does not declare the
// WebAssembly global: the little used here is declared locally.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    constructor(descriptor: { initial: number });
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  interface Global {
    value: unknown;
  }
  function validate(bytes: Uint8Array): boolean;
}

const PAGE = 64 * 1024;
/** Tables A and B (see wasm/strip.wat) occupy [0, 40960); the data buffer starts at the next page. */
const TABLE_A = 0;
const TABLE_B = 4096;
const TABLE_BYTES = TABLE_B + 256 * 9 * 16;
const DATA_OFFSET = PAGE;

export interface KernelStrip {
  /** Index in the buffer just past the last kept byte. */
  end: number;
  /** NUL runs that start in the range. */
  runs: number;
}

export interface KernelCount {
  nuls: number;
  runs: number;
}

export interface NulKernel {
  /** The buffer in the kernel's memory; only this buffer can be passed to the methods below. */
  readonly buffer: Buffer;
  /**
   * Writes the non-NUL bytes of `buffer[from, to)` from `write` on (`write <= from`). `carry`:
   * the byte before `from` was a NUL, so a NUL at `from` continues that run. Bytes between the
   * returned end and `to` are left undefined.
   */
  strip(from: number, to: number, write: number, carry: boolean): KernelStrip;
  /** Counts the NUL bytes of `buffer[from, to)` and the runs that start there. */
  count(from: number, to: number, carry: boolean): KernelCount;
}

interface KernelExports {
  strip(from: number, end: number, write: number, carry: number): number;
  count(from: number, end: number, carry: number): number;
  runs: WebAssembly.Global;
}

let compiled: WebAssembly.Module | null | undefined;

function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const bytes = Buffer.from(STRIP_WASM_BASE64, 'base64');
  // A runtime without WebAssembly SIMD (or without WebAssembly) falls back to the JavaScript path.
  compiled =
    typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

/** Kept positions of an 8-byte group whose NULs are the set bits of `mask`, plus `base`. */
function keptPositions(mask: number, base: number): number[] {
  const kept: number[] = [];
  for (let bit = 0; bit < 8; bit++) if ((mask & (1 << bit)) === 0) kept.push(base + bit);
  return kept;
}

/** The two shuffle tables described in wasm/strip.wat. */
function fillShuffleTables(memory: Uint8Array): void {
  memory.fill(0x80, 0, TABLE_BYTES);
  for (let mask = 0; mask < 256; mask++) {
    const low = keptPositions(mask, 0);
    memory.set(low, TABLE_A + mask * 16);
    const high = keptPositions(mask, 8);
    for (let lowKept = 0; lowKept <= 8; lowKept++) {
      memory.set(high, TABLE_B + (mask * 9 + lowKept) * 16 + lowKept);
    }
  }
}

/**
 * A kernel with a buffer of `size` bytes in its memory, or null where WebAssembly SIMD is not
 * available. The memory never grows, so the buffer stays valid for the life of the process.
 */
export function createNulKernel(size: number): NulKernel | null {
  const module = kernelModule();
  if (module === null) return null;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((DATA_OFFSET + size) / PAGE) });
  fillShuffleTables(new Uint8Array(memory.buffer, 0, TABLE_BYTES));
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  const buffer = Buffer.from(memory.buffer, DATA_OFFSET, size);
  return {
    buffer,
    strip(from, to, write, carry) {
      const end = exports.strip(DATA_OFFSET + from, DATA_OFFSET + to, DATA_OFFSET + write, carry ? 1 : 0);
      return { end: end - DATA_OFFSET, runs: exports.runs.value as number };
    },
    count(from, to, carry) {
      const nuls = exports.count(DATA_OFFSET + from, DATA_OFFSET + to, carry ? 1 : 0);
      return { nuls, runs: exports.runs.value as number };
    },
  };
}
