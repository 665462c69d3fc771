import { classifySyn, type SynVerdict } from './fingerprint.js';
import type { SignatureDatabase } from './fp-file.js';
import { isSyn, parseIpPacket, type SkipReason } from './packet.js';
import type { FrameSkip, PcapFrame } from './pcap.js';

/** Counts of what the engine saw; every frame lands in exactly one bucket. */
export interface EngineCounts {
  frames: number;
  syns: number;
  /** TCP packets that are not client SYNs (SYN+ACK, ACK, FIN ...). */
  otherTcp: number;
  /** A retransmitted SYN (same ports, addresses and sequence number): p0f reports it once. */
  duplicateSyns: number;
  skipped: Record<SkipReason | FrameSkip | 'truncated_record', number>;
}

/** Retransmitted SYNs are recognised among the last 32768 to 65536 connections. */
const RECENT_GENERATION = 32768;

/**
 * Frames in, verdicts out: parses each IP packet, keeps client SYNs, drops a
 * retransmission of a SYN already classified (as p0f's flow table does), and
 * classifies the rest against one signature database. Pure apart from counters.
 */
export class SynEngine {
  readonly counts: EngineCounts = {
    frames: 0,
    syns: 0,
    otherTcp: 0,
    duplicateSyns: 0,
    skipped: {
      truncated: 0,
      not_ip: 0,
      not_tcp: 0,
      fragment: 0,
      bad_ip_header: 0,
      bad_tcp_header: 0,
      bad_tcp_flags: 0,
      link_truncated: 0,
      link_not_ip: 0,
      link_type: 0,
      truncated_record: 0,
    },
  };
  // Two generations instead of evicting the oldest entry one by one: a Map's
  // first live key is found by skipping every deleted slot before it, which
  // made one-by-one eviction the costliest step per SYN.
  private recent = new Map<string, number>();
  private previous = new Map<string, number>();

  constructor(public db: SignatureDatabase) {}

  frame(f: PcapFrame): SynVerdict | undefined {
    return this.packet(f.data, f.ipOffset, f.ipLength);
  }

  /** One IP packet (no link header). */
  packet(data: Uint8Array, offset = 0, length = data.length - offset): SynVerdict | undefined {
    this.counts.frames++;
    const r = parseIpPacket(data, offset, length);
    if ('skip' in r) {
      this.counts.skipped[r.skip]++;
      return undefined;
    }
    const p = r.packet;
    if (!isSyn(p)) {
      this.counts.otherTcp++;
      return undefined;
    }
    const key = `${p.src}|${p.srcPort}|${p.dst}|${p.dstPort}`;
    if ((this.recent.get(key) ?? this.previous.get(key)) === p.seq) {
      this.counts.duplicateSyns++;
      return undefined;
    }
    if (this.recent.size >= RECENT_GENERATION) {
      this.previous = this.recent;
      this.recent = new Map();
    }
    this.recent.set(key, p.seq);
    this.counts.syns++;
    return classifySyn(this.db, p);
  }

  skip(reason: FrameSkip | 'truncated_record'): void {
    this.counts.frames++;
    this.counts.skipped[reason]++;
  }
}
