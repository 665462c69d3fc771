import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { PolicyConnection, rcpt, startServe } from '../helpers/daemon.js';
import { storeTempDir } from '../helpers/store-tmp.js';

// The same durability claim as crash.test.ts, end to end: the real daemon, its SQLite store,
// policy answers over TCP. With --delay 0 every new triplet passes at once, so each answer that
// is not a deferral means "this triplet is confirmed"; kill -9 mid-load must lose none of them.
const tmp = storeTempDir('gps-dcrash-');
after(() => tmp.cleanup());

const CONNECTIONS = 8;
const KILL_AFTER = 1500;

test('a kill -9 of the running daemon loses no triplet it had already answered as passed', async () => {
  const db = tmp.file('greylist.sqlite');
  const daemon = await startServe([
    '--db',
    db,
    '--delay',
    '0',
    '--auto-allow-clients',
    '0',
    '--os-static',
    '0.0.0.0/0=Windows XP',
  ]);
  const confirmed: string[] = [];
  let next = 0;
  let killed = false;
  try {
    const worker = async () => {
      const conn = await PolicyConnection.open(daemon.host, daemon.port);
      try {
        while (!killed) {
          const i = next++;
          const recipient = `r${i}@crash.example`;
          const action = await conn.ask(
            rcpt({
              client_address: `10.${(i >> 8) & 255}.${i & 255}.9`,
              sender: 'crash@sender.example',
              recipient,
            }),
          );
          assert.doesNotMatch(action, /^DEFER/, 'with --delay 0 a new triplet passes');
          confirmed.push(recipient);
          if (confirmed.length >= KILL_AFTER && !killed) {
            killed = true;
            daemon.child.kill('SIGKILL');
          }
        }
      } catch {
        // the connection died with the daemon: the request in flight was never answered
      } finally {
        conn.close();
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  } finally {
    await daemon.stop();
  }
  assert.equal(daemon.child.signalCode, 'SIGKILL');
  assert.ok(confirmed.length >= KILL_AFTER);

  const check = new Database(db, { readonly: true });
  try {
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    const find = check.prepare('SELECT max(passes) AS passes FROM triplets WHERE recipient = ?');
    const lost = confirmed.filter((r) => ((find.get(r) as { passes: number | null }).passes ?? 0) < 1);
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} of ${confirmed.length} answered passes lost`);
  } finally {
    check.close();
  }
});
