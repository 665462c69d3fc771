import type { Decision } from '../policy/decide.js';

/** What an operator asks about a decision: the four verdict groups of the status page, and the rest. */
export type Outcome = 'greylisted' | 'passed_after_retry' | 'accepted_at_once' | 'failopen' | 'other';
export const OUTCOMES: readonly Outcome[] = [
  'greylisted',
  'passed_after_retry',
  'accepted_at_once',
  'failopen',
  'other',
];

/**
 * Upper bounds (seconds) of the delay histogram: what greylisting added to mail that retried.
 * Real MTAs retry after minutes (Postfix: 5 min backoff, RFC 5321: at least 30 min), so the
 * buckets are dense there.
 */
export const DELAY_BOUNDS = [60, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];

/** One step of the time series: what was decided in [start, start + stepSec). */
interface Bucket {
  readonly start: number;
  readonly outcomes: Record<Outcome, number>;
  /** Greylist answers to a first attempt (not to an early retry): the triplets that were asked to retry. */
  greylistedNew: number;
  /** `class/name` of the OS the decision saw (`unknown` when none). */
  readonly os: Map<string, number>;
  /** Counts per DELAY_BOUNDS index, the last one past the highest bound. */
  readonly delays: number[];
  delaySum: number;
  /** Greylisted client networks (or domains), capped per bucket. */
  readonly networks: Map<string, number>;
}

export interface RecorderOptions {
  /** Seconds per time-series point. */
  readonly stepSec: number;
  /** Points kept; older ones are dropped (stepSec * keep seconds of history). */
  readonly keep: number;
  /** Distinct greylisted networks kept per bucket; past it they are counted as `other networks`. */
  readonly networksPerBucket: number;
}

export const DEFAULT_RECORDER_OPTIONS: RecorderOptions = { stepSec: 60, keep: 1440, networksPerBucket: 500 };
const OTHER_NETWORKS = '(other networks)';

/** One recent greylist answer, as the page lists it (sender and recipient are SMTP client input). */
export interface RecentGreylist {
  readonly t: number;
  readonly client: string;
  readonly sender: string;
  readonly recipient: string;
  readonly os: string;
}
/** Recent greylist answers kept for the page. */
const RECENT_KEPT = 20;

export interface SeriesPoint extends Record<Outcome, number> {
  /** Unix seconds, the start of the step. */
  readonly t: number;
}

export interface PeriodFigures {
  readonly from: number;
  readonly to: number;
  readonly decisions: Record<Outcome, number> & { total: number };
  readonly greylistedNew: number;
  readonly os: { os: string; count: number }[];
  readonly delay: { count: number; sumSec: number; buckets: { le: number | '+Inf'; count: number }[] };
  readonly topNetworks: { network: string; greylisted: number }[];
}

const zeroOutcomes = (): Record<Outcome, number> => ({
  greylisted: 0,
  passed_after_retry: 0,
  accepted_at_once: 0,
  failopen: 0,
  other: 0,
});

/** Which group a decision belongs to. */
export function outcomeOf(d: Pick<Decision, 'verdict' | 'reason'>): Outcome {
  switch (d.verdict) {
    case 'greylist':
      return 'greylisted';
    case 'pass':
      return d.reason === 'passed' ? 'passed_after_retry' : 'accepted_at_once';
    case 'accept':
    case 'allow':
    case 'tag':
    case 'header':
      return 'accepted_at_once';
    case 'failopen':
      return 'failopen';
    default:
      return 'other';
  }
}

/**
 * The status page's small in-memory time series: the daemon hands it every decision, it
 * keeps per-step counts for a bounded history (no external database; a restart starts over).
 * Pure: time is passed in.
 */
export class StatusRecorder {
  private readonly buckets: Bucket[] = [];
  /** A ring of the latest greylist answers; `recentNext` is where the next one goes. */
  private readonly recentGreylists: RecentGreylist[] = [];
  private recentNext = 0;
  /** `class/name` per label object: sources hand out the same label objects again (pins, caches). */
  private readonly osKeys = new WeakMap<object, string>();
  readonly startedAt: number;

  constructor(
    now: number,
    readonly options: RecorderOptions = DEFAULT_RECORDER_OPTIONS,
  ) {
    this.startedAt = now;
  }

  /** Counts one answered request. */
  record(d: Pick<Decision, 'verdict' | 'reason' | 'os' | 'triplet' | 'delaySec'>, now: number): void {
    const b = this.bucketAt(now);
    const outcome = outcomeOf(d);
    b.outcomes[outcome]++;
    if (outcome === 'other' || outcome === 'failopen') return;
    const os = d.os === undefined ? 'unknown' : this.osKey(d.os);
    b.os.set(os, (b.os.get(os) ?? 0) + 1);
    if (outcome === 'greylisted') {
      if (d.reason === 'new') b.greylistedNew++;
      if (d.triplet !== undefined) {
        const { client, sender, recipient } = d.triplet;
        this.recentGreylists[this.recentNext] = { t: now, client, sender, recipient, os };
        this.recentNext = (this.recentNext + 1) % RECENT_KEPT;
      }
      const net = d.triplet?.client;
      if (net !== undefined) {
        const key =
          b.networks.has(net) || b.networks.size < this.options.networksPerBucket ? net : OTHER_NETWORKS;
        b.networks.set(key, (b.networks.get(key) ?? 0) + 1);
      }
    } else if (outcome === 'passed_after_retry' && d.delaySec !== undefined) {
      const delay = d.delaySec;
      let i = DELAY_BOUNDS.findIndex((le) => delay <= le);
      if (i === -1) i = DELAY_BOUNDS.length;
      b.delays[i] = (b.delays[i] ?? 0) + 1;
      b.delaySum += delay;
    }
  }

  /** Counts a request answered DUNNO because of a fault (no decision exists). */
  recordFailOpen(now: number): void {
    this.bucketAt(now).outcomes.failopen++;
  }

  /** The latest greylist answers, newest first. */
  recent(): RecentGreylist[] {
    const ring = this.recentGreylists;
    return [...ring.slice(this.recentNext), ...ring.slice(0, this.recentNext)].reverse();
  }

  private osKey(label: { class: string; name: string }): string {
    let key = this.osKeys.get(label);
    if (key === undefined) {
      key = `${label.class}/${label.name}`;
      this.osKeys.set(label, key);
    }
    return key;
  }

  /** Points from `from` on, one per step, steps without requests as zeros. */
  series(from: number, now: number): SeriesPoint[] {
    const step = this.options.stepSec;
    const first = Math.max(this.alignedStart(from), this.alignedStart(this.startedAt));
    const byStart = new Map(this.buckets.map((b) => [b.start, b]));
    const points: SeriesPoint[] = [];
    for (let t = first; t <= now; t += step) {
      points.push({ t, ...(byStart.get(t)?.outcomes ?? zeroOutcomes()) });
    }
    return points;
  }

  /** Everything counted in the steps that overlap [from, now]. */
  figures(from: number, now: number, topN = 10): PeriodFigures {
    const decisions = { ...zeroOutcomes(), total: 0 };
    let greylistedNew = 0;
    const os = new Map<string, number>();
    const networks = new Map<string, number>();
    const delays = new Array<number>(DELAY_BOUNDS.length + 1).fill(0);
    let delaySum = 0;
    const start = this.alignedStart(from);
    for (const b of this.buckets) {
      if (b.start < start || b.start > now) continue;
      for (const o of OUTCOMES) decisions[o] += b.outcomes[o];
      greylistedNew += b.greylistedNew;
      for (const [k, n] of b.os) os.set(k, (os.get(k) ?? 0) + n);
      for (const [k, n] of b.networks) networks.set(k, (networks.get(k) ?? 0) + n);
      b.delays.forEach((n, i) => {
        delays[i] = (delays[i] as number) + n;
      });
      delaySum += b.delaySum;
    }
    decisions.total = OUTCOMES.reduce((sum, o) => sum + decisions[o], 0);
    const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return {
      from: Math.max(start, this.alignedStart(this.startedAt)),
      to: now,
      decisions,
      greylistedNew,
      os: sorted(os).map(([k, count]) => ({ os: k, count })),
      delay: {
        count: delays.reduce((a, n) => a + n, 0),
        sumSec: delaySum,
        buckets: delays.map((count, i) => ({ le: DELAY_BOUNDS[i] ?? ('+Inf' as const), count })),
      },
      topNetworks: sorted(networks)
        .slice(0, topN)
        .map(([network, greylisted]) => ({ network, greylisted })),
    };
  }

  private alignedStart(t: number): number {
    return t - (t % this.options.stepSec);
  }

  private bucketAt(now: number): Bucket {
    const start = this.alignedStart(now);
    const last = this.buckets[this.buckets.length - 1];
    if (last !== undefined && last.start === start) return last;
    // A clock stepped back lands in the bucket it belongs to when that is still kept.
    if (last !== undefined && start < last.start) {
      const earlier = this.buckets.find((b) => b.start === start);
      if (earlier !== undefined) return earlier;
    }
    const b: Bucket = {
      start,
      outcomes: zeroOutcomes(),
      greylistedNew: 0,
      os: new Map(),
      delays: new Array<number>(DELAY_BOUNDS.length + 1).fill(0),
      delaySum: 0,
      networks: new Map(),
    };
    this.buckets.push(b);
    this.buckets.sort((x, y) => x.start - y.start);
    while (this.buckets.length > this.options.keep) this.buckets.shift();
    return b;
  }
}
