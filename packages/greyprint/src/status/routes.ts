import { chartAssetRoutes } from 'opskit/chart-assets';
import type { RouteAnswer, RouteHandler } from 'opskit/http';
import type { GreylistStore } from '../store/types.js';
import { renderStatusPage, STATUS_SCRIPT } from './page.js';
import type { StatusRecorder } from './recorder.js';
import { buildSummary, type HealthSources, PeriodError, parsePeriod } from './summary.js';

export interface StatusRouteDeps {
  readonly recorder: StatusRecorder;
  readonly store: GreylistStore;
  readonly health: HealthSources;
  /** Unix seconds. */
  readonly now: () => number;
  /** The page's and the API's period when `?period=` is absent. */
  readonly defaultPeriodSec?: number;
  readonly refreshSec?: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/**
 * The status page's routes for the metrics endpoint: `/` (HTML), `/api/summary` and
 * `/api/series` (JSON), the chart's assets. Read-only; `?period=` picks the window.
 */
export function statusRoutes(deps: StatusRouteDeps): Map<string, RouteHandler> {
  const fallback = deps.defaultPeriodSec ?? 3600;
  const refresh = deps.refreshSec ?? 30;
  const period = (q: URLSearchParams): number | RouteAnswer => {
    try {
      return parsePeriod(q.get('period'), fallback);
    } catch (err) {
      if (err instanceof PeriodError)
        return { status: 400, contentType: JSON_TYPE, body: `${JSON.stringify({ error: err.message })}\n` };
      throw err;
    }
  };
  const series = (sec: number) => {
    const now = deps.now();
    return { stepSec: deps.recorder.options.stepSec, points: deps.recorder.series(now - sec, now) };
  };
  const summary = (sec: number) => buildSummary(deps.recorder, deps.store, deps.health, deps.now(), sec);
  return new Map<string, RouteHandler>([
    [
      '/',
      async (_req, q) => {
        const sec = period(q);
        if (typeof sec !== 'number') return sec;
        return {
          contentType: 'text/html; charset=utf-8',
          body: renderStatusPage(await summary(sec), series(sec), refresh),
        };
      },
    ],
    [
      '/api/summary',
      async (_req, q) => {
        const sec = period(q);
        if (typeof sec !== 'number') return sec;
        return { contentType: JSON_TYPE, body: `${JSON.stringify(await summary(sec))}\n` };
      },
    ],
    [
      '/api/series',
      (_req, q) => {
        const sec = period(q);
        if (typeof sec !== 'number') return sec;
        return { contentType: JSON_TYPE, body: `${JSON.stringify(series(sec))}\n` };
      },
    ],
    ...chartAssetRoutes(),
    ['/assets/status.js', () => ({ contentType: 'text/javascript; charset=utf-8', body: STATUS_SCRIPT })],
  ]);
}
