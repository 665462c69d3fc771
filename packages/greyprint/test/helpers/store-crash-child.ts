// Child process for the crash test: hammers an SQLite store with attempts and
// passes and writes each triplet to stdout only after recordPass returned, so
// every line the parent reads is a confirmation the store gave. The parent
// kills this process with SIGKILL at a random moment.
import { writeSync } from 'node:fs';
import { SqliteStore } from '../../src/store/sqlite.js';

const [path, round] = process.argv.slice(2);
if (path === undefined || round === undefined) {
  process.stderr.write('usage: store-crash-child.ts DB ROUND\n');
  process.exit(2);
}
const store = new SqliteStore(path);
writeSync(1, 'ready\n');
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
    writeSync(1, `${key.client}\t${key.sender}\t${key.recipient}\n`);
  }
}
