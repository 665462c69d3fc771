import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SignatureRecord } from '../../src/os/fingerprint/index.js';
import { Quirk, TcpOption } from '../../src/os/fingerprint/index.js';

/** One packet for make-pcap.py (see its docstring). */
export interface PacketSpec {
  v: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ttl: number;
  tos?: number;
  df?: boolean;
  mbz?: boolean;
  id?: number;
  flow?: number;
  flags?: number;
  ns?: boolean;
  seq?: number;
  ack?: number;
  urg?: number;
  win: number;
  opts?: string;
  ipopts?: number;
  payload?: string;
}

const MAKE_PCAP = fileURLToPath(new URL('./make-pcap.py', import.meta.url));

/** Writes the packets as a pcap with Debian's scapy (not the python3 on PATH). */
export function writePcap(
  path: string,
  packets: PacketSpec[],
  link: 'ether' | 'sll' | 'raw' = 'ether',
): void {
  execFileSync('/usr/bin/python3', [MAKE_PCAP, path], {
    input: JSON.stringify({ link, packets }),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
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

const hex = (bytes: number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join('');

/** TCP option bytes for a p0f layout; undefined when the layout does not fill whole 32-bit words. */
export function optionBytes(
  layout: readonly number[],
  values: { mss: number; wscale: number; ts1: number; ts2: number; eolPad: number; eolNonZero?: boolean },
): string | undefined {
  const out: number[] = [];
  for (const kind of layout) {
    switch (kind) {
      case TcpOption.EOL:
        out.push(0);
        for (let i = 0; i < values.eolPad; i++)
          out.push(values.eolNonZero && i === values.eolPad - 1 ? 1 : 0);
        break;
      case TcpOption.NOP:
        out.push(1);
        break;
      case TcpOption.MSS:
        out.push(2, 4, values.mss >> 8, values.mss & 0xff);
        break;
      case TcpOption.WS:
        out.push(3, 3, values.wscale);
        break;
      case TcpOption.SOK:
        out.push(4, 2);
        break;
      case TcpOption.SACK:
        out.push(5, 10, 0, 0, 0, 1, 0, 0, 0, 2);
        break;
      case TcpOption.TS:
        out.push(8, 10, ...u32(values.ts1), ...u32(values.ts2));
        break;
      default:
        out.push(kind, 2);
    }
  }
  if (out.length % 4 !== 0 || out.length > 40) return undefined;
  return hex(out);
}

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/**
 * A client SYN built to meet one `[tcp:request]` signature: its window rule,
 * TTL (some hops below), options and quirks. Undefined when the signature
 * cannot be written as a packet (options not in whole words, `bad`).
 */
export function synForSignature(rec: SignatureRecord, i: number, rnd: () => number): PacketSpec | undefined {
  const s = rec.sig;
  if (s.quirks & Quirk.OPT_BAD) return undefined;
  const v: 4 | 6 = s.ipVersion ?? (i % 3 === 2 ? 6 : 4);
  const mss = s.mss ?? [1460, 1440, 1380, 1360, 536][i % 5] ?? 1460;
  const wscale = s.wscale ?? Math.floor(rnd() * 15);
  let win: number;
  switch (s.winType) {
    case 'normal':
      win = s.win;
      break;
    case 'any':
      win = 1 + Math.floor(rnd() * 65535);
      break;
    case 'mod':
      win = s.win * Math.max(1, Math.floor((rnd() * 65535) / s.win));
      break;
    case 'mss':
      win = s.win * mss;
      break;
    case 'mtu':
      win = s.win * (mss + 40);
      break;
  }
  if (win > 65535) return undefined;
  const q = s.quirks;
  const opts = optionBytes(s.layout, {
    mss,
    wscale: q & Quirk.OPT_EXWS ? 15 : wscale,
    ts1: q & Quirk.OPT_ZERO_TS1 ? 0 : 1000 + i,
    ts2: q & Quirk.OPT_NZ_TS2 ? 77 : 0,
    eolPad: s.eolPad,
    eolNonZero: (q & Quirk.OPT_EOL_NZ) !== 0,
  });
  if (opts === undefined) return undefined;
  const hops = i % 4 === 3 ? 40 : i % 7; // now and then beyond MAX_DIST: a fuzzy TTL
  let flags = 0x02;
  if (q & Quirk.URG) flags |= 0x20;
  if (q & Quirk.PUSH) flags |= 0x08;
  if (q & Quirk.ECN && i % 2 === 0) flags |= 0xc0;
  return {
    v,
    src: v === 4 ? `10.${(i >> 8) & 255}.${i & 255}.1` : `2001:db8::${i.toString(16)}:1`,
    dst: v === 4 ? '192.0.2.25' : '2001:db8::25',
    sport: 10000 + i,
    dport: 25,
    ttl: Math.max(1, s.ttl - hops),
    tos: q & Quirk.ECN && i % 2 === 1 ? 0x02 : 0,
    df: (q & Quirk.DF) !== 0,
    mbz: (q & Quirk.NZ_MBZ) !== 0,
    id: q & Quirk.ZERO_ID ? 0 : q & Quirk.DF && !(q & Quirk.NZ_ID) ? 0 : 1 + i,
    flow: q & Quirk.FLOW ? 0x12345 : 0,
    flags,
    seq: q & Quirk.ZERO_SEQ ? 0 : 100000 + i,
    ack: q & Quirk.NZ_ACK ? 0x01000000 : 0,
    urg: q & Quirk.NZ_URG ? 7 : 0,
    win,
    opts,
    ipopts: v === 4 ? s.ipOptLen - (s.ipOptLen % 4) : 0,
    payload: s.payloadClass === 1 ? '68656c6c6f' : '',
  };
}

const LAYOUTS = [
  [2, 1, 3, 1, 1, 4],
  [2, 1, 1, 4],
  [2, 4, 8, 1, 3],
  [2, 1, 3, 1, 1, 8, 4, 0],
  [2, 1, 3, 4, 8],
  [2, 1, 3, 1, 1, 4, 1, 1, 8],
  [2, 1, 1, 4, 1, 3],
  [2],
  [],
  [2, 1, 3, 8, 4, 0],
];

/** Random SYNs around real stacks' shapes, with garbage mixed in: for the differential test. */
export function randomSyn(i: number, rnd: () => number): PacketSpec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const v: 4 | 6 = rnd() < 0.3 ? 6 : 4;
  const mss = pick([1460, 1440, 1400, 1380, 1360, 1220, 536, 8960, 65495, 0, 99]);
  const layout = pick(LAYOUTS);
  let opts =
    optionBytes(layout, {
      mss,
      wscale: pick([0, 1, 2, 6, 7, 8, 9, 14, 15]),
      ts1: rnd() < 0.1 ? 0 : 12345,
      ts2: rnd() < 0.1 ? 9 : 0,
      eolPad: layout.at(-1) === 0 ? (4 - ((layout.length + 8) % 4)) % 4 : 0,
    }) ?? '';
  if (rnd() < 0.08) {
    // Malformed option bytes: an impossible length, an unknown kind, a cut option.
    opts = pick(['020504b40101', '0303', '05ff0101', '1e010101', '080a00000001', '02040584', 'fe280000']);
    while (opts.length % 8 !== 0) opts += '00';
  }
  const win = pick([
    64240,
    65535,
    8192,
    mss * 10,
    mss * 44,
    mss * 4,
    29200,
    14600,
    (mss + 40) * 2,
    Math.floor(rnd() * 65536),
  ]);
  return {
    v,
    src: v === 4 ? `172.16.${(i >> 8) & 255}.${i & 255}` : `2001:db8:1::${i.toString(16)}`,
    dst: v === 4 ? '192.0.2.25' : '2001:db8::25',
    sport: 30000 + i,
    dport: rnd() < 0.5 ? 25 : 587,
    ttl: pick([64, 63, 57, 128, 127, 119, 255, 250, 32, 200, 90, 1]),
    tos: rnd() < 0.1 ? pick([1, 2, 3, 0x10, 0xb8]) : 0,
    df: rnd() < 0.8,
    mbz: rnd() < 0.03,
    id: rnd() < 0.2 ? 0 : Math.floor(rnd() * 65535) + 1,
    flow: v === 6 && rnd() < 0.6 ? Math.floor(rnd() * 0xfffff) + 1 : 0,
    flags: 0x02 | (rnd() < 0.05 ? 0xc0 : 0) | (rnd() < 0.03 ? 0x08 : 0) | (rnd() < 0.02 ? 0x20 : 0),
    ns: rnd() < 0.02,
    seq: rnd() < 0.03 ? 0 : 1 + Math.floor(rnd() * 2 ** 31),
    ack: rnd() < 0.05 ? pick([1, 0x01000000, 0x03000000, 0x00000100]) : 0,
    urg: rnd() < 0.03 ? 5 : 0,
    win: win % 65536,
    opts,
    ipopts: v === 4 && rnd() < 0.03 ? 4 : 0,
    payload: rnd() < 0.03 ? '00ff' : '',
  };
}

/**
 * p0f -r's log lines for SYNs, by client port: os (or app), dist, params, raw_sig.
 * A SYN with p0f-sendsyn's window and MSS is logged as `sendsyn probe`: still a SYN.
 */
export function readP0fSynLog(
  text: string,
): Map<number, { os: string; dist: string; params: string; raw: string }> {
  const out = new Map<number, { os: string; dist: string; params: string; raw: string }>();
  for (const line of text.split('\n')) {
    if (!/\] mod=(syn|sendsyn probe)\|/.test(line)) continue;
    const fields = new Map<string, string>();
    for (const part of line.slice(line.indexOf('mod=')).split('|')) {
      const eq = part.indexOf('=');
      fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const cli = fields.get('cli') ?? '';
    const port = Number(cli.slice(cli.lastIndexOf('/') + 1));
    out.set(port, {
      os: fields.get('os') ?? fields.get('app') ?? '',
      dist: fields.get('dist') ?? '',
      params: fields.get('params') ?? '',
      raw: fields.get('raw_sig') ?? '',
    });
  }
  return out;
}
