import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { loadPageInChromium } from 'opskit/browser';
import { REPO_ROOT } from '../helpers/daemon.js';
import {
  EXPECTED,
  MARKUP_SENDER,
  requestsByVerdict,
  runStatusScenario,
  type StatusScenario,
} from '../helpers/status-scenario.js';

/** Screenshots are kept as test artefacts under the repository's ignored tmp/. */
const ARTEFACTS = join(REPO_ROOT, 'tmp', 'test-artifacts', 'greyprint');

/** The cell texts of a table's body rows, as the browser rendered them. */
function rows(dom: ReturnType<typeof parse>, id: string): string[][] {
  const table = dom.querySelector(`table#${id}`);
  assert.ok(table, `table #${id} on the page`);
  return table.querySelectorAll('tbody tr').map((tr) => tr.querySelectorAll('td').map((td) => td.text));
}
const cell = (r: string[][], label: string): string | undefined => r.find((row) => row[0] === label)?.[1];

describe('greyprint status page in Chromium', () => {
  let s: StatusScenario;
  let dom: ReturnType<typeof parse>;
  let html: string;
  let metrics: string;
  before(async () => {
    s = await runStatusScenario();
    const page = await loadPageInChromium(`${s.base}/?period=1d`, {
      screenshot: join(ARTEFACTS, `status-${process.pid}.png`),
    });
    html = page.dom;
    dom = parse(html);
    metrics = await (await fetch(`${s.base}/metrics`)).text();
  });
  after(() => s?.close());

  test('the decisions table shows the counts /metrics has after the request stream', () => {
    const byVerdict = requestsByVerdict(metrics);
    const d = rows(dom, 'decisions');
    assert.equal(Number(cell(d, 'greylisted')), byVerdict.greylist);
    assert.equal(Number(cell(d, 'greylisted')), EXPECTED.greylisted);
    assert.equal(Number(cell(d, 'passed after retry')), EXPECTED.passedAfterRetry);
    assert.equal(Number(cell(d, 'accepted at once')), byVerdict.accept);
    assert.equal(Number(cell(d, 'fail-open (DUNNO)')), byVerdict.failopen);
  });

  test('the retry, delay, OS and network tables show what the stream did', () => {
    const retry = rows(dom, 'retry');
    assert.equal(cell(retry, 'share retried'), '25.0 %');
    assert.equal(
      Number(cell(retry, 'unconfirmed, never came back after 1 h (store)')),
      EXPECTED.unretriedInStore,
    );
    assert.equal(Number(cell(rows(dom, 'delay'), '5 min – 10 min')), 1);
    assert.equal(dom.querySelector('#delay-mean')?.text, '7 min');
    assert.deepEqual(rows(dom, 'os'), [
      ['win/Windows', '5'],
      ['unix/Linux', '2'],
    ]);
    assert.deepEqual(rows(dom, 'networks'), [['192.0.2.0/24', '4']]);
  });

  test('the chart is drawn by the charting library the package serves', () => {
    assert.equal(dom.querySelector('#chart')?.getAttribute('data-drawn'), 'true');
    assert.ok(dom.querySelector('#chart .uplot canvas'), 'uPlot drew a canvas');
  });

  test('a sender with markup is shown as text and runs nothing', () => {
    const recent = rows(dom, 'recent');
    assert.equal(recent[0]?.[2], MARKUP_SENDER.toLowerCase());
    assert.equal(dom.querySelector('title')?.text, 'greyprint status');
    assert.equal(dom.querySelectorAll('img').length, 0);
    assert.ok(!html.includes('<img src=x'), 'the markup is escaped in the DOM');
  });

  test('a screenshot of the rendered page is kept', () => {
    const file = join(ARTEFACTS, `status-${process.pid}.png`);
    assert.ok(existsSync(file));
    assert.ok(statSync(file).size > 10_000, 'a real picture, not an empty page');
  });
});
