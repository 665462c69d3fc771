import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createNulState } from '../src/core/state.js';
import { loadHoleSeeker } from '../src/io/holes.js';
import { pump } from '../src/io/pump.js';
import { runDenul, runTr, runWithPeakRss, useCliTestDir } from './helpers.js';

const TWO_GIB = 2 * 1024 * 1024 * 1024;
const MEMORY_BOUND = 64 * 1024 * 1024;
const dir = useCliTestDir();

/** A 2 GiB file that is one hole (no disk blocks), optionally followed by a line of text. */
function sparseFile(name: string, tail: string): string {
  const file = path.join(dir.path, name);
  fs.writeFileSync(file, '');
  fs.truncateSync(file, TWO_GIB);
  if (tail !== '') fs.appendFileSync(file, tail);
  return file;
}

describe('a 2 GiB sparse file is streamed, never loaded: peak memory stays under 64 MiB', () => {
  test('--count reads all 2 GiB and reports one run, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-count.log', '');
    const result = await runWithPeakRss(['--count', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout.toString(),
      `${file}: ${TWO_GIB} NUL bytes in 1 run (${TWO_GIB} bytes read)\n`,
    );
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });

  test('default mode writes only the text after the hole, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-stream.log', 'the only line\n');
    const result = await runWithPeakRss([file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'the only line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });

  test('standard input redirected from it (holes skipped) writes the same, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-stdin.log', 'the only line\n');
    const result = await runWithPeakRss([], { stdinFile: file });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'the only line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });

  test('reading the hole (--read-holes) writes the same, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-read.log', 'the only line\n');
    const result = await runWithPeakRss(['--read-holes', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'the only line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });

  test('the SIMD kernel path (--strategy wasm) writes the same, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-wasm.log', 'the only line\n');
    const result = await runWithPeakRss(['--strategy', 'wasm', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'the only line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });

  test('--in-place shrinks it to its text, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-inplace.log', 'kept line\n');
    const result = await runWithPeakRss(['-i', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.readFileSync(file, 'latin1'), 'kept line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });
});

describe('sparse files with several holes between data', () => {
  test('every search path at several chunk sizes: byte-identical to tr', async () => {
    // Holes of odd sizes, so hole edges fall at every offset within the kernel's 16-byte blocks.
    const file = path.join(dir.path, 'holes.log');
    const fd = fs.openSync(file, 'w');
    let at = 0;
    for (const [hole, text] of [
      [3 * 1024 * 1024 + 5, 'after the first hole\n'],
      [1024 * 1024 + 17, 'x\0y\0z after the second hole\n'],
      [2 * 1024 * 1024 + 1, 'last line\n'],
    ] as const) {
      at += hole;
      at += fs.writeSync(fd, text, at);
    }
    fs.ftruncateSync(fd, at + 12345);
    fs.closeSync(fd);
    const expected = await runTr(file);
    for (const strategy of ['js', 'wasm', 'auto']) {
      for (const chunk of ['4093', '128k', '1m']) {
        for (const holes of [[], ['--read-holes']]) {
          const args = ['--strategy', strategy, '--chunk-size', chunk, ...holes];
          const result = await runDenul([...args, file]);
          assert.equal(result.code, 0, result.stderr);
          assert.ok(result.stdout.equals(expected), args.join(' '));
        }
      }
    }
  });
});

/**
 * Holes of odd sizes after data that ends in NUL bytes and before data that starts with them,
 * so a run made of NUL data bytes, a hole and more NUL data bytes must count once, and hole
 * edges fall at every offset of a chunk.
 */
function holeyFile(name: string, leadingHole: boolean): string {
  const file = path.join(dir.path, name);
  const fd = fs.openSync(file, 'w');
  let at = leadingHole ? 1024 * 1024 + 3 : 0;
  for (const [text, hole] of [
    ['first\0\0', 2 * 1024 * 1024 + 9],
    ['\0\0second\n\0third', 512 * 1024 + 1],
    ['x\0y\n', 3 * 1024 * 1024 + 4095],
    ['last line\n', 0],
  ] as const) {
    at += fs.writeSync(fd, text, at);
    at += hole;
  }
  fs.ftruncateSync(fd, at + 70000);
  fs.closeSync(fd);
  return file;
}

describe('holes of sparse files are skipped (lseek SEEK_DATA/SEEK_HOLE), with the same result', () => {
  test('the lseek addon was built and finds the holes of a sparse file', () => {
    const seeker = loadHoleSeeker();
    assert.ok(seeker !== null, 'dist/seek.node missing: is a C compiler installed (gcc, libc6-dev)?');
    const file = sparseFile('seek.log', 'tail\n');
    const fd = fs.openSync(file, 'r');
    try {
      assert.equal(seeker.seekHole(fd, 0), 0);
      // Data starts at the file system block that holds the tail.
      const data = seeker.seekData(fd, 0);
      assert.ok(data > TWO_GIB - 64 * 1024 && data <= TWO_GIB, `data at ${data}`);
      assert.equal(seeker.seekHole(fd, data), TWO_GIB + 5);
      assert.equal(seeker.seekData(fd, TWO_GIB + 5), -1);
    } finally {
      fs.closeSync(fd);
    }
  });

  test('the pump skips a 2 GiB hole without reading it and accounts it as one NUL run', async () => {
    const seeker = loadHoleSeeker();
    assert.ok(seeker !== null);
    const file = sparseFile('pump.log', 'tail\n');
    const fd = fs.openSync(file, 'r');
    const seeks: number[] = [];
    try {
      const state = createNulState('all');
      const result = await pump({
        inputFd: fd,
        inputPosition: 0,
        sink: null,
        state,
        buffer: Buffer.alloc(4096),
        holes: {
          ...seeker,
          seekData: (f, offset) => {
            seeks.push(offset);
            return seeker.seekData(f, offset);
          },
        },
        afterChunk: (s) => assert.ok(s.bytesIn <= TWO_GIB + 5),
      });
      assert.equal(result.bytesRead, TWO_GIB + 5);
      assert.deepEqual([state.removed, state.runs, state.bytesOut, state.firstNulOffset], [TWO_GIB, 1, 5, 0]);
      assert.equal(seeks[0], 0, 'the hole was asked for at offset 0');
    } finally {
      fs.closeSync(fd);
    }
  });

  for (const leadingHole of [false, true]) {
    const shape = leadingHole ? 'a hole first' : 'data first';
    test(`${shape}: output, --count and --leading-only equal the reading path and tr at every chunk size`, async () => {
      const file = holeyFile(`holey-${leadingHole}.log`, leadingHole);
      const expected = await runTr(file);
      for (const chunk of ['1', '15', '4093', '128k']) {
        for (const strategy of ['js', 'wasm', 'auto']) {
          const args = ['--strategy', strategy, '--chunk-size', chunk];
          const byName = await runDenul([...args, file]);
          assert.equal(byName.code, 0, byName.stderr);
          assert.ok(byName.stdout.equals(expected), `${args.join(' ')} FILE`);
          const byStdin = await runDenul(args, { stdinFile: file });
          assert.ok(byStdin.stdout.equals(expected), `${args.join(' ')} < FILE`);
        }
      }
      for (const extra of [['--count'], ['--leading-only'], ['--leading-only', '--count'], ['--check']]) {
        const skipping = await runDenul([...extra, '--chunk-size', '4093', file]);
        const reading = await runDenul([...extra, '--chunk-size', '4093', '--read-holes', file]);
        assert.equal(skipping.code, reading.code, extra.join(' '));
        // --leading-only --count stops after the first chunk past the leading block, and chunks
        // start at other offsets once a hole was skipped: only "N bytes read" may differ there.
        const report = (out: Buffer) =>
          extra.includes('--leading-only')
            ? out.toString().replace(/\(\d+ bytes read\)/, '')
            : out.toString();
        assert.equal(report(skipping.stdout), report(reading.stdout), extra.join(' '));
      }
    });
  }

  test('standard input keeps its offset semantics: reading starts where it is and ends at the end', async () => {
    const file = holeyFile('holey-offset.log', true);
    const expected = await runTr(file);
    // A shell that read the first 10 bytes (here: none but NULs of the hole) hands the rest on.
    const script = `head -c 10 >/dev/null; "${process.execPath}" "${path.join(import.meta.dirname, '..', 'bin', 'denul.js')}"; wc -c`;
    const fd = fs.openSync(file, 'r');
    try {
      const { execFileSync } = await import('node:child_process');
      const out = execFileSync('bash', ['-c', script], { stdio: [fd, 'pipe', 'inherit'] });
      // head reads a whole buffer but puts the offset back to 10 (it is a regular file).
      assert.ok(out.equals(Buffer.concat([expected, Buffer.from('0\n')])), out.toString());
    } finally {
      fs.closeSync(fd);
    }
  });
});
