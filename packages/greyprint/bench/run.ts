// Benchmark: postgrey (the anchor) against greyprint, the same stream of new
// triplets, every client greylisted, at concurrency 1 and 16, over TCP on
// loopback and over a unix socket (Postfix takes both: `check_policy_service
// inet:...` or `unix:...`). Each daemon starts with a fresh database and only
// one is under load at a time; the load generator runs in its own process. The
// daemons take turns run by run (see measureAll), so that every daemon meets
// the same conditions on a machine whose speed drifts.
// `node --import tsx bench/run.ts [--quick] [--tcp-only] [--repeat N]`
//
// greyprint runs from the compiled CLI (dist/, built first), as installed, at
// two log levels: `info`, the documented default (one JSON line per decision,
// here written to a file as a service manager would), which is the headline,
// and `warn` (faults only).
//
// Columns: req/s and latency percentiles as the load generator saw them (one
// request in flight per connection, as Postfix smtpd processes do); `cpu
// us/req` is the daemon's own CPU time (all threads, from /proc) per request,
// which other load on the machine disturbs far less than req/s or p99; `gen
// us/req` is the load generator's. The `load generator ceiling` rows drive a
// trivial DUNNO server: what the generator itself can drive on this machine.
// postgrey runs with --quiet (no log line per request), so greyprint at `warn`
// is the like-for-like setting; `info` adds greyprint's JSON line per decision.
// Both daemons keep their durability: postgrey syncs its BerkeleyDB log per
// request; greyprint commits every answer to its SQLite WAL before replying
// (synchronous=NORMAL, see src/store/sqlite.ts).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { LoadResult } from './loadgen.js';
import {
  packageDir,
  type RunningServer,
  startEchoServer,
  startGreyprint,
  startPostgrey,
  type Transport,
} from './servers.js';

const quick = process.argv.includes('--quick');
const transports: Transport[] = process.argv.includes('--tcp-only') ? ['tcp'] : ['tcp', 'unix'];
const plan = [
  { concurrency: 1, requests: quick ? 1000 : 3000 },
  { concurrency: 16, requests: quick ? 4000 : 20000 },
];
const warmup = { c1: 500, c16: quick ? 2000 : 5000 };
/**
 * `--repeat N`: every step N times in a row (the stream goes on, so every triplet stays new);
 * the row shows the median run by req/s and the range. On a machine others use, one run
 * can land in someone else's build or test run.
 */
const repeatArg = process.argv.indexOf('--repeat');
const repeat = repeatArg === -1 ? 1 : Math.max(1, Number(process.argv[repeatArg + 1]) || 1);

/** Compiles the package (tsc -b), so that the daemon measured is the one `npx greyprint` runs. */
function build(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', packageDir], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -b ${packageDir} failed (exit ${r.status})`);
}

function loadgen(address: string, concurrency: number, first: number, count: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(packageDir, 'bench', 'loadgen.ts'),
        address,
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
  /** Lowest and highest req/s over the repeats. */
  rpsRange: [number, number];
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

type Daemon = 'echo' | 'postgrey' | 'info' | 'warn';

/**
 * Drives every daemon through the plan, taking turns: for each concurrency and each repeat,
 * one run against each daemon in a row, so that the anchor and greyprint are measured under
 * the same conditions (on a shared machine, a minute can be much slower than the next).
 * Request numbers keep every triplet new, and equal across daemons.
 */
async function measureAll(
  starters: ReadonlyMap<Daemon, { what: string; start: () => Promise<RunningServer> }>,
): Promise<Map<Daemon, Results>> {
  const running = new Map<Daemon, RunningServer>();
  const results = new Map<Daemon, Results>();
  try {
    for (const [name, { what, start }] of starters) {
      try {
        const server = await start();
        running.set(name, server);
        // Warm-up on triplets outside the measured stream (JIT, page cache, first B-tree pages),
        // at both concurrencies: V8 needs a few thousand requests before the hot path is optimised.
        await loadgen(server.address, 1, 10_000_000, warmup.c1);
        await loadgen(server.address, 16, 10_000_000 + warmup.c1, warmup.c16);
      } catch (err) {
        // a daemon that cannot start is reported; the others are still measured
        console.log(`${what} could not be measured: ${(err as Error).message}`);
        await running.get(name)?.stop();
        running.delete(name);
      }
    }
    let first = 0;
    for (const step of plan) {
      const runs = new Map<Daemon, Omit<Measured, 'rpsRange'>[]>();
      for (let k = 0; k < repeat; k++) {
        for (const [name, server] of running) {
          const cpuBefore = cpuSeconds(server.pid);
          const r = await loadgen(server.address, step.concurrency, first, step.requests);
          const cpu = cpuSeconds(server.pid) - cpuBefore;
          const list = runs.get(name) ?? [];
          list.push({
            ...r,
            serverCpuUsPerRequest: (cpu * 1e6) / r.requests,
            serverPeakRssMb: peakRssMb(server.pid),
          });
          runs.set(name, list);
        }
        first += step.requests;
      }
      for (const [name, list] of runs) {
        list.sort((a, b) => a.rps - b.rps);
        const median = list[Math.floor((list.length - 1) / 2)] as Omit<Measured, 'rpsRange'>;
        const byConcurrency = results.get(name) ?? new Map();
        byConcurrency.set(step.concurrency, {
          ...median,
          rpsRange: [(list[0] as Measured).rps, (list[list.length - 1] as Measured).rps],
        });
        results.set(name, byConcurrency);
      }
    }
  } finally {
    for (const server of running.values()) await server.stop();
  }
  return results;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(9);
const actionsOf = (r: LoadResult) =>
  Object.entries(r.actions)
    .map(([a, n]) => `${a}:${n}`)
    .join(' ');

interface TransportResults {
  echo: Results | undefined;
  postgrey: Results | undefined;
  info: Results | undefined;
  warn: Results | undefined;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  console.log(
    `greyprint benchmark: new triplets, every client greylisted${quick ? ' (quick)' : ''}${repeat > 1 ? `, median of ${repeat} runs per row` : ''}; load average at the start: ${loadavg()}`,
  );
  build();
  const all = new Map<Transport, TransportResults>();
  for (const t of transports) {
    const r = await measureAll(
      new Map([
        ['echo', { what: 'the echo server', start: () => startEchoServer(t) }],
        [
          'postgrey',
          { what: 'postgrey (Debian package postgrey installed?)', start: () => startPostgrey(300, t) },
        ],
        ['info', { what: 'greyprint', start: () => startGreyprint(300, t, 'info') }],
        ['warn', { what: 'greyprint', start: () => startGreyprint(300, t, 'warn') }],
      ]),
    );
    all.set(t, {
      echo: r.get('echo'),
      postgrey: r.get('postgrey'),
      info: r.get('info'),
      warn: r.get('warn'),
    });
  }

  console.log('');
  console.log(
    `${'daemon'.padEnd(34)}${'conc'.padStart(5)}${'requests'.padStart(9)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'cpu us/req'.padStart(11)}${'gen us/req'.padStart(11)}${'rss MiB'.padStart(8)}${repeat > 1 ? '  req/s range'.padEnd(16) : ''}  actions`,
  );
  const row = (name: string, c: number, r: Measured | undefined) => {
    if (r === undefined) return;
    console.log(
      `${name.padEnd(34)}${String(c).padStart(5)}${String(r.requests).padStart(9)}${fmt(r.rps)}${fmt(r.p50ms, 3)}${fmt(r.p99ms, 3)}${fmt(r.maxms, 3)}${fmt(r.serverCpuUsPerRequest).padStart(11)}${fmt(r.generatorCpuUsPerRequest).padStart(11)}${fmt(r.serverPeakRssMb).padStart(8)}${repeat > 1 ? `  ${r.rpsRange.map((x) => x.toFixed(0)).join('-')}`.padEnd(16) : ''}  ${actionsOf(r)}`,
    );
  };
  for (const t of transports) {
    const r = all.get(t) as TransportResults;
    for (const { concurrency: c } of plan) {
      row(`${t}  load generator ceiling`, c, r.echo?.get(c));
      row(`${t}  postgrey 1.37`, c, r.postgrey?.get(c));
      row(`${t}  greyprint, log info to file`, c, r.info?.get(c));
      row(`${t}  greyprint, log warn`, c, r.warn?.get(c));
    }
  }
  console.log('');
  for (const t of transports) {
    const r = all.get(t) as TransportResults;
    for (const [label, g] of [
      ['info', r.info],
      ['warn', r.warn],
    ] as const) {
      for (const { concurrency: c } of plan) {
        const p = r.postgrey?.get(c);
        const m = g?.get(c);
        if (p === undefined || m === undefined) continue;
        console.log(
          `${t.padEnd(5)}c${String(c).padEnd(3)}greyprint (${label})/postgrey: throughput x${(m.rps / p.rps).toFixed(1)}, p50 ${(p.p50ms / m.p50ms).toFixed(1)}x lower, p99 ${(p.p99ms / m.p99ms).toFixed(1)}x lower, CPU per request ${(p.serverCpuUsPerRequest / m.serverCpuUsPerRequest).toFixed(1)}x less`,
        );
      }
    }
  }
  console.log('');
  for (const t of transports) {
    const r = all.get(t) as TransportResults;
    const p16 = r.postgrey?.get(16);
    const e16 = r.echo?.get(16);
    for (const [label, g] of [
      ['log info (the default, a line per decision)', r.info],
      ['log warn (no line per decision, as postgrey --quiet)', r.warn],
    ] as const) {
      const g16 = g?.get(16);
      if (p16 === undefined || g16 === undefined) continue;
      const met = g16.rps >= 10 * p16.rps && g16.p99ms < 2;
      const ceiling =
        e16 === undefined
          ? ''
          : `; generator ceiling ${e16.rps.toFixed(0)} req/s = x${(e16.rps / p16.rps).toFixed(1)} postgrey`;
      console.log(
        `target ${t}, ${label} (c16: >= 10x postgrey's req/s, p99 < 2 ms): ${met ? 'MET' : 'MISSED'} (x${(g16.rps / p16.rps).toFixed(1)}, p99 ${g16.p99ms.toFixed(2)} ms${ceiling})`,
      );
    }
  }
  console.log(`load average at the end: ${loadavg()} (other work on this machine skews every figure)`);
}

await main();
