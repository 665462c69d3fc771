// Benchmark: postgrey (the anchor) against greyprint, the same stream of new
// triplets, every client greylisted, at concurrency 1 and 16. Each daemon runs
// alone with a fresh database while its turn lasts; the load generator runs
// in its own process. `node --import tsx bench/run.ts [--quick]`
//
// Columns: req/s and latency percentiles as the load generator saw them (one
// request in flight per connection, as Postfix smtpd processes do); `cpu
// us/req` is the daemon's own CPU time (all threads, from /proc) per request,
// which other load on the machine disturbs far less than req/s or p99. The
// first rows drive a trivial DUNNO server: the generator's own ceiling.
// Both daemons keep their durability: postgrey syncs its BerkeleyDB log per
// request; greyprint commits every answer to its SQLite WAL before replying
// (synchronous=NORMAL, see src/store/sqlite.ts).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './loadgen.js';
import { packageDir, type RunningServer, startEchoServer, startGreyprint, startPostgrey } from './servers.js';

const quick = process.argv.includes('--quick');
const plan = [
  { concurrency: 1, requests: quick ? 1000 : 3000 },
  { concurrency: 16, requests: quick ? 3000 : 8000 },
];
const warmup = { c1: 500, c16: quick ? 1000 : 3000 };

function loadgen(port: number, concurrency: number, first: number, count: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(packageDir, 'bench', 'loadgen.ts'),
        '127.0.0.1',
        String(port),
        String(concurrency),
        String(first),
        String(count),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      out += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`load generator exited ${code}`));
      else resolve(JSON.parse(out) as LoadResult);
    });
  });
}

/** Measured on the daemon's side: CPU time it used (user + system, all threads), peak RSS. */
interface Measured extends LoadResult {
  serverCpuUsPerRequest: number;
  serverPeakRssMb: number;
}

/** Peak resident set size of a process so far (VmHWM), in MiB. */
function peakRssMb(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}
type Results = Map<number, Measured>;

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process from /proc/PID/stat, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name may contain spaces: fields start after the closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Drives one daemon through the plan; request numbers keep every triplet new, and equal across daemons. */
async function measure(start: () => Promise<RunningServer>): Promise<Results> {
  const server = await start();
  const results: Results = new Map();
  try {
    // Warm-up on triplets outside the measured stream (JIT, page cache, first B-tree pages),
    // at both concurrencies: V8 needs a few thousand requests before the hot path is optimised.
    await loadgen(server.port, 1, 10_000_000, warmup.c1);
    await loadgen(server.port, 16, 10_000_000 + warmup.c1, warmup.c16);
    let first = 0;
    for (const step of plan) {
      const cpuBefore = cpuSeconds(server.pid);
      const r = await loadgen(server.port, step.concurrency, first, step.requests);
      const cpu = cpuSeconds(server.pid) - cpuBefore;
      results.set(step.concurrency, {
        ...r,
        serverCpuUsPerRequest: (cpu * 1e6) / r.requests,
        serverPeakRssMb: peakRssMb(server.pid),
      });
      first += step.requests;
    }
  } finally {
    await server.stop();
  }
  return results;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(9);
const actionsOf = (r: LoadResult) =>
  Object.entries(r.actions)
    .map(([a, n]) => `${a}:${n}`)
    .join(' ');

async function main(): Promise<void> {
  console.log(`greyprint benchmark: new triplets, every client greylisted${quick ? ' (quick)' : ''}`);
  const echo = await measure(startEchoServer);
  // Either daemon failing to start is reported and the other is still measured.
  let postgrey: Results = new Map();
  try {
    postgrey = await measure(() => startPostgrey(300));
  } catch (err) {
    console.log(
      `postgrey could not be measured (Debian package postgrey installed?): ${(err as Error).message}`,
    );
  }
  let greyprint: Results | undefined;
  try {
    greyprint = await measure(() => startGreyprint(300));
  } catch (err) {
    console.log(`greyprint could not be measured: ${(err as Error).message}`);
  }

  console.log('');
  console.log(
    `${'daemon'.padEnd(26)}${'conc'.padStart(5)}${'requests'.padStart(9)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'cpu us/req'.padStart(11)}${'rss MiB'.padStart(8)}  actions`,
  );
  const row = (name: string, c: number, r: Measured | undefined) => {
    if (r === undefined) return;
    console.log(
      `${name.padEnd(26)}${String(c).padStart(5)}${String(r.requests).padStart(9)}${fmt(r.rps)}${fmt(r.p50ms, 3)}${fmt(r.p99ms, 3)}${fmt(r.maxms, 3)}${fmt(r.serverCpuUsPerRequest).padStart(11)}${fmt(r.serverPeakRssMb).padStart(8)}  ${actionsOf(r)}`,
    );
  };
  for (const { concurrency: c } of plan) {
    row('load generator ceiling', c, echo.get(c));
    row('postgrey 1.37', c, postgrey.get(c));
    row('greyprint (SQLite, WAL)', c, greyprint?.get(c));
  }
  if (greyprint !== undefined) {
    console.log('');
    for (const { concurrency: c } of plan) {
      const p = postgrey.get(c);
      const g = greyprint.get(c);
      if (p === undefined || g === undefined) continue;
      console.log(
        `c${String(c).padEnd(3)} greyprint/postgrey: throughput x${(g.rps / p.rps).toFixed(1)}, p50 ${(p.p50ms / g.p50ms).toFixed(1)}x lower, p99 ${(p.p99ms / g.p99ms).toFixed(1)}x lower, CPU per request ${(p.serverCpuUsPerRequest / g.serverCpuUsPerRequest).toFixed(1)}x less`,
      );
    }
    const p16 = postgrey.get(16);
    const g16 = greyprint.get(16);
    if (p16 !== undefined && g16 !== undefined) {
      const met = g16.rps >= 10 * p16.rps && g16.p99ms < 2;
      console.log(
        `target (c16: >= 10x postgrey's req/s, p99 < 2 ms): ${met ? 'met' : 'missed'} (x${(g16.rps / p16.rps).toFixed(1)}, p99 ${g16.p99ms.toFixed(2)} ms)`,
      );
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`load average at the end: ${load} (other work on this machine skews every figure)`);
  }
}

await main();
