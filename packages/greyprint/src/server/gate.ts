import { readdirSync, readFileSync } from 'node:fs';
import type { RefusedReason } from '../metrics.js';

/**
 * Descriptors kept free beyond the policy connections: the store (SQLite and its WAL, or
 * Redis), the p0f pool, the metrics endpoint and its scrapers, the log, files read on reload.
 */
export const FD_HEADROOM = 64;

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), from /proc. */
export function openFilesLimit(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}

/** Descriptors open now (read once at start: a readdir per connection would cost too much). */
export function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

export interface GateLimits {
  /** The configured cap (`maxConnections`). */
  readonly maxConnections: number;
  /** Connections the descriptor limit leaves room for. */
  readonly fdConnections: number;
}

/** What the gate reports: the first refusal of a burst, and the end of a burst with its count. */
export type GateEvent =
  | { kind: 'burst_started'; reason: RefusedReason; open: number; limit: number }
  | { kind: 'burst_ended'; refused: number; open: number };

/**
 * Admission of policy connections. A connection past the configured cap, or past what the
 * descriptor limit leaves room for, is refused (the caller closes it at once; Postfix then
 * uses its default_action). Refusals come in bursts, and a burst is reported once when it
 * starts and once when a connection is accepted again, so a flood cannot flood the log too.
 */
export class ConnectionGate {
  private refusedInBurst = 0;

  constructor(
    private readonly limits: GateLimits,
    private readonly report: (e: GateEvent) => void,
  ) {}

  get limit(): number {
    return Math.min(this.limits.maxConnections, this.limits.fdConnections);
  }

  /** Undefined to accept the connection, or why it is refused. `open` excludes the new one. */
  admit(open: number): RefusedReason | undefined {
    const { maxConnections, fdConnections } = this.limits;
    if (open < maxConnections && open < fdConnections) {
      if (this.refusedInBurst > 0) {
        this.report({ kind: 'burst_ended', refused: this.refusedInBurst, open });
        this.refusedInBurst = 0;
      }
      return undefined;
    }
    const reason: RefusedReason = open >= maxConnections ? 'max_connections' : 'fd_limit';
    return this.refuse(reason, open);
  }

  /** A refusal that did not go through admit(): the kernel's accept failing with EMFILE/ENFILE. */
  refuse(reason: RefusedReason, open: number): RefusedReason {
    if (this.refusedInBurst++ === 0) {
      this.report({
        kind: 'burst_started',
        reason,
        open,
        limit: reason === 'max_connections' ? this.limits.maxConnections : this.limits.fdConnections,
      });
    }
    return reason;
  }
}
