import { chartAssetRoutes } from 'opskit/chart-assets';
import type { RouteHandler } from 'opskit/http';
import type { StatusBoard } from './board.js';
import { renderRouterPage } from './page.js';

/** Draws the cycles chart from the embedded JSON (textContent: data, never markup). */
const STATUS_SCRIPT = `(function () {
  var el = document.getElementById('chart');
  var data = JSON.parse(document.getElementById('chart-data').textContent);
  if (typeof uPlot === 'undefined' || data.t.length < 2) return;
  var colours = ['#1f77b4', '#ff7f0e'];
  var series = [{}].concat(data.lines.map(function (l, i) { return { label: l.label, stroke: colours[i], width: 2 }; }));
  new uPlot({ width: Math.min(900, window.innerWidth - 40), height: 200, series: series },
    [data.t].concat(data.lines.map(function (l) { return l.values; })), el);
  el.setAttribute('data-drawn', 'true');
})();
`;

/** `/` (HTML), `/api/status` (JSON) and the chart's assets; read-only. */
export function routerStatusRoutes(board: StatusBoard, refreshSec = 15): Map<string, RouteHandler> {
  return new Map<string, RouteHandler>([
    [
      '/',
      () => ({
        contentType: 'text/html; charset=utf-8',
        body: renderRouterPage(board.snapshot(), refreshSec),
      }),
    ],
    [
      '/api/status',
      () => ({
        contentType: 'application/json; charset=utf-8',
        body: `${JSON.stringify(board.snapshot())}\n`,
      }),
    ],
    ...chartAssetRoutes(),
    ['/assets/status.js', () => ({ contentType: 'text/javascript; charset=utf-8', body: STATUS_SCRIPT })],
  ]);
}
