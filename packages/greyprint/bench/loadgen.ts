// Load generator, run as its own process so that it does not share an event
// loop (or a core, when one is free) with the daemon under test. Opens C
// persistent connections and keeps exactly one request in flight on each, as
// Postfix smtpd processes do. Prints one JSON result line on stdout.
//
// usage: loadgen.ts HOST PORT CONCURRENCY FIRST COUNT
import { connect, type Socket } from 'node:net';
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
}

const [host = '127.0.0.1', portArg, concArg, firstArg, countArg] = process.argv.slice(2);
const port = Number(portArg);
const concurrency = Number(concArg);
const first = Number(firstArg);
const count = Number(countArg);
if (![port, concurrency, first, count].every(Number.isInteger) || concurrency < 1 || count < 1) {
  process.stderr.write('usage: loadgen.ts HOST PORT CONCURRENCY FIRST COUNT\n');
  process.exit(2);
}

// Requests are encoded before the clock starts, and replies are scanned as bytes: the generator
// must spend as little CPU per request as it can, or it measures itself.
const requests = Array.from({ length: count }, (_, k) => Buffer.from(policyRequest(first + k)));
const latencies = new Float64Array(count);
const actions: Record<string, number> = {};
let next = 0;
let done = 0;
let errors = 0;
const NL = 0x0a;
const ACTION_PREFIX = 'action='.length;

function runConnection(): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending: Buffer | undefined;
    let index = -1;
    let started = 0n;
    const sendNext = () => {
      if (next >= count) {
        socket.end();
        return;
      }
      index = next++;
      started = process.hrtime.bigint();
      socket.write(requests[index] as Buffer);
    };
    // `onread` hands each read straight to this callback in a reused buffer, without the
    // stream machinery of 'data' events: about half the generator's CPU per request.
    const onRead = (size: number, readBuffer: Buffer): boolean => {
      const chunk = readBuffer.subarray(0, size);
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let end = buf.indexOf('\n\n');
      while (end !== -1) {
        latencies[index] = Number(process.hrtime.bigint() - started) / 1e6;
        // the action word: from after "action=" to the first space or newline
        let stop = ACTION_PREFIX;
        while (stop < end && buf[stop] !== NL && buf[stop] !== 0x20) stop++;
        const action =
          buf.subarray(0, 7).toString('latin1') === 'action=' ? buf.toString('latin1', 7, stop) : 'NO_ACTION';
        actions[action] = (actions[action] ?? 0) + 1;
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
      host,
      port,
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

const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, runConnection));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const sorted = latencies.slice(0, done).sort();
const result: LoadResult = {
  requests: done,
  seconds,
  rps: done / seconds,
  p50ms: percentile(sorted, 50),
  p99ms: percentile(sorted, 99),
  maxms: sorted[sorted.length - 1] ?? Number.NaN,
  actions,
  errors,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
