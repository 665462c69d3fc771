import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogSink } from '../../src/log-sink.js';

const line = (i: number, pad = 0) => `${JSON.stringify({ i, pad: 'x'.repeat(pad), s: 'café ☕' })}\n`;

function withDir(run: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gps-sink-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('LogSink', () => {
  test(
    'gathers lines into batches and writes every line, in order, by flush and at exit',
    withDir((dir) => {
      const path = join(dir, 'log');
      const fd = openSync(path, 'w');
      const sink = new LogSink(fd, { batchChars: 1000 });
      sink.write(line(0));
      assert.equal(readFileSync(path, 'utf8'), '', 'below the batch size nothing is written yet');
      for (let i = 1; i < 100; i++) sink.write(line(i));
      const partial = readFileSync(path, 'utf8');
      assert.ok(partial.length >= 1000, 'full batches went out');
      assert.ok(partial.endsWith('\n'), 'whole lines only');
      sink.flush();
      sink.write(line(100));
      sink.flushSync();
      closeSync(fd);
      const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).i),
        Array.from({ length: 101 }, (_, i) => i),
      );
      assert.equal(JSON.parse(lines[7] as string).s, 'café ☕');
      assert.equal(sink.droppedLines, 0);
    }),
  );

  test(
    'a reader that stops reading does not block: lines wait, then go out in order once it reads again',
    withDir(async (dir) => {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      // O_RDWR on a FIFO never blocks on open; O_NONBLOCK makes a full pipe answer EAGAIN.
      const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const warnings: string[] = [];
      const sink = new LogSink(writer, { batchChars: 4096, retryMs: 5, warn: (m) => warnings.push(m) });
      try {
        // far more than a pipe holds (64 KiB on Linux)
        const started = Date.now();
        for (let i = 0; i < 2000; i++) sink.write(line(i, 200));
        assert.ok(Date.now() - started < 1000, 'writing never waited for the reader');
        let text = '';
        const buf = Buffer.alloc(65536);
        for (let round = 0; round < 400 && !text.endsWith(line(1999, 200)); round++) {
          try {
            const n = readSync(reader, buf);
            text += buf.toString('latin1', 0, n);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          }
          sink.flush();
          await sleep(10);
        }
        const got = Buffer.from(text, 'latin1').toString('utf8').split('\n').filter(Boolean);
        assert.equal(got.length, 2000);
        assert.deepEqual(
          got.map((l) => JSON.parse(l).i),
          Array.from({ length: 2000 }, (_, i) => i),
        );
        assert.equal(sink.droppedLines, 0);
        assert.deepEqual(warnings, []);
      } finally {
        closeSync(writer);
        closeSync(reader);
      }
    }),
  );

  test(
    'caps what waits for a stuck reader, drops the rest and says so once',
    withDir((dir) => {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      const warnings: string[] = [];
      const sink = new LogSink(writer, {
        batchChars: 4096,
        maxPendingChars: 100_000,
        retryMs: 60_000,
        warn: (m) => warnings.push(m),
      });
      try {
        for (let i = 0; i < 3000; i++) sink.write(line(i, 200));
        assert.ok(sink.droppedLines > 0);
        assert.equal(warnings.length, 1);
        assert.match(warnings[0] as string, /log lines dropped: the log reader does not keep up/);
      } finally {
        sink.flushSync(); // bounded: gives up on the stuck pipe
        closeSync(writer);
      }
    }),
  );

  test('a write error drops the batch, counts it and says so once; the daemon goes on', () => {
    const warnings: string[] = [];
    const fd = openSync('/dev/full', 'w');
    const sink = new LogSink(fd, { batchChars: 100, warn: (m) => warnings.push(m) });
    try {
      for (let i = 0; i < 50; i++) sink.write(line(i));
      assert.ok(sink.droppedLines >= 40, `dropped ${sink.droppedLines}`);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /writing the log failed \(ENOSPC\)/);
    } finally {
      closeSync(fd);
    }
  });
});
