/**
 * Mutated policy requests and a driver that checks every reply, shared by the bounded fuzz test
 * (test/daemon/fuzz.test.ts) and the long run (bench/fuzz-long.ts). Seeded, so a failure
 * reproduces with the seed it prints.
 *
 * Each generated request is a run of attribute lines ended by one empty line, and mutations
 * never add or remove a newline, so every request gets exactly one reply: the driver can
 * match replies to requests by order, as Postfix does.
 */
import { connect, type Socket } from 'node:net';
import { PolicyReplyParser } from '../../src/index.js';

/** mulberry32: small, fast, good enough to spread mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATES = ['RCPT', 'DATA', 'CONNECT', 'EHLO', 'MAIL', 'END-OF-MESSAGE', 'VRFY', 'BDAT', 'rcpt', ''];
const ADDRESSES = [
  '192.0.2.7',
  '198.51.100.3',
  '2001:db8::1',
  '::ffff:192.0.2.9',
  '300.1.1.1',
  'unknown',
  '',
  '10.0.0.1',
];
const ODD = [
  '\0',
  '\r',
  '\u0001',
  '\u001b[2J',
  'é',
  '\u00ff',
  '=',
  '==',
  '#',
  ' ',
  '\t',
  '%s%n',
  '{recipient_domain}',
  '\u2028',
];

/** Every answer greyprint may give: anything else is a failure. */
export const VALID_REPLY =
  /^(DUNNO|DEFER_IF_PERMIT [\x20-\x7e]{1,256}|PREPEND X-P0f-OS: [\x20-\x7e]{1,120}|PREPEND X-Greyprint: [\x20-\x7e]{1,120})$/;

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

/** One request as bytes: a plausible Postfix request, then 0-4 mutations. */
export function mutatedRequest(r: () => number, n: number): Buffer {
  const attrs: [string, string][] = [
    ['request', r() < 0.95 ? 'smtpd_access_policy' : pick(r, ['junk', '', 'smtpd_access_policyx'])],
    ['protocol_state', pick(r, STATES)],
    ['protocol_name', 'ESMTP'],
    ['client_address', pick(r, ADDRESSES)],
    ['client_name', pick(r, ['unknown', 'mail.example.com', 'dsl-192-0-2-7.pool.example.net', ''])],
    ['reverse_client_name', 'unknown'],
    ['helo_name', 'client.example'],
    ['sender', `s${n % 97}@example.org`],
    ['recipient', `r${n % 89}@example.net`],
    ['instance', `fz.${n}`],
    ['queue_id', ''],
  ];
  const mutations = Math.floor(r() * 5);
  for (let m = 0; m < mutations; m++) {
    const i = Math.floor(r() * attrs.length);
    const at = attrs[i] as [string, string];
    switch (Math.floor(r() * 8)) {
      case 0: // odd characters into a value
        at[1] =
          at[1].slice(0, Math.floor(r() * at[1].length)) +
          pick(r, ODD) +
          at[1].slice(Math.floor(r() * at[1].length));
        break;
      case 1: // a long value: past maxLineBytes sometimes
        at[1] = 'x'.repeat(Math.floor(r() * 6000));
        break;
      case 2: // a line without '='
        at[0] = `${at[0]}${at[1]}`.replaceAll('=', '');
        at[1] = '\u0000NOEQ';
        break;
      case 3: // an unknown attribute
        attrs.push([`x_${Math.floor(r() * 1000)}`, pick(r, ODD)]);
        break;
      case 4: // many attributes: past maxAttributes sometimes
        for (let k = Math.floor(r() * 150); k > 0; k--) attrs.push([`a${k}`, 'v']);
        break;
      case 5: // an attribute twice
        attrs.push([at[0], pick(r, ODD)]);
        break;
      case 6: // drop one
        attrs.splice(i, 1);
        break;
      default: // an empty name
        at[0] = '';
    }
  }
  if (attrs.length === 0) attrs.push(['request', 'smtpd_access_policy']);
  // Mutations must not end a request early: no line may be empty, nor a lone CR (the codec reads
  // `\r\n` as a line end, as Postfix writes none but a client might).
  const lines = attrs
    .map(([k, v]) => (v === '\u0000NOEQ' ? k : `${k}=${v}`))
    .map((l) => (l === '' || l === '\r' ? '_' : l));
  const text = `${lines.join('\n')}\n\n`;
  const bytes = Buffer.from(text, r() < 0.1 ? 'latin1' : 'utf8');
  // Rarely, invalid UTF-8 in the middle of a line.
  if (r() < 0.05 && bytes.length > 20 && bytes[10] !== 0x0a) bytes[10] = 0xc3 + Math.floor(r() * 3);
  return bytes;
}

export interface FuzzResult {
  readonly sent: number;
  readonly replies: number;
  /** Replies that are not a valid action, with the seed and request number. */
  readonly invalid: string[];
  readonly byAction: Record<string, number>;
  readonly ms: number;
}

function openSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends `requests` mutated requests over `connections` connections, `batch` at a time per
 * connection (written in random pieces), and checks each reply. Rejects when a connection
 * closes or stalls with replies missing.
 */
export async function runFuzz(options: {
  host: string;
  port: number;
  requests: number;
  connections?: number;
  batch?: number;
  seed?: number;
  stallMs?: number;
}): Promise<FuzzResult> {
  const { host, port, requests } = options;
  const connections = options.connections ?? 8;
  const batch = options.batch ?? 32;
  const seed = options.seed ?? 1;
  const invalid: string[] = [];
  const byAction: Record<string, number> = {};
  let replies = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (w: number) => {
    const r = prng(seed * 1000 + w);
    const socket = await openSocket(host, port);
    let waiting: (() => void) | undefined;
    let pending = 0;
    let numbers: number[] = [];
    const parser = new PolicyReplyParser((action) => {
      const n = numbers.shift();
      replies++;
      const kind = action.split(' ', 1)[0] ?? '';
      byAction[kind] = (byAction[kind] ?? 0) + 1;
      if (!VALID_REPLY.test(action) && invalid.length < 20)
        invalid.push(`seed ${seed} worker ${w} request ${n}: ${JSON.stringify(action.slice(0, 200))}`);
      if (--pending === 0) waiting?.();
    });
    let closed = false;
    socket.on('data', (c: Buffer) => parser.feed(c));
    socket.on('close', () => {
      closed = true;
      waiting?.();
    });
    socket.on('error', () => undefined);
    try {
      while (next < requests) {
        const chunk: Buffer[] = [];
        numbers = [];
        for (let i = 0; i < batch && next < requests; i++) {
          const n = next++;
          numbers.push(n);
          chunk.push(mutatedRequest(r, n));
        }
        pending = chunk.length;
        const all = Buffer.concat(chunk);
        // In random pieces: the parser must not care where a read ends.
        for (let at = 0; at < all.length; ) {
          const len = r() < 0.7 ? all.length - at : 1 + Math.floor(r() * 300);
          socket.write(all.subarray(at, at + len));
          at += len;
        }
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(
                new Error(
                  `seed ${seed} worker ${w}: ${pending} replies missing after ${options.stallMs ?? 10000} ms`,
                ),
              ),
            options.stallMs ?? 10000,
          );
          waiting = () => {
            clearTimeout(timer);
            if (pending === 0) resolve();
            else if (closed)
              reject(
                new Error(
                  `seed ${seed} worker ${w}: connection closed with ${pending} replies missing (requests ${numbers.join(',')})`,
                ),
              );
          };
          if (pending === 0) waiting();
        });
      }
    } finally {
      socket.destroy();
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  return { sent: next, replies, invalid, byAction, ms: performance.now() - started };
}
