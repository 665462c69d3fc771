import { escapeHtml, jsonForScript, PAGE_STYLE, table } from 'opskit/html';
import { OUTCOMES } from './recorder.js';
import type { StatusSeries, StatusSummary } from './summary.js';

const OUTCOME_TEXT: Record<string, string> = {
  greylisted: 'greylisted',
  passed_after_retry: 'passed after retry',
  accepted_at_once: 'accepted at once',
  failopen: 'fail-open (DUNNO)',
  other: 'other (skipped, bad requests)',
};

const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const percent = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
const duration = (sec: number): string =>
  sec < 120
    ? `${Math.round(sec)} s`
    : sec < 7200
      ? `${Math.round(sec / 60)} min`
      : `${(sec / 3600).toFixed(1)} h`;

/**
 * The status page: every figure in server-rendered tables (readable without JavaScript), the
 * decisions over time as a chart drawn by uPlot from the same data, refreshed by the browser
 * itself. No forms, no links that change anything.
 */
export function renderStatusPage(s: StatusSummary, series: StatusSeries, refreshSec: number): string {
  const f = s.figures;
  const decisions = table(
    'decisions',
    ['verdict', 'requests'],
    [
      ...OUTCOMES.map((o) => [OUTCOME_TEXT[o] as string, f.decisions[o]] as const),
      ['total', f.decisions.total],
    ],
  );
  const retry = table(
    'retry',
    ['figure', 'value'],
    [
      ['greylisted first attempts (period)', f.greylistedNew],
      ['retried and passed (period)', f.decisions.passed_after_retry],
      ['share retried', percent(s.retriedShare)],
      ['confirmed triplets in store', s.store.confirmed],
      ['unconfirmed, may still retry (store)', s.store.waiting],
      ['unconfirmed, never came back after 1 h (store)', s.store.unretried],
    ],
  );
  const delayRows = f.delay.buckets.map((b, i, all) => {
    const lower = i === 0 ? 0 : (all[i - 1]?.le as number);
    const label = b.le === '+Inf' ? `over ${duration(lower)}` : `${duration(lower)} – ${duration(b.le)}`;
    return [label, b.count] as const;
  });
  const delay = table('delay', ['delay added', 'messages'], delayRows);
  const mean = f.delay.count === 0 ? 'n/a' : duration(f.delay.sumSec / f.delay.count);
  const os = table(
    'os',
    ['OS (class/name)', 'requests'],
    f.os.map((o) => [o.os, o.count]),
  );
  const nets = table(
    'networks',
    ['network', 'greylisted'],
    f.topNetworks.map((n) => [n.network, n.greylisted]),
  );
  const recent = table(
    'recent',
    ['time', 'client', 'sender', 'recipient', 'OS'],
    s.recentGreylists.map((r) => [iso(r.t), r.client, r.sender === '' ? '<>' : r.sender, r.recipient, r.os]),
  );
  const p0f = s.health.p0f;
  const healthRows: (readonly (string | number)[])[] = [
    [
      'store',
      `${s.health.store.kind}: ${s.health.store.ok ? 'answering' : `FAILING: ${s.health.store.error}`}`,
    ],
    [
      'p0f',
      p0f === null
        ? 'not configured'
        : `${p0f.lookups} lookups, ${p0f.answered} answered, ${p0f.noMatch} no match, ${Object.values(p0f.failures).reduce((a, n) => a + n, 0)} failed, ${p0f.openConnections} open connections`,
    ],
    ...Object.entries(s.health.failOpenByReason).map(([reason, n]) => [`fail-open: ${reason}`, n] as const),
  ];
  if (s.store.error !== undefined) healthRows.push(['store scan', `failed: ${s.store.error}`]);
  const health = table('health', ['part', 'state'], healthRows);
  const chartData = {
    t: series.points.map((p) => p.t),
    lines: OUTCOMES.filter((o) => o !== 'other').map((o) => ({
      label: OUTCOME_TEXT[o],
      values: series.points.map((p) => p[o]),
    })),
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${refreshSec}">
<title>greyprint status</title>
<link rel="stylesheet" href="assets/uplot.min.css">
<style>${PAGE_STYLE}</style></head>
<body>
<h1>greyprint status</h1>
<p class="muted">Period: the last ${escapeHtml(duration(s.periodSec))} (${escapeHtml(iso(f.from))} – ${escapeHtml(iso(f.to))}), counted since the daemon started at ${escapeHtml(iso(s.startedAt))}. Refreshes every ${refreshSec} s. JSON: <a href="api/summary">api/summary</a>, <a href="api/series">api/series</a>.</p>
<h2>Decisions over time (per ${series.stepSec} s)</h2>
<div id="chart"><noscript>The chart needs JavaScript; the tables below hold every figure.</noscript></div>
<script type="application/json" id="chart-data">${jsonForScript(chartData)}</script>
<div class="grid">
<section><h2>Decisions</h2>${decisions}</section>
<section><h2>Do greylisted clients come back?</h2>${retry}</section>
<section><h2>Delay greylisting added to mail that retried</h2>${delay}<p>mean: <span id="delay-mean">${escapeHtml(mean)}</span>, messages: <span id="delay-count">${f.delay.count}</span></p></section>
<section><h2>OS mix</h2>${os}</section>
<section><h2>Top greylisted networks</h2>${nets}</section>
<section><h2>Health</h2>${health}</section>
</div>
<section><h2>Latest greylisted mail</h2>${recent}</section>
<script src="assets/uplot.iife.min.js"></script>
<script src="assets/status.js"></script>
</body></html>
`;
}

/** Draws the chart from the embedded JSON (textContent: data, never markup). */
export const STATUS_SCRIPT = `(function () {
  var el = document.getElementById('chart');
  var data = JSON.parse(document.getElementById('chart-data').textContent);
  if (typeof uPlot === 'undefined' || data.t.length === 0) return;
  var colours = ['#d62728', '#2ca02c', '#1f77b4', '#ff7f0e'];
  var series = [{}].concat(data.lines.map(function (l, i) { return { label: l.label, stroke: colours[i % colours.length], width: 2 }; }));
  var rows = [data.t].concat(data.lines.map(function (l) { return l.values; }));
  new uPlot({ width: Math.min(900, window.innerWidth - 40), height: 260, series: series }, rows, el);
  el.setAttribute('data-drawn', 'true');
})();
`;
