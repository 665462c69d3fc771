/**
 * The load generator of the meta data benchmark, run inside the client namespace:
 *   node metadata-load.js TARGETS_JSON PORT REQUESTS CONCURRENCY [WARMUP]
 * TARGETS_JSON is a file of [{source, gateway, vmId}]. Each request opens a new connection (as
 * cloud-init does) from `source` to `gateway:PORT`, asks `/latest/meta-data/instance-id` and checks
 * the answer is the VM's id. Prints one JSON line: requests per second, latency percentiles, errors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

interface Target {
  source: string;
  gateway: string;
  vmId: string;
}

const [file, portText, requestsText, concurrencyText, warmupText] = process.argv.slice(2);
const targets = JSON.parse(readFileSync(file as string, 'utf8')) as Target[];
const port = Number(portText);
const total = Number(requestsText);
const concurrency = Number(concurrencyText);

function one(target: Target): Promise<{ ok: boolean; ms: number; status: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: target.gateway,
        port,
        path: '/latest/meta-data/instance-id',
        localAddress: target.source,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          resolve({
            ok: res.statusCode === 200 && body.trim() === target.vmId,
            ms,
            status: res.statusCode ?? 0,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () =>
      resolve({ ok: false, ms: Number(process.hrtime.bigint() - started) / 1e6, status: 0 }),
    );
    req.end();
  });
}

// Requests sent (and checked) before the measured ones, in this same process: a fresh client's first
// second (its own JIT warming up, sockets and ports first used) is slow against either server, and
// that is the client's latency, not the server's.
const warmup = Number(warmupText ?? 0);
const latencies: number[] = [];
// LOAD_DUMP=FILE: each request's start (ms from the first) and latency, one line each, for looking at the tail.
const dump: string[] | undefined = process.env.LOAD_DUMP ? [] : undefined;
const statuses = new Map<number, number>();
let errors = 0;

async function drive(count: number, record: boolean): Promise<number> {
  let next = 0;
  const from = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const at = Number(process.hrtime.bigint() - from) / 1e6;
        const r = await one(targets[i % targets.length] as Target);
        if (!r.ok) errors++;
        if (!record) continue;
        latencies.push(r.ms);
        if (dump) dump.push(`${at.toFixed(2)} ${r.ms.toFixed(2)}`);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }),
  );
  return Number(process.hrtime.bigint() - from) / 1e9;
}

if (warmup > 0) await drive(warmup, false);
const seconds = await drive(total, true);
latencies.sort((a, b) => a - b);
if (dump && process.env.LOAD_DUMP)
  writeFileSync(`${process.env.LOAD_DUMP}.${port}.${Date.now()}`, `${dump.join('\n')}\n`);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: total,
    seconds,
    rps: total / seconds,
    p50: pct(50),
    p99: pct(99),
    errors,
    statuses: Object.fromEntries(statuses),
  })}\n`,
);
