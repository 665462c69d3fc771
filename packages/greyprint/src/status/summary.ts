import type { GreylistStore } from '../store/types.js';
import type { PeriodFigures, RecentGreylist, SeriesPoint, StatusRecorder } from './recorder.js';

/**
 * An unconfirmed triplet first seen this long ago counts as "never retried": real MTAs retry
 * within minutes to half an hour (RFC 5321 4.5.4.1 suggests at least 30 minutes), bots not at all.
 */
export const UNRETRIED_AFTER_SEC = 3600;
/** Triplets the store is asked for at most per summary (a status page must stay cheap). */
const STORE_SCAN_LIMIT = 100_000;

/** What the daemon knows about the health of its parts, read when a summary is built. */
export interface HealthSources {
  readonly storeKind: string;
  /** The store's last failure while it is failing, undefined while it answers. */
  readonly storeFailure: () => string | undefined;
  /** The p0f source's counters, undefined when p0f is not configured. */
  readonly p0f: () => P0fHealth | undefined;
  /** Fail-open answers so far, by reason (from the metrics). */
  readonly failOpenByReason: () => Promise<Record<string, number>>;
}

export interface P0fHealth {
  readonly lookups: number;
  readonly answered: number;
  readonly noMatch: number;
  readonly failures: Record<string, number>;
  readonly openConnections: number;
}

export interface StoreFigures {
  /** Triplets that retried after the delay (confirmed), now in the store. */
  readonly confirmed: number;
  /** Unconfirmed triplets first seen less than UNRETRIED_AFTER_SEC ago: may still retry. */
  readonly waiting: number;
  /** Unconfirmed triplets first seen longer ago: never came back. */
  readonly unretried: number;
  /** True when the scan stopped at its limit: the figures are a lower bound. */
  readonly truncated: boolean;
  readonly error?: string;
}

export interface StatusSummary {
  readonly generatedAt: number;
  readonly startedAt: number;
  readonly periodSec: number;
  readonly figures: PeriodFigures;
  /** passed_after_retry / greylisted first attempts in the period; null without greylisting. */
  readonly retriedShare: number | null;
  readonly store: StoreFigures;
  /** The latest greylist answers, newest first (whatever the period). */
  readonly recentGreylists: RecentGreylist[];
  readonly health: {
    readonly store: { kind: string; ok: boolean; error?: string };
    readonly p0f: P0fHealth | null;
    readonly failOpenByReason: Record<string, number>;
  };
}

/** Counts the store's triplets by what became of them. */
export async function storeFigures(store: GreylistStore, now: number): Promise<StoreFigures> {
  try {
    const confirmed = await store.list({ confirmed: true, limit: STORE_SCAN_LIMIT });
    const unconfirmed = await store.list({ confirmed: false, limit: STORE_SCAN_LIMIT });
    let unretried = 0;
    for (const t of unconfirmed) if (now - t.firstSeen >= UNRETRIED_AFTER_SEC) unretried++;
    return {
      confirmed: confirmed.length,
      waiting: unconfirmed.length - unretried,
      unretried,
      truncated: confirmed.length >= STORE_SCAN_LIMIT || unconfirmed.length >= STORE_SCAN_LIMIT,
    };
  } catch (err) {
    return { confirmed: 0, waiting: 0, unretried: 0, truncated: false, error: (err as Error).message };
  }
}

export async function buildSummary(
  recorder: StatusRecorder,
  store: GreylistStore,
  health: HealthSources,
  now: number,
  periodSec: number,
): Promise<StatusSummary> {
  const figures = recorder.figures(now - periodSec, now);
  const failure = health.storeFailure();
  return {
    generatedAt: now,
    startedAt: recorder.startedAt,
    periodSec,
    figures,
    retriedShare:
      figures.greylistedNew === 0
        ? null
        : Math.min(1, figures.decisions.passed_after_retry / figures.greylistedNew),
    store: await storeFigures(store, now),
    recentGreylists: recorder.recent(),
    health: {
      store: { kind: health.storeKind, ok: failure === undefined, ...(failure ? { error: failure } : {}) },
      p0f: health.p0f() ?? null,
      failOpenByReason: await health.failOpenByReason(),
    },
  };
}

export interface StatusSeries {
  readonly stepSec: number;
  readonly points: SeriesPoint[];
}

/** `?period=` in seconds (or with a unit: 15m, 6h, 1d); the default when absent. */
export function parsePeriod(text: string | null | undefined, fallbackSec: number): number {
  if (text === null || text === undefined || text === '') return fallbackSec;
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new PeriodError(`period "${text}" is not a number of seconds or N[smhd]`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  const sec = Number(m[1]) * unit;
  if (sec <= 0) throw new PeriodError(`period "${text}" must be longer than 0`);
  return sec;
}

export class PeriodError extends Error {
  readonly code = 'bad_period';
}
