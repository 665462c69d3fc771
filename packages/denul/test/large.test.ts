import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runWithPeakRss, useCliTestDir } from './helpers.js';

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

  test('--in-place shrinks it to its text, peak RSS < 64 MiB', async (t) => {
    const file = sparseFile('sparse-inplace.log', 'kept line\n');
    const result = await runWithPeakRss(['-i', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.readFileSync(file, 'latin1'), 'kept line\n');
    t.diagnostic(`peak RSS ${(result.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`);
    assert.ok(result.peakRssBytes < MEMORY_BOUND, `peak RSS ${result.peakRssBytes} bytes`);
  });
});
