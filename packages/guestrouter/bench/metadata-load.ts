/**
 * The load generator of the meta data benchmark, run inside the client namespace:
 *   node metadata-load.js TARGETS_JSON PORT REQUESTS CONCURRENCY
 * TARGETS_JSON is a file of [{source, gateway, vmId}]. Each request opens a new connection (as
 * cloud-init does) from `source` to `gateway:PORT`, asks `/latest/meta-data/instance-id` and checks
 * the answer is the VM's id. Prints one JSON line: requests per second, latency percentiles, errors.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

interface Target {
  source: string;
  gateway: string;
  vmId: string;
}

const [file, portText, requestsText, concurrencyText] = process.argv.slice(2);
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

const latencies: number[] = [];
const statuses = new Map<number, number>();
let errors = 0;
let next = 0;
const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const r = await one(targets[i % targets.length] as Target);
      latencies.push(r.ms);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (!r.ok) errors++;
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
latencies.sort((a, b) => a - b);
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
