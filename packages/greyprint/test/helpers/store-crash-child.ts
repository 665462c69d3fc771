// Child process for the crash test: hammers an SQLite store with attempts and
// passes and writes each triplet to stdout only after recordPass returned, so
// every line the parent reads is a confirmation the store gave. The parent
// kills this process with SIGKILL at a random moment.
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteStore } from '../../src/store/sqlite.js';

const [path, round] = process.argv.slice(2);
if (path === undefined || round === undefined) {
  process.stderr.write('usage: store-crash-child.ts DB ROUND\n');
  process.exit(2);
}
/**
 * stdout is a non-blocking pipe: when the parent is slow to read (CPU load), a
 * write fails with EAGAIN and wrote nothing (a short write is all or nothing),
 * so wait for the parent to drain and write the same line again.
 */
async function writeLine(line: string): Promise<void> {
  for (;;) {
    try {
      writeSync(1, line);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(1);
    }
  }
}

const store = new SqliteStore(path);
await writeLine('ready\n');
let i = 0;
for (;;) {
  const n = i++;
  const key = {
    client: `10.${n % 250}.${(n >> 8) % 250}.0/24`,
    sender: `s${n}@r${round}.example.org`,
    recipient: `rcpt${n % 97}@example.net`,
  };
  await store.recordAttempt(key, n);
  // every other triplet stays unconfirmed, so both write paths run under the kill
  if (n % 2 === 0) {
    await store.recordAttempt(key, n + 1);
    await store.recordPass(key, n + 2);
    // one short write(2) to a pipe is atomic (< PIPE_BUF): the parent never sees half a line
    await writeLine(`${key.client}\t${key.sender}\t${key.recipient}\n`);
  }
}
