/**
 * Benchmark (not a test): OS lookups through p0f's API, and what the lookup
 * adds to a policy answer. Runs a real p0f in a namespace lab.
 *   node --import tsx packages/greyprint/test/p0f/lookup-bench.ts
 *
 * Anchor for the API: a connect-per-query client, which is what p0f's own
 * p0f-client does (connect, 21-byte query, 232-byte reply, close).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { P0fResponseParser, P0fSource, queryForAddress, serializeQuery } from '../../src/os/p0f/index.js';
import { CLIENT_XP, createLab, sendSyn, startP0f, stopChild } from '../e2e/lab.js';

const PACKAGE_DIR = resolve(import.meta.dirname, '../..');
const REPO_ROOT = resolve(PACKAGE_DIR, '../..');

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface Run {
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
}

async function measure(
  count: number,
  concurrency: number,
  one: (i: number) => Promise<unknown>,
): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await one(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSec: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

function connectPerQuery(socketPath: string, address: string): Promise<void> {
  return new Promise((ok, fail) => {
    const socket = connect(socketPath);
    const parser = new P0fResponseParser();
    socket.on('data', (chunk) =>
      parser.parse(chunk, () => {
        socket.destroy();
        ok();
      }),
    );
    socket.on('error', fail);
    socket.on('connect', () => socket.write(serializeQuery(queryForAddress(address))));
  });
}

const fmt = (r: Run) =>
  `${Math.round(r.perSec).toString().padStart(8)} lookups/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms`;

/** A policy client on one connection: sends a request, waits for its action. */
async function policyClient(target: number | string) {
  const socket: Socket = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
  await new Promise((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  let buffered = '';
  let waiting: ((action: string) => void) | undefined;
  socket.on('data', (chunk) => {
    buffered += chunk.toString();
    const end = buffered.indexOf('\n\n');
    if (end !== -1) {
      const reply = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      waiting?.(reply);
    }
  });
  return {
    ask(attributes: Record<string, string>): Promise<string> {
      return new Promise((ok) => {
        waiting = ok;
        socket.write(
          `${Object.entries(attributes)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n')}\n\n`,
        );
      });
    },
    close: () => socket.destroy(),
  };
}

/**
 * Policy answers from `greyprint serve ARGS`. With `inNs` the daemon runs in
 * that namespace (capture needs the lab's interface) and listens on a unix
 * socket in `inNs.dir`; `ready` runs once it answers (e.g. send the SYN).
 */
async function policyLatency(
  label: string,
  args: string[],
  count: number,
  inNs?: { ns: string; dir: string; ready: () => Promise<void> },
): Promise<void> {
  const target: number | string =
    inNs === undefined
      ? 20000 + Math.floor(Math.random() * 20000)
      : join(inNs.dir, `bench-${Date.now()}.sock`);
  const serve = [
    '--import',
    'tsx',
    join(PACKAGE_DIR, 'src/cli.ts'),
    'serve',
    '--listen',
    typeof target === 'number' ? `127.0.0.1:${target}` : `unix:${target}`,
    '--db',
    ':memory:',
    '--log-level',
    'silent',
    ...args,
  ];
  const child =
    inNs === undefined
      ? spawn(process.execPath, serve, { cwd: REPO_ROOT, stdio: 'ignore' })
      : spawn('ip', ['netns', 'exec', inNs.ns, process.execPath, ...serve], {
          cwd: REPO_ROOT,
          stdio: 'ignore',
        });
  try {
    let client: Awaited<ReturnType<typeof policyClient>> | undefined;
    for (let i = 0; i < 100 && !client; i += 1) {
      client = await policyClient(target).catch(async () => {
        await new Promise((ok) => setTimeout(ok, 100));
        return undefined;
      });
    }
    if (!client) throw new Error('greyprint serve did not listen');
    await inNs?.ready();
    const request = (i: number) => ({
      request: 'smtpd_access_policy',
      protocol_state: 'RCPT',
      client_address: CLIENT_XP,
      client_name: 'unknown',
      sender: `bench${i}@example.org`,
      recipient: 'postmaster@example.net',
    });
    for (let i = 0; i < 200; i += 1) await client.ask(request(-i - 1)); // warm-up
    const run = await measure(count, 1, (i) => (client as NonNullable<typeof client>).ask(request(i)));
    console.log(`  ${label.padEnd(34)} ${fmt(run).replace('lookups/s', 'answers/s')}`);
    client.close();
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const lab = await createLab();
  try {
    const p0f = await startP0f(lab);
    await sendSyn(lab.windowsNs, CLIENT_XP);
    await new Promise((ok) => setTimeout(ok, 300));
    console.log('p0f v3 API lookups of a known client (real p0f 3.09b, unix socket)');
    const anchor = await measure(2000, 1, () => connectPerQuery(p0f.socket, CLIENT_XP));
    console.log(`  anchor: connect per query (p0f-client style), c=1   ${fmt(anchor)}`);
    const noCache = new P0fSource({ socket: p0f.socket, timeoutMs: 1000, poolSize: 4, cacheTtlSec: 0 });
    const pooled1 = await measure(5000, 1, () => noCache.lookup(CLIENT_XP));
    console.log(
      `  greyprint pool, no cache, c=1                    ${fmt(pooled1)}  (${(pooled1.perSec / anchor.perSec).toFixed(1)}x anchor)`,
    );
    await noCache.close();
    // 64 distinct addresses so that concurrent lookups are not merged into one
    // question; p0f has not seen them, so the second question after a
    // no-match is turned off to measure the API itself.
    const spread = Array.from({ length: 64 }, (_, i) => `10.77.3.${i}`);
    const noRetry = new P0fSource({
      socket: p0f.socket,
      timeoutMs: 1000,
      poolSize: 4,
      cacheTtlSec: 0,
      noMatchRetryMs: 0,
    });
    const pooled16 = await measure(10000, 16, (i) => noRetry.lookup(spread[i % 64] as string));
    console.log(
      `  greyprint pool of 4, no cache, c=16              ${fmt(pooled16)}  (${(pooled16.perSec / anchor.perSec).toFixed(1)}x anchor)`,
    );
    await noRetry.close();
    const cached = new P0fSource({ socket: p0f.socket, timeoutMs: 1000, poolSize: 4, cacheTtlSec: 60 });
    await cached.lookup(CLIENT_XP);
    const hits = await measure(200000, 1, () => cached.lookup(CLIENT_XP));
    console.log(
      `  greyprint with cache (hits), c=1                 ${fmt(hits)}  (${(hits.perSec / anchor.perSec).toFixed(0)}x anchor)`,
    );
    await cached.close();

    console.log('policy answer latency at RCPT (greyprint serve, one connection, new triplet each)');
    await policyLatency('no OS source (unknown)', [], 3000);
    await policyLatency('--os-static pin', ['--os-static', `${CLIENT_XP}/32=Windows XP`], 3000);
    const config = (cacheTtlSec: number) => {
      const file = join(lab.dir, `bench-${cacheTtlSec}.json`);
      writeFileSync(file, JSON.stringify({ p0f: { socket: p0f.socket, cacheTtlSec } }));
      return file;
    };
    await policyLatency('p0f, no cache (API per request)', ['--config', config(0)], 3000);
    await policyLatency('p0f, cache 30 s (default)', ['--config', config(30)], 3000);
    // greyprint's own capture: the SYN is classified as it passes, the lookup reads the host cache.
    await policyLatency('--capture (own engine, SYN seen)', ['--capture', lab.serverIface], 3000, {
      ns: lab.serverNs,
      dir: lab.dir,
      ready: async () => {
        await new Promise((ok) => setTimeout(ok, 1500)); // tcpdump starting
        await sendSyn(lab.windowsNs, CLIENT_XP, 25); // the capture filter's port
        await new Promise((ok) => setTimeout(ok, 300));
      },
    });
    await p0f.stop();
  } finally {
    await lab.destroy();
  }
}

void main();
