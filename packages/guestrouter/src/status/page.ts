import { escapeHtml, jsonForScript, PAGE_STYLE, table } from 'opskit/html';
import type { NetworkRow, RouterStatus } from './board.js';

const answeredText = (a: boolean | null): string =>
  a === null ? 'not checked' : a ? 'answered' : 'NO ANSWER';

/** One section per network: its state, link, gateway, services and VMs (all names escaped). */
function networkSection(n: NetworkRow, serviceNames: readonly string[], index: number): string {
  const facts = table(
    `net-${index}`,
    ['network', 'state', 'reason', 'link', 'gateway', ...serviceNames],
    [
      [
        `${n.networkName} (${n.networkId})`,
        n.state,
        n.reason ?? '',
        n.link === undefined ? '' : `${n.link}${n.linkUp === false ? ' (down)' : ''}`,
        n.gateway === undefined ? '' : `${n.gateway} (${n.cidr})`,
        ...serviceNames.map((s) => {
          const st = n.services[s];
          return st === undefined ? '' : st.detail ? `${st.state}: ${st.detail}` : st.state;
        }),
      ],
    ],
  );
  const vms = table(
    `vms-${index}`,
    ['VM', 'address', 'state', 'last check'],
    n.vms.map((vm) => [vm.vmName, vm.ipAddress, vm.state ?? '', answeredText(vm.answered)]),
  );
  return `<section class="network" data-network="${escapeHtml(n.networkId)}" data-state="${escapeHtml(n.state)}">${facts}${vms}</section>`;
}

/**
 * guestrouter's status page: every network (served, kept, refused with the reason), its link,
 * gateway, services and VMs, router-wide facts (HA role ...) and the last cycles. Service columns
 * and router facts come from the data, so a new service shows up without a change here.
 */
export function renderRouterPage(s: RouterStatus, refreshSec: number): string {
  const serviceNames = [...new Set(s.networks.flatMap((n) => Object.keys(n.services)))].sort();
  const counts = { served: 0, kept: 0, refused: 0, 'not-served': 0 };
  for (const n of s.networks) counts[n.state]++;
  const vmTotals = s.networks.flatMap((n) => n.vms);
  const summary = table(
    'summary',
    ['figure', 'value'],
    [
      ['networks served', counts.served],
      ['networks kept (refused, left as they were)', counts.kept],
      ['networks refused', counts.refused],
      ['networks not served (not selected)', counts['not-served']],
      ['VMs answered the last check', vmTotals.filter((v) => v.answered === true).length],
      ['VMs that did not answer', vmTotals.filter((v) => v.answered === false).length],
      ...Object.entries(s.router).map(([k, v]) => [k, v] as const),
    ],
  );
  const cycles = table(
    'cycles',
    ['ended', 'result', 'duration (ms)', 'changes', 'error'],
    s.cycles.map((c) => [c.at, c.ok ? 'ok' : 'FAILED', c.ms, c.changes, c.error ?? '']),
  );
  const processes = table(
    'processes',
    ['daemon', 'state', 'pid', 'since', 'recent exits'],
    Object.values(s.processes).map((p) => [p.name, p.state, p.pid ?? 0, p.since ?? '', p.recentExits]),
  );
  const chartData = {
    t: [...s.cycles].reverse().map((c) => Date.parse(c.at) / 1000),
    lines: [
      { label: 'cycle duration (ms)', values: [...s.cycles].reverse().map((c) => c.ms) },
      { label: 'changes', values: [...s.cycles].reverse().map((c) => c.changes) },
    ],
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${refreshSec}">
<title>guestrouter status</title>
<link rel="stylesheet" href="assets/uplot.min.css">
<style>${PAGE_STYLE}</style></head>
<body>
<h1>guestrouter status</h1>
<p class="muted">Generated ${escapeHtml(s.generatedAt)}; refreshes every ${refreshSec} s. JSON: <a href="api/status">api/status</a>.</p>
${summary}
<h2>Networks</h2>
${s.networks.length === 0 ? '<p>No cycle has read the inventory yet.</p>' : s.networks.map((n, i) => networkSection(n, serviceNames, i)).join('\n')}
<h2>Last cycles</h2>
<div id="chart"></div>
<script type="application/json" id="chart-data">${jsonForScript(chartData)}</script>
${cycles}
<h2>Daemons</h2>
${processes}
<script src="assets/uplot.iife.min.js"></script>
<script src="assets/status.js"></script>
</body></html>
`;
}
