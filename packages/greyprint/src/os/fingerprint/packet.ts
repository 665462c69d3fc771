import { MIN_TCP4, MIN_TCP6 } from './match.js';
import { layoutKey, MAX_TCP_OPTIONS, TcpOption } from './options.js';
import { Quirk } from './quirks.js';
import type { SignatureProbe } from './signature.js';

/** TCP flag bits. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
};

/**
 * What p0f reads from one IP packet carrying TCP (process.c parse_packet). It
 * is also the matcher's probe as it stands (window `normal`), so classifying
 * a SYN allocates nothing more for the comparison.
 */
export interface TcpPacket extends SignatureProbe {
  readonly ipVersion: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly ttl: number;
  /** DSCP (the TOS byte without its ECN bits), as p0f's `tos:` flag. */
  readonly tos: number;
  readonly ipOptLen: number;
  readonly quirks: number;
  /** IP plus TCP header bytes. */
  readonly totalHeader: number;
  /** The TCP flags byte. */
  readonly flags: number;
  readonly seq: number;
  readonly win: number;
  /** 0 when the SYN carries no MSS option (as p0f). */
  readonly mss: number;
  /** 0 when absent (as p0f); `hasWscale` tells the two apart for JA4T. */
  readonly wscale: number;
  readonly hasMss: boolean;
  readonly hasWscale: boolean;
  readonly ts1: number;
  readonly layout: readonly number[];
  readonly layoutKey: string;
  readonly eolPad: number;
  readonly payloadLength: number;
  readonly winType: 'normal';
  readonly payloadClass: 0 | 1;
}

/** Why a frame gave no TCP packet to fingerprint; counted, never thrown. */
export type SkipReason =
  | 'truncated'
  | 'not_ip'
  | 'not_tcp'
  | 'fragment'
  | 'bad_ip_header'
  | 'bad_tcp_header'
  | 'bad_tcp_flags';

export type ParseResult = { readonly packet: TcpPacket } | { readonly skip: SkipReason };

/** p0f never looks at more than this many bytes of a frame (config.h SNAPLEN). */
const SNAPLEN = 65535;

const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);
const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] as number) << 24) |
    ((b[o + 1] as number) << 16) |
    ((b[o + 2] as number) << 8) |
    (b[o + 3] as number)) >>>
  0;

/**
 * Parses an IPv4 or IPv6 packet carrying TCP, starting at `offset`, with the
 * checks, quirks and option walk of p0f 3.09b. `length` is the bytes captured
 * from there (shorter than the packet when the capture was cut).
 * A malformed packet is skipped with a reason, never thrown; problems inside
 * the TCP options are p0f's `bad` quirk, not a skip.
 */
export function parseIpPacket(buf: Uint8Array, offset = 0, length = buf.length - offset): ParseResult {
  let packetLen = Math.min(length, buf.length - offset, SNAPLEN);
  if (packetLen < MIN_TCP4) return { skip: 'truncated' };
  const first = buf[offset] as number;
  let quirks = 0;
  let ipVersion: 4 | 6;
  let ipOptLen: number;
  let src: string;
  let dst: string;
  let tos: number;
  let ttl: number;
  let totalHeader: number;
  let tcp: number;

  if (first >> 4 === 4) {
    const hdrLen = (first & 0x0f) * 4;
    const flagsOff = u16(buf, offset + 6);
    const totLen = u16(buf, offset + 2);
    // A packet claiming to be shorter than what arrived is taken at its word (Ethernet padding).
    if (packetLen > totLen) packetLen = totLen;
    if (packetLen < MIN_TCP4) return { skip: 'truncated' };
    if (hdrLen < 20) return { skip: 'bad_ip_header' };
    if (totLen > packetLen) return { skip: 'truncated' };
    if (hdrLen + 20 > packetLen) return { skip: 'bad_ip_header' };
    if (buf[offset + 9] !== 6) return { skip: 'not_tcp' };
    // MF or a fragment offset: p0f fingerprints unfragmented traffic only.
    if (flagsOff & ~(0x4000 | 0x8000) & 0xffff) return { skip: 'fragment' };
    ipVersion = 4;
    ipOptLen = hdrLen - 20;
    src = ipv4String(buf, offset + 12);
    dst = ipv4String(buf, offset + 16);
    const tosEcn = buf[offset + 1] as number;
    tos = tosEcn >> 2;
    ttl = buf[offset + 8] as number;
    if (tosEcn & 0x03) quirks |= Quirk.ECN;
    if (flagsOff & 0x8000) quirks |= Quirk.NZ_MBZ;
    const id = u16(buf, offset + 4);
    if (flagsOff & 0x4000) {
      quirks |= Quirk.DF;
      if (id !== 0) quirks |= Quirk.NZ_ID;
    } else if (id === 0) {
      quirks |= Quirk.ZERO_ID;
    }
    totalHeader = hdrLen;
    tcp = offset + hdrLen;
    packetLen -= hdrLen;
  } else if (first >> 4 === 6) {
    const verTos = u32(buf, offset);
    const totLen = u16(buf, offset + 4) + 40;
    if (packetLen > totLen) packetLen = totLen;
    if (packetLen < MIN_TCP6) return { skip: 'truncated' };
    if (totLen > packetLen) return { skip: 'truncated' };
    // p0f does not walk IPv6 extension headers.
    if (buf[offset + 6] !== 6) return { skip: 'not_tcp' };
    ipVersion = 6;
    ipOptLen = 0;
    src = ipv6String(buf, offset + 8);
    dst = ipv6String(buf, offset + 24);
    tos = (verTos >>> 22) & 0x3f;
    ttl = buf[offset + 7] as number;
    if (verTos & 0xfffff) quirks |= Quirk.FLOW;
    if ((verTos >>> 20) & 0x03) quirks |= Quirk.ECN;
    totalHeader = 40;
    tcp = offset + 40;
    packetLen -= 40;
  } else {
    return { skip: 'not_ip' };
  }

  const doff = ((buf[tcp + 12] as number) >> 4) * 4;
  if (doff < 20 || doff > packetLen) return { skip: 'bad_tcp_header' };
  totalHeader += doff;
  const flags = buf[tcp + 13] as number;
  const type = flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.FIN | TcpFlag.RST);
  if (
    (flags & TcpFlag.SYN && flags & (TcpFlag.FIN | TcpFlag.RST)) ||
    (flags & TcpFlag.FIN && flags & TcpFlag.RST) ||
    type === 0
  ) {
    return { skip: 'bad_tcp_flags' };
  }
  const win = u16(buf, tcp + 14);
  const seq = u32(buf, tcp + 4);
  if (flags & (TcpFlag.ECE | TcpFlag.CWR) || (buf[tcp + 12] as number) & 0x01) quirks |= Quirk.ECN;
  if (seq === 0) quirks |= Quirk.ZERO_SEQ;
  if (flags & TcpFlag.ACK) {
    if (u32(buf, tcp + 8) === 0) quirks |= Quirk.ZERO_ACK;
  } else if ((buf[tcp + 8] as number) & 1 && !(flags & TcpFlag.RST)) {
    // p0f 3.09b tests `ack & !rst` on the raw (network order) word: on the
    // little-endian hosts it runs on, only the lowest bit of the ACK's first
    // byte counts. Reproduced so that verdicts equal p0f's.
    quirks |= Quirk.NZ_ACK;
  }
  if (flags & TcpFlag.URG) quirks |= Quirk.URG;
  else if (u16(buf, tcp + 18) !== 0) quirks |= Quirk.NZ_URG;
  if (flags & TcpFlag.PSH) quirks |= Quirk.PUSH;
  const payloadLength = packetLen - doff;

  const optEnd = tcp + doff;
  let p = tcp + 20;
  const layout: number[] = [];
  let eolPad = 0;
  let mss = 0;
  let wscale = 0;
  let ts1 = 0;
  let hasMss = false;
  let hasWscale = false;
  let bad = false;
  walk: while (p < optEnd && layout.length < MAX_TCP_OPTIONS) {
    const kind = buf[p++] as number;
    layout.push(kind);
    switch (kind) {
      case TcpOption.EOL:
        eolPad = optEnd - p;
        while (p < optEnd && buf[p++] === 0);
        if (p !== optEnd) {
          quirks |= Quirk.OPT_EOL_NZ;
          p = optEnd;
        }
        break;
      case TcpOption.NOP:
        break;
      case TcpOption.MSS:
        if (p + 3 > optEnd) {
          bad = true;
          break walk;
        }
        if (buf[p] !== 4) quirks |= Quirk.OPT_BAD;
        mss = u16(buf, p + 1);
        hasMss = true;
        p += 3;
        break;
      case TcpOption.WS:
        if (p + 2 > optEnd) {
          bad = true;
          break walk;
        }
        if (buf[p] !== 3) quirks |= Quirk.OPT_BAD;
        wscale = buf[p + 1] as number;
        hasWscale = true;
        if (wscale > 14) quirks |= Quirk.OPT_EXWS;
        p += 2;
        break;
      case TcpOption.SOK:
        if (p + 1 > optEnd) {
          bad = true;
          break walk;
        }
        if (buf[p] !== 2) quirks |= Quirk.OPT_BAD;
        p += 1;
        break;
      case TcpOption.SACK: {
        const len = buf[p];
        if (p === optEnd || len === undefined || len < 10 || len > 34 || p - 1 + len > optEnd) {
          bad = true;
          break walk;
        }
        p += len - 1;
        break;
      }
      case TcpOption.TS:
        if (p + 9 > optEnd) {
          bad = true;
          break walk;
        }
        if (buf[p] !== 10) quirks |= Quirk.OPT_BAD;
        ts1 = u32(buf, p + 1);
        if (ts1 === 0) quirks |= Quirk.OPT_ZERO_TS1;
        if (type === TcpFlag.SYN && u32(buf, p + 5) !== 0) quirks |= Quirk.OPT_NZ_TS2;
        p += 9;
        break;
      default: {
        const len = buf[p];
        if (p === optEnd || len === undefined || len < 2 || len > 40 || p - 1 + len > optEnd) {
          bad = true;
          break walk;
        }
        p += len - 1;
      }
    }
  }
  if (bad || p !== optEnd) quirks |= Quirk.OPT_BAD;

  return {
    packet: {
      ipVersion,
      src,
      dst,
      srcPort: u16(buf, tcp),
      dstPort: u16(buf, tcp + 2),
      ttl,
      tos,
      ipOptLen,
      quirks,
      totalHeader,
      flags,
      seq,
      win,
      mss,
      wscale,
      hasMss,
      hasWscale,
      ts1,
      layout,
      layoutKey: layoutKey(layout),
      eolPad,
      payloadLength,
      winType: 'normal',
      payloadClass: payloadLength > 0 ? 1 : 0,
    },
  };
}

/** True for a connection-opening SYN (no ACK, FIN or RST), the only packet greyprint classifies. */
export function isSyn(p: TcpPacket): boolean {
  return (p.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.FIN | TcpFlag.RST)) === TcpFlag.SYN;
}

function ipv4String(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text: lower case, longest run of zero groups (two or more) as `::`. */
function ipv6String(b: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16(b, o + 2 * i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
