// Load generator, run as its own process so that it does not share an event
// loop with the daemon under test. Opens C persistent connections and keeps
// exactly one request in flight on each, as Postfix smtpd processes do.
// Prints one JSON result line on stdout.
//
// usage: loadgen.ts ADDRESS CONCURRENCY FIRST COUNT
//   ADDRESS: HOST:PORT or unix:/PATH
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { percentile, policyRequest } from './stream.js';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  actions: Record<string, number>;
  errors: number;
  /** The generator's own CPU time (user + system) per request while it ran, in µs. */
  generatorCpuUsPerRequest: number;
}

const [address = '', concArg, firstArg, countArg] = process.argv.slice(2);
const concurrency = Number(concArg);
const first = Number(firstArg);
const count = Number(countArg);
if (![concurrency, first, count].every(Number.isInteger) || concurrency < 1 || count < 1 || address === '') {
  process.stderr.write('usage: loadgen.ts HOST:PORT|unix:/PATH CONCURRENCY FIRST COUNT\n');
  process.exit(2);
}
const target = address.startsWith('unix:')
  ? { path: address.slice(5) }
  : {
      host: address.slice(0, address.lastIndexOf(':')),
      port: Number(address.slice(address.lastIndexOf(':') + 1)),
    };

// Requests are encoded before the clock starts, replies are scanned as bytes, and the clock is a
// float (no bigint per reading): the generator must spend as little CPU per request as it can,
// or it measures itself.
const requests = Array.from({ length: count }, (_, k) => Buffer.from(policyRequest(first + k), 'latin1'));
const latencies = new Float64Array(count);
const actions = new Map<string, number>();
let next = 0;
let done = 0;
let errors = 0;
const NL = 0x0a;
const SPACE = 0x20;
const ACTION = Buffer.from('action=');

/** The action word of a reply (`DEFER_IF_PERMIT`, `DUNNO` ...), without building a string per reply. */
function tally(buf: Buffer, end: number): void {
  let stop = ACTION.length;
  while (stop < end && buf[stop] !== NL && buf[stop] !== SPACE) stop++;
  const action =
    buf.compare(ACTION, 0, ACTION.length, 0, ACTION.length) === 0
      ? buf.toString('latin1', 7, stop)
      : 'NO_ACTION';
  actions.set(action, (actions.get(action) ?? 0) + 1);
}

function runConnection(): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending: Buffer | undefined;
    let index = -1;
    let started = 0;
    const sendNext = () => {
      if (next >= count) {
        socket.end();
        return;
      }
      index = next++;
      started = performance.now();
      socket.write(requests[index] as Buffer);
    };
    // `onread` hands each read straight to this callback in a reused buffer, without the
    // stream machinery of 'data' events: about half the generator's CPU per request.
    const onRead = (size: number, readBuffer: Buffer): boolean => {
      const now = performance.now();
      let buf = readBuffer.subarray(0, size);
      if (pending !== undefined) buf = Buffer.concat([pending, buf]);
      let end = buf.indexOf('\n\n');
      while (end !== -1) {
        latencies[index] = now - started;
        tally(buf, end);
        done++;
        buf = buf.subarray(end + 2);
        sendNext();
        end = buf.indexOf('\n\n');
      }
      // copy the remainder out of the reused read buffer
      pending = buf.length > 0 ? Buffer.from(buf) : undefined;
      return true;
    };
    const socket: Socket = connect({
      ...target,
      noDelay: true,
      onread: { buffer: Buffer.allocUnsafe(65536), callback: onRead },
    });
    socket.on('connect', sendNext);
    socket.on('error', (err) => {
      errors++;
      reject(err);
    });
    socket.on('close', () => resolve());
  });
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, runConnection));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const sorted = latencies.slice(0, done).sort();
const result: LoadResult = {
  requests: done,
  seconds,
  rps: done / seconds,
  p50ms: percentile(sorted, 50),
  p99ms: percentile(sorted, 99),
  maxms: sorted[sorted.length - 1] ?? Number.NaN,
  actions: Object.fromEntries(actions),
  errors,
  generatorCpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, done),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
