import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { storeTempDir } from '../helpers/store-tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, '..', 'helpers', 'store-crash-child.ts');
const tmp = storeTempDir('gps-crash-');
after(() => tmp.cleanup());

interface RoundResult {
  confirmed: string[];
  signal: NodeJS.Signals | null;
}

/** Starts the hammering child, SIGKILLs it once it has confirmed `killAfter` passes, collects what it confirmed. */
function runRound(db: string, round: number, killAfter: number): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, db, String(round)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    const confirmed: string[] = [];
    let killed = false;
    const safety = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line !== 'ready') confirmed.push(line);
      if (!killed && confirmed.length >= killAfter) {
        killed = true;
        proc.kill('SIGKILL');
      }
    });
    proc.on('error', reject);
    proc.on('close', (_code, signal) => {
      clearTimeout(safety);
      resolve({ confirmed, signal });
    });
  });
}

test('a kill -9 under load loses no confirmed triplet and leaves an intact SQLite file', async () => {
  const db = tmp.file('crash.sqlite');
  const all: string[] = [];
  // A few rounds on the same file: each one also opens (and recovers) the file the previous kill left.
  for (const [round, killAfter] of [
    [1, 2000],
    [2, 3500],
    [3, 5000],
  ] as const) {
    const { confirmed, signal } = await runRound(db, round, killAfter);
    assert.equal(signal, 'SIGKILL', 'the child was killed mid-load, not finished');
    assert.ok(confirmed.length >= killAfter, `round ${round}: ${confirmed.length} confirmations`);
    all.push(...confirmed);

    const check = new Database(db, { readonly: true });
    try {
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
      const find = check.prepare(
        'SELECT passes FROM triplets WHERE client = ? AND sender = ? AND recipient = ?',
      );
      const missing = all.filter((line) => {
        const [client, sender, recipient] = line.split('\t');
        const row = find.get(client, sender, recipient) as { passes: number } | undefined;
        return row === undefined || row.passes < 1;
      });
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${all.length} confirmed triplets lost`);
      const { n } = check.prepare('SELECT count(*) AS n FROM triplets WHERE passes > 0').get() as {
        n: number;
      };
      // the child may have committed a few passes after its last report reached us; never fewer
      assert.ok(n >= all.length, `${n} confirmed rows for ${all.length} reported`);
    } finally {
      check.close();
    }
  }
});
