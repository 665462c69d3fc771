import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RouteHandler } from './http.js';

const require = createRequire(import.meta.url);
let assets: { js: string; css: string } | undefined;

/** The charting library, read once from the installed npm package: a status page needs no internet. */
function chartAssets(): { js: string; css: string } {
  assets ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return assets;
}

/** The routes a status page loads its charts from: `/assets/uplot.iife.min.js` and `/assets/uplot.min.css`. */
export function chartAssetRoutes(): [string, RouteHandler][] {
  return [
    [
      '/assets/uplot.iife.min.js',
      () => ({ contentType: 'text/javascript; charset=utf-8', body: chartAssets().js }),
    ],
    ['/assets/uplot.min.css', () => ({ contentType: 'text/css; charset=utf-8', body: chartAssets().css })],
  ];
}
