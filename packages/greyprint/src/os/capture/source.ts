import { Counter, Gauge, type Registry } from 'prom-client';
import { type ParsedAddress, parseAddress } from '../../net/cidr.js';
import {
  type EngineCounts,
  type SignatureDatabase,
  SynEngine,
  type SynVerdict,
  UNKNOWN_OS,
} from '../fingerprint/index.js';
import type { OsLabel, OsSource } from '../label.js';
import { CaptureHelper, type CaptureLogger } from './helper.js';

/**
 * TCP SYNs (not SYN+ACKs) to the submission and SMTP ports. `tcp[...]` does not
 * reach into IPv6 in libpcap, so IPv6 SYNs are picked by the flags byte at
 * offset 40 + 13 of a packet whose next header is TCP.
 */
export const DEFAULT_CAPTURE_FILTER =
  '(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02)) ' +
  'and (dst port 25 or dst port 587)';

/**
 * tcpdump writing an unbuffered pcap stream of the SYNs to stdout. `-p`: no
 * promiscuous mode, so the helper needs CAP_NET_RAW only (the SYNs are to us).
 */
export function tcpdumpArgs(iface: string, filter: string): string[] {
  return ['-i', iface, '-p', '-n', '-U', '--immediate-mode', '-s', '256', '-w', '-', filter];
}

export interface CaptureSourceOptions {
  readonly interface: string;
  readonly filter: string;
  /** The helper program (default tcpdump) and its arguments; args default to tcpdumpArgs(). */
  readonly command: string;
  readonly args?: readonly string[];
  readonly signatures: SignatureDatabase;
  /** How long a SYN's verdict answers for its client address. */
  readonly cacheTtlSec: number;
  /** How long a lookup waits for a SYN not seen yet, while capture runs. */
  readonly waitMs: number;
  /** Most client addresses kept (the older half forgotten at once; default 100000). */
  readonly maxEntries?: number;
  readonly logger: CaptureLogger;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

interface Entry {
  readonly label: OsLabel | undefined;
  readonly expires: number;
}

export interface CaptureStats {
  lookups: number;
  answered: number;
  unknown: number;
  waits: number;
  helper: CaptureHelper['counters'];
  engine: EngineCounts;
}

/** The verdict as the OS label the rules and the header read. */
export function labelOf(v: SynVerdict): OsLabel | undefined {
  if (v.os === UNKNOWN_OS || v.name === undefined) return undefined;
  return {
    class: v.osClass ?? '!',
    name: v.name,
    flavor: v.flavor ?? '',
    distance: v.distance,
    fuzzy: v.fuzzy || v.generic,
    source: 'capture',
    ja4t: v.ja4t,
    signature: v.signature,
  };
}

/** How long "waited, no SYN came" is remembered for an address. */
const NOT_SEEN_TTL_MS = 10_000;

const keyOf = (address: string): string | undefined => parseAddress(address)?.toString();

/**
 * greyprint's own passive fingerprinting: a capture helper feeds client SYNs,
 * the engine classifies them, and the verdicts wait in a host cache for the
 * policy lookup of the same address (the SYN always comes first: Postfix asks
 * after the SMTP dialogue started). A lookup never waits longer than `waitMs`
 * and not at all when capture is down.
 */
export class CaptureSource implements OsSource {
  readonly name = 'capture';
  readonly engine: SynEngine;
  private readonly helper: CaptureHelper;
  // Two generations of verdicts (each up to half of maxEntries) rather than
  // evicting the oldest one by one, which costs a scan over a Map's deleted
  // slots per SYN once the cache is full.
  private cache = new Map<string, Entry>();
  private previous = new Map<string, Entry>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly counters = { lookups: 0, answered: 0, unknown: 0, waits: 0 };

  constructor(private readonly o: CaptureSourceOptions) {
    this.engine = new SynEngine(o.signatures);
    this.helper = new CaptureHelper({
      command: o.command,
      args: o.args ?? tcpdumpArgs(o.interface, o.filter),
      logger: o.logger,
      onFrame: (frame) => {
        const v = this.engine.frame(frame);
        if (v !== undefined) this.remember(v);
      },
      onSkip: (reason) => this.engine.skip(reason),
      ...(o.minBackoffMs === undefined ? {} : { minBackoffMs: o.minBackoffMs }),
      ...(o.maxBackoffMs === undefined ? {} : { maxBackoffMs: o.maxBackoffMs }),
    });
  }

  start(): this {
    this.helper.start();
    return this;
  }

  /** Records a classified SYN (also the entry point for tests without a helper). */
  remember(v: SynVerdict): void {
    const key = keyOf(v.client);
    if (key === undefined) return;
    const label = labelOf(v);
    this.o.logger.debug(
      {
        event: 'syn',
        client: v.client,
        port: v.port,
        os: v.os,
        params: v.params,
        raw_sig: v.signature,
        ja4t: v.ja4t,
      },
      'syn',
    );
    if (this.cache.size >= (this.o.maxEntries ?? 100_000) / 2) {
      this.previous = this.cache;
      this.cache = new Map();
    }
    this.cache.set(key, { label, expires: Date.now() + this.o.cacheTtlSec * 1000 });
    const waiting = this.waiters.get(key);
    if (waiting !== undefined) {
      this.waiters.delete(key);
      for (const wake of waiting) wake();
    }
  }

  private cached(key: string): Entry | undefined {
    const e = this.cache.get(key) ?? this.previous.get(key);
    return e === undefined || e.expires < Date.now() ? undefined : e;
  }

  async lookup(address: string, signal?: AbortSignal, parsed?: ParsedAddress): Promise<OsLabel | undefined> {
    this.counters.lookups++;
    const key = parsed !== undefined ? parsed.toString() : keyOf(address);
    if (key === undefined) return undefined;
    let e = this.cached(key);
    if (e === undefined && this.helper.running && this.o.waitMs > 0 && !signal?.aborted) {
      // The SYN may still be in the helper's pipe: wait for it, briefly.
      this.counters.waits++;
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(key);
        if (set === undefined) {
          set = new Set();
          this.waiters.set(key, set);
        }
        const waiters = set;
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          waiters.delete(done);
          if (waiters.size === 0 && this.waiters.get(key) === waiters) this.waiters.delete(key);
          resolve();
        };
        const timer = setTimeout(done, this.o.waitMs);
        signal?.addEventListener('abort', done, { once: true });
        waiters.add(done);
      });
      e = this.cached(key);
      if (e === undefined) {
        // Not captured (another interface, a filtered port): the next lookups of this
        // client (one per recipient, then DATA) answer at once; a SYN replaces it.
        e = { label: undefined, expires: Date.now() + NOT_SEEN_TTL_MS };
        this.cache.set(key, e);
      }
    }
    if (e?.label === undefined) {
      this.counters.unknown++;
      return undefined;
    }
    this.counters.answered++;
    return e.label;
  }

  stats(): CaptureStats {
    return { ...this.counters, helper: { ...this.helper.counters }, engine: this.engine.counts };
  }

  /** `greyprint_capture_*` metrics, read from the counters when scraped. */
  registerMetrics(registry: Registry): void {
    const stats = () => this.stats();
    new Gauge({
      name: 'greyprint_capture_up',
      help: '1 while the capture helper runs and delivers a pcap stream, else 0',
      registers: [registry],
      collect() {
        this.set(stats().helper.up);
      },
    });
    const counter = (name: string, help: string, pick: (s: CaptureStats) => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick(stats()));
        },
      });
    counter(
      'greyprint_capture_restarts_total',
      'Capture helper stops followed by a restart',
      (s) => s.helper.restarts,
    );
    counter('greyprint_capture_syns_total', 'Client SYNs classified from the capture', (s) => s.engine.syns);
    counter('greyprint_capture_lookups_total', 'OS lookups asked of the capture source', (s) => s.lookups);
    counter('greyprint_capture_answered_total', 'Capture lookups answered with an OS', (s) => s.answered);
    new Counter({
      name: 'greyprint_capture_skipped_total',
      help: 'Captured frames not classified, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(stats().engine.skipped)) if (n > 0) this.inc({ reason }, n);
      },
    });
  }

  close(): Promise<void> {
    for (const set of this.waiters.values()) for (const wake of set) wake();
    return this.helper.close();
  }
}
