import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { countChunk, createNulState, type NulMode, stripChunk, zeroRunEnd } from '../src/index.js';

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

function stripInChunks(input: Buffer, chunkSize: number, mode: NulMode) {
  const state = createNulState(mode);
  const buffer = Buffer.alloc(chunkSize);
  const parts: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunkSize) {
    const n = input.copy(buffer, 0, at, Math.min(input.length, at + chunkSize));
    const kept = stripChunk(buffer, n, state);
    parts.push(Buffer.from(buffer.subarray(0, kept)));
  }
  return { output: Buffer.concat(parts), state };
}

function countInChunks(input: Buffer, chunkSize: number, mode: NulMode) {
  const state = createNulState(mode);
  const buffer = Buffer.alloc(chunkSize);
  for (let at = 0; at < input.length; at += chunkSize) {
    const n = input.copy(buffer, 0, at, Math.min(input.length, at + chunkSize));
    countChunk(buffer, n, state);
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
};

describe('stripChunk and countChunk', () => {
  for (const [name, input] of Object.entries(CASES)) {
    for (const mode of ['all', 'leading'] as const) {
      test(`${name} (${mode}): same bytes and counts as the byte-at-a-time definition at every chunk size`, () => {
        const expected = reference(input, mode);
        for (let chunk = 1; chunk <= Math.max(1, input.length + 1); chunk++) {
          const { output, state } = stripInChunks(input, chunk, mode);
          assert.deepEqual(output, expected.output, `output with chunk size ${chunk}`);
          assert.equal(state.removed, expected.removed, `removed with chunk size ${chunk}`);
          assert.equal(state.runs, expected.runs, `runs with chunk size ${chunk}`);
          assert.equal(state.firstNulOffset, expected.firstNulOffset, `first NUL with chunk size ${chunk}`);
          assert.equal(state.bytesIn, input.length);
          assert.equal(state.bytesOut, expected.output.length);
          const counted = countInChunks(input, chunk, mode);
          assert.equal(counted.removed, expected.removed, `count with chunk size ${chunk}`);
          assert.equal(counted.runs, expected.runs, `count runs with chunk size ${chunk}`);
          assert.equal(counted.bytesOut, expected.output.length);
        }
      });
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

  test('agrees with the definition on random inputs with random chunk sizes', () => {
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      for (let i = randomInt(20); i >= 0; i--) {
        parts.push(randomInt(2) === 0 ? Buffer.alloc(randomInt(200)) : randomBytes(randomInt(200)));
      }
      const input = Buffer.concat(parts);
      const chunk = 1 + randomInt(300);
      for (const mode of ['all', 'leading'] as const) {
        const expected = reference(input, mode);
        const { output, state } = stripInChunks(input, chunk, mode);
        assert.deepEqual(output, expected.output, `round ${round} mode ${mode} chunk ${chunk}`);
        assert.equal(state.runs, expected.runs);
        assert.equal(state.removed, expected.removed);
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
