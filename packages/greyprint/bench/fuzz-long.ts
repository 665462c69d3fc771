// The long fuzz run: one million mutated requests (or `--requests N`) against greyprint run as
// installed (dist/, built first), with its SQLite store and its default JSON log written to a
// file, every reply checked (test/helpers/fuzz.ts: one valid action per request, in order).
// The suite runs the same generator for 20,000 requests (test/daemon/fuzz.test.ts).
// `node --import tsx bench/fuzz-long.ts [--requests N] [--connections N] [--seed N]`
//
// It is a robustness run, not a speed comparison: postgrey is not the anchor here because it
// answers malformed requests differently by design. It prints the answers by kind, the parser's
// rejections by code, fail-opens by reason (an `exception` is a failure), the daemon's resident
// memory before and after, and whether it still answers at the end.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFuzz } from '../test/helpers/fuzz.js';
import { freePort, packageDir, stopChild, waitForListening } from './servers.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const requests = arg('--requests', 1_000_000);
const connections = arg('--connections', 8);
const seed = arg('--seed', 20261130);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
if (spawnSync(process.execPath, [tsc, '-b', packageDir], { stdio: 'inherit' }).status !== 0) process.exit(1);

async function scrape(metricsAt: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${metricsAt}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'gps-fuzz-long-'));
const [port, metricsPort] = [await freePort(), await freePort()];
const log = openSync(join(dir, 'greyprint.log'), 'w');
const child = spawn(
  process.execPath,
  [
    join(packageDir, 'dist', 'cli.js'),
    'serve',
    '--listen',
    `127.0.0.1:${port}`,
    '--db',
    join(dir, 'greylist.sqlite'),
    '--metrics',
    `127.0.0.1:${metricsPort}`,
    '--os-static',
    '192.0.2.0/24=Windows XP',
    '--os-static',
    '198.51.100.0/24=Linux 3.11 and newer',
  ],
  { stdio: ['ignore', log, log] },
);
let failed = false;
try {
  await waitForListening(`127.0.0.1:${port}`, child, 'greyprint');
  const metricsAt = `127.0.0.1:${metricsPort}`;
  const before = await scrape(metricsAt);
  console.log(
    `greyprint fuzz, long run: ${requests.toLocaleString('en')} requests, ${connections} connections, seed ${seed}`,
  );
  const r = await runFuzz({ host: '127.0.0.1', port, requests, connections, seed, stallMs: 30_000 });
  const after = await scrape(metricsAt);
  const rss = (m: Map<string, number>) =>
    ((m.get('process_resident_memory_bytes') ?? 0) / 2 ** 20).toFixed(0);
  const pick = (prefix: string) =>
    [...after]
      .filter(([k, v]) => k.startsWith(prefix) && v > 0)
      .map(([k, v]) => `${k.slice(prefix.length, -2)}=${v}`);
  const exceptions = after.get('greyprint_failopen_total{reason="exception"}') ?? 0;
  console.log(
    `sent ${r.sent}, replies ${r.replies}, invalid ${r.invalid.length}, in ${(r.ms / 1000).toFixed(1)} s (${Math.round((r.sent / r.ms) * 1000)} req/s)`,
  );
  console.log(
    `answers: ${Object.entries(r.byAction)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  console.log(`bad requests: ${pick('greyprint_bad_requests_total{code="').join(' ')}`);
  console.log(`fail open: ${pick('greyprint_failopen_total{reason="').join(' ') || 'none'}`);
  console.log(`daemon RSS: ${rss(before)} MiB before, ${rss(after)} MiB after`);
  for (const line of r.invalid) console.log(`INVALID ${line}`);
  const still = await runFuzz({ host: '127.0.0.1', port, requests: 100, connections: 1, seed: seed + 1 });
  console.log(
    `still answering afterwards: ${still.replies === 100 && still.invalid.length === 0 ? 'yes' : 'NO'}`,
  );
  failed = r.invalid.length > 0 || r.replies !== r.sent || exceptions > 0 || still.replies !== 100;
} catch (err) {
  console.log(`FAILED: ${(err as Error).message}`);
  failed = true;
} finally {
  await stopChild(child);
  rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? 'result: FAILED' : 'result: every reply valid, in order');
