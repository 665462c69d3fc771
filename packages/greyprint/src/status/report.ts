import { OUTCOMES } from './recorder.js';
import type { StatusSummary } from './summary.js';

const OUTCOME_TEXT: Record<string, string> = {
  greylisted: 'greylisted',
  passed_after_retry: 'passed after retry',
  accepted_at_once: 'accepted at once',
  failopen: 'fail-open (DUNNO)',
  other: 'other (skipped, bad requests)',
};

const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

/** Rows padded to aligned columns; numbers right-aligned. */
function section(
  title: string,
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const all = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  const line = (r: readonly (string | number)[]) =>
    r
      .map((c, i) =>
        typeof c === 'number' ? String(c).padStart(widths[i] ?? 0) : String(c).padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const body = rows.length === 0 ? ['(none)'] : rows.map(line);
  return [`${title}`, line(head), ...body].join('\n');
}

/** Control characters in SMTP input would move a terminal's cursor: shown as `\xNN`. */
const printable = (text: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** The status page's figures as plain-text tables, for operators without a browser. */
export function formatReport(s: StatusSummary): string {
  const f = s.figures;
  const share = s.retriedShare === null ? 'n/a' : `${(s.retriedShare * 100).toFixed(1)} %`;
  const mean = f.delay.count === 0 ? 'n/a' : `${Math.round(f.delay.sumSec / f.delay.count)} s`;
  const parts = [
    `greyprint report: ${iso(f.from)} .. ${iso(f.to)} (daemon up since ${iso(s.startedAt)})`,
    section(
      'Decisions',
      ['verdict', 'requests'],
      [
        ...OUTCOMES.map((o) => [OUTCOME_TEXT[o] as string, f.decisions[o]] as const),
        ['total', f.decisions.total],
      ],
    ),
    section(
      'Retries',
      ['figure', 'value'],
      [
        ['greylisted first attempts', f.greylistedNew],
        ['retried and passed', f.decisions.passed_after_retry],
        ['share retried', share],
        ['confirmed triplets in store', s.store.confirmed],
        ['unconfirmed, may still retry', s.store.waiting],
        ['unconfirmed, never came back after 1 h', s.store.unretried],
      ],
    ),
    section(
      `Delay added to mail that retried (mean ${mean})`,
      ['up to (s)', 'messages'],
      f.delay.buckets.map((b) => [String(b.le), b.count]),
    ),
    section(
      'OS mix',
      ['OS (class/name)', 'requests'],
      f.os.map((o) => [printable(o.os), o.count]),
    ),
    section(
      'Top greylisted networks',
      ['network', 'greylisted'],
      f.topNetworks.map((n) => [printable(n.network), n.greylisted]),
    ),
    section(
      'Health',
      ['part', 'state'],
      [
        [
          'store',
          `${s.health.store.kind}: ${s.health.store.ok ? 'answering' : `FAILING: ${s.health.store.error}`}`,
        ],
        [
          'p0f',
          s.health.p0f === null
            ? 'not configured'
            : `${s.health.p0f.lookups} lookups, ${s.health.p0f.answered} answered, ${s.health.p0f.noMatch} no match`,
        ],
        ...Object.entries(s.health.failOpenByReason).map(([r, n]) => [`fail-open: ${r}`, n] as const),
      ],
    ),
  ];
  return `${parts.join('\n\n')}\n`;
}
