import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
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
        const result = await runDenul(['--strategy', strategy, '--chunk-size', chunk, file]);
        assert.equal(result.code, 0, result.stderr);
        assert.ok(result.stdout.equals(expected), `--strategy ${strategy} --chunk-size ${chunk}`);
      }
    }
  });
});
