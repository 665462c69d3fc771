import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  canSkipZeros,
  countChunk,
  createNulKernel,
  createNulState,
  DENSE_AFTER_RUNS,
  JS_ONLY,
  type NulMode,
  type StripEngine,
  skipZeros,
  stripChunk,
  zeroRunEnd,
} from '../src/index.js';

/** One kernel for every test: its buffer is larger than any chunk used here. */
const kernel = createNulKernel(64 * 1024);

/**
 * Every way a chunk can be searched: indexOf only, the SIMD kernel from the first NUL, and the
 * automatic switch from one to the other after DENSE_AFTER_RUNS runs.
 */
const ENGINES: Record<string, StripEngine> = {
  js: JS_ONLY,
  wasm: { kernel, strategy: 'wasm' },
  auto: { kernel, strategy: 'auto' },
};

/** The obvious byte-at-a-time definition the fast code must agree with. */
function reference(input: Buffer, mode: NulMode) {
  const out: number[] = [];
  let removed = 0;
  let runs = 0;
  let previousRemoved = false;
  let leadingDone = false;
  let firstNulOffset = -1;
  input.forEach((byte, i) => {
    const remove = byte === 0 && (mode === 'all' || !leadingDone);
    if (byte !== 0) leadingDone = true;
    if (remove) {
      if (!previousRemoved) runs++;
      if (firstNulOffset < 0) firstNulOffset = i;
      removed++;
    } else {
      out.push(byte);
    }
    previousRemoved = remove;
  });
  return { output: Buffer.from(out), removed, runs, firstNulOffset };
}

function bufferFor(engine: StripEngine, chunkSize: number): Buffer {
  return engine.kernel?.buffer ?? Buffer.alloc(chunkSize);
}

function stripInChunks(input: Buffer, chunkSize: number, mode: NulMode, engine: StripEngine = JS_ONLY) {
  const state = createNulState(mode);
  const buffer = bufferFor(engine, chunkSize);
  const parts: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunkSize) {
    // Junk after the chunk: no path may read past the length it is given.
    buffer.fill(0xa5, 0, Math.min(buffer.length, chunkSize + 64));
    const n = input.copy(buffer, 0, at, Math.min(input.length, at + chunkSize));
    const kept = stripChunk(buffer, n, state, engine);
    parts.push(Buffer.from(buffer.subarray(0, kept)));
  }
  return { output: Buffer.concat(parts), state };
}

function countInChunks(input: Buffer, chunkSize: number, mode: NulMode, engine: StripEngine = JS_ONLY) {
  const state = createNulState(mode);
  const buffer = bufferFor(engine, chunkSize);
  for (let at = 0; at < input.length; at += chunkSize) {
    buffer.fill(0xa5, 0, Math.min(buffer.length, chunkSize + 64));
    const n = input.copy(buffer, 0, at, Math.min(input.length, at + chunkSize));
    countChunk(buffer, n, state, engine);
  }
  return state;
}

const CASES: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  'no NULs': Buffer.from('plain log line\nanother line\n'),
  'only NULs': Buffer.alloc(37),
  'NULs at the start': Buffer.concat([Buffer.alloc(9), Buffer.from('after the hole\n')]),
  'NULs at the end': Buffer.concat([Buffer.from('before the hole\n'), Buffer.alloc(11)]),
  'NULs in the middle': Buffer.concat([Buffer.from('left'), Buffer.alloc(5), Buffer.from('right\n')]),
  'single NULs between bytes': Buffer.from([0, 65, 0, 66, 0, 0, 67, 0]),
  'all byte values': Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)),
  // Enough runs per chunk for `auto` to hand over to the kernel, with every 16-byte NUL pattern
  // shape: every other byte, pairs, a lone NUL, a NUL-only block.
  'dense short runs': Buffer.from(
    Array.from({ length: 300 }, (_, i) =>
      i % 2 === 0 || i % 7 === 3 || (i >= 160 && i < 180) ? 0 : 33 + (i % 90),
    ),
  ),
};

describe('the SIMD kernel', () => {
  test('is available on this Node.js (so the wasm and auto paths below really run it)', () => {
    assert.notEqual(kernel, null);
    assert.ok(DENSE_AFTER_RUNS < 100, 'the dense test case has enough runs to switch');
  });

  test('the committed module bytes are the assembled wasm/strip.wat', () => {
    const script = path.resolve(import.meta.dirname, '..', 'scripts', 'build-wasm.mjs');
    execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' });
  });
});

describe('stripChunk and countChunk', () => {
  for (const [name, input] of Object.entries(CASES)) {
    for (const mode of ['all', 'leading'] as const) {
      for (const [engineName, engine] of Object.entries(ENGINES)) {
        test(`${name} (${mode}, ${engineName}): same bytes and counts as the byte-at-a-time definition at every chunk size`, () => {
          const expected = reference(input, mode);
          for (let chunk = 1; chunk <= Math.max(1, input.length + 1); chunk++) {
            const { output, state } = stripInChunks(input, chunk, mode, engine);
            assert.deepEqual(output, expected.output, `output with chunk size ${chunk}`);
            assert.equal(state.removed, expected.removed, `removed with chunk size ${chunk}`);
            assert.equal(state.runs, expected.runs, `runs with chunk size ${chunk}`);
            assert.equal(state.firstNulOffset, expected.firstNulOffset, `first NUL with chunk size ${chunk}`);
            assert.equal(state.bytesIn, input.length);
            assert.equal(state.bytesOut, expected.output.length);
            const counted = countInChunks(input, chunk, mode, engine);
            assert.equal(counted.removed, expected.removed, `count with chunk size ${chunk}`);
            assert.equal(counted.runs, expected.runs, `count runs with chunk size ${chunk}`);
            assert.equal(counted.firstNulOffset, expected.firstNulOffset, `count first NUL, chunk ${chunk}`);
            assert.equal(counted.bytesOut, expected.output.length);
          }
        });
      }
    }
  }

  test('counts a NUL run split across many chunk boundaries as one run', () => {
    const input = Buffer.concat([Buffer.from('x'), Buffer.alloc(10_000), Buffer.from('y')]);
    const { output, state } = stripInChunks(input, 7, 'all');
    assert.equal(output.toString(), 'xy');
    assert.equal(state.runs, 1);
    assert.equal(state.removed, 10_000);
  });

  test('leading-only keeps NULs after the first non-NUL byte, even when it arrives chunks later', () => {
    const input = Buffer.concat([Buffer.alloc(100), Buffer.from('a'), Buffer.alloc(3), Buffer.from('b')]);
    const { output, state } = stripInChunks(input, 8, 'leading');
    assert.deepEqual(output, Buffer.concat([Buffer.from('a'), Buffer.alloc(3), Buffer.from('b')]));
    assert.equal(state.removed, 100);
    assert.equal(state.runs, 1);
    assert.equal(state.leadingDone, true);
  });

  test('agrees with the definition on random inputs with random chunk sizes, on every path', () => {
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      for (let i = randomInt(20); i >= 0; i--) {
        const size = randomInt(200);
        const kind = randomInt(3);
        if (kind === 0) parts.push(Buffer.alloc(size));
        else if (kind === 1) parts.push(randomBytes(size));
        else {
          // Random bytes with about one NUL in `density`: the mixes the kernel's groups meet.
          const density = 1 + randomInt(8);
          parts.push(Buffer.from(randomBytes(size).map((b) => (randomInt(density) === 0 ? 0 : b))));
        }
      }
      const input = Buffer.concat(parts);
      const chunk = 1 + randomInt(300);
      for (const mode of ['all', 'leading'] as const) {
        const expected = reference(input, mode);
        for (const [engineName, engine] of Object.entries(ENGINES)) {
          const where = `round ${round} mode ${mode} chunk ${chunk} ${engineName}`;
          const { output, state } = stripInChunks(input, chunk, mode, engine);
          assert.deepEqual(output, expected.output, where);
          assert.equal(state.runs, expected.runs, where);
          assert.equal(state.removed, expected.removed, where);
          assert.equal(state.firstNulOffset, expected.firstNulOffset, where);
          const counted = countInChunks(input, chunk, mode, engine);
          assert.equal(counted.runs, expected.runs, where);
          assert.equal(counted.removed, expected.removed, where);
        }
      }
    }
  });
});

describe('zeroRunEnd', () => {
  test('finds the end of runs longer than its comparison blocks, at every position near block edges', () => {
    const sizes = [0, 1, 31, 32, 33, 255, 256, 257, 65_535, 65_536, 65_537, 300_000];
    for (const size of sizes) {
      const view = Buffer.concat([Buffer.alloc(size), Buffer.from([7]), Buffer.alloc(40)]);
      assert.equal(zeroRunEnd(view, 0, view.length), size, `run of ${size}`);
      assert.equal(zeroRunEnd(view, 0, size), size, `run of ${size} ending at the limit`);
    }
  });

  test('stops at the limit it is given, never reading beyond', () => {
    const view = Buffer.alloc(1000);
    assert.equal(zeroRunEnd(view, 10, 500), 500);
    assert.equal(zeroRunEnd(view, 500, 500), 500);
  });
});

describe('skipZeros (a hole that is not read) accounts exactly like stripping a chunk of zeros', () => {
  test('after random chunks, in both modes, wherever canSkipZeros allows it', () => {
    for (let trial = 0; trial < 300; trial++) {
      const mode: NulMode = trial % 2 === 0 ? 'all' : 'leading';
      const state = createNulState(mode);
      for (let c = randomInt(0, 4); c > 0; c--) {
        const chunk = Buffer.from(randomBytes(randomInt(1, 40)).map((b) => (b < 128 ? 0 : b)));
        stripChunk(chunk, chunk.length, state);
      }
      if (!canSkipZeros(state)) {
        assert.ok(mode === 'leading' && state.leadingDone);
        continue;
      }
      const holeLength = randomInt(1, 5000);
      const read = { ...state };
      const zeros = Buffer.alloc(holeLength);
      assert.equal(stripChunk(zeros, holeLength, read), 0);
      const skipped = { ...state };
      skipZeros(skipped, holeLength);
      assert.deepEqual(skipped, read);
    }
  });
});
