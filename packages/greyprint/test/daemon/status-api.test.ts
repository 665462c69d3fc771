import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, runCli } from 'opskit/testing';
import type { StatusSeries, StatusSummary } from '../../src/status/index.js';
import { CLI, REPO_ROOT } from '../helpers/daemon.js';
import {
  EXPECTED,
  MARKUP_SENDER,
  requestsByVerdict,
  runStatusScenario,
  type StatusScenario,
} from '../helpers/status-scenario.js';

const report = (...args: string[]) =>
  runCli(process.execPath, ['--import', 'tsx', CLI, 'report', ...args], { cwd: REPO_ROOT });

describe('status JSON API on the metrics endpoint', () => {
  let s: StatusScenario;
  before(async () => {
    s = await runStatusScenario();
  });
  after(() => s?.close());

  const getJson = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${s.base}${path}`);
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    return (await r.json()) as T;
  };

  test('the summary counts each verdict group as /metrics counts the verdicts', async () => {
    const summary = await getJson<StatusSummary>('/api/summary?period=1d');
    const byVerdict = requestsByVerdict(await (await fetch(`${s.base}/metrics`)).text());
    const d = summary.figures.decisions;
    assert.equal(d.greylisted, EXPECTED.greylisted);
    assert.equal(d.greylisted, byVerdict.greylist);
    assert.equal(d.passed_after_retry, EXPECTED.passedAfterRetry);
    assert.equal(d.accepted_at_once, EXPECTED.acceptedAtOnce);
    assert.equal(d.accepted_at_once, byVerdict.accept);
    assert.equal(d.total, EXPECTED.greylisted + EXPECTED.passedAfterRetry + EXPECTED.acceptedAtOnce);
  });

  test('the summary says which greylisted triplets retried, after which delay, and which never came back', async () => {
    const summary = await getJson<StatusSummary>('/api/summary?period=1d');
    assert.equal(summary.figures.greylistedNew, EXPECTED.greylisted);
    assert.equal(summary.retriedShare, EXPECTED.passedAfterRetry / EXPECTED.greylisted);
    assert.equal(summary.figures.delay.count, 1);
    assert.equal(summary.figures.delay.sumSec, EXPECTED.delaySec);
    assert.deepEqual(
      summary.figures.delay.buckets.filter((b) => b.count > 0),
      [{ le: 600, count: 1 }],
    );
    assert.equal(summary.store.confirmed, EXPECTED.confirmedInStore);
    assert.equal(summary.store.unretried, EXPECTED.unretriedInStore);
    assert.equal(summary.store.waiting, 0);
  });

  test('the summary lists the OS mix, the top greylisted networks, the latest greylists and the health', async () => {
    const summary = await getJson<StatusSummary>('/api/summary?period=1d');
    assert.deepEqual(summary.figures.os, [
      { os: 'win/Windows', count: 5 },
      { os: 'unix/Linux', count: 2 },
    ]);
    assert.deepEqual(summary.figures.topNetworks, [{ network: '192.0.2.0/24', greylisted: 4 }]);
    assert.equal(summary.recentGreylists[0]?.sender, MARKUP_SENDER.toLowerCase());
    assert.deepEqual(summary.health.store, { kind: 'sqlite', ok: true });
    assert.equal(summary.health.p0f, null);
    assert.equal(summary.health.failOpenByReason.store, 0);
  });

  test('a shorter period leaves out what happened before it', async () => {
    const summary = await getJson<StatusSummary>('/api/summary?period=10m');
    assert.equal(summary.figures.decisions.total, 0);
    assert.equal(summary.retriedShare, null);
  });

  test('the series has one point per step with the counts of that step', async () => {
    const series = await getJson<StatusSeries>('/api/series?period=2h');
    assert.equal(series.stepSec, 60);
    const total = (k: 'greylisted' | 'passed_after_retry' | 'accepted_at_once') =>
      series.points.reduce((a, p) => a + p[k], 0);
    assert.equal(total('greylisted'), EXPECTED.greylisted);
    assert.equal(total('passed_after_retry'), EXPECTED.passedAfterRetry);
    assert.equal(total('accepted_at_once'), EXPECTED.acceptedAtOnce);
    const ts = series.points.map((p) => p.t);
    assert.ok(ts.every((t, i) => i === 0 || t - (ts[i - 1] as number) === 60));
  });

  test('a bad period is a 400 with the reason; write methods are refused', async () => {
    const bad = await fetch(`${s.base}/api/summary?period=soon`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /period "soon"/);
    const post = await fetch(`${s.base}/api/summary`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  test('greyprint report prints the same figures as tables for the period', async () => {
    const summary = await getJson<StatusSummary>('/api/summary?period=1d');
    const r = await report('--from', s.base.slice('http://'.length), '--period', '1d');
    assert.equal(r.code, 0, r.stderr);
    const value = (label: string) => new RegExp(`^${label}\\s+(\\S+)`, 'm').exec(r.stdout)?.[1];
    assert.equal(Number(value('greylisted')), summary.figures.decisions.greylisted);
    assert.equal(Number(value('passed after retry')), EXPECTED.passedAfterRetry);
    assert.equal(Number(value('accepted at once')), EXPECTED.acceptedAtOnce);
    assert.equal(Number(value('unconfirmed, never came back after 1 h')), EXPECTED.unretriedInStore);
    assert.match(r.stdout, /^share retried\s+25\.0 %$/m);
    assert.match(r.stdout, /^192\.0\.2\.0\/24\s+4$/m);
    const json = await report('--from', s.base.slice('http://'.length), '--period', '1d', '--json');
    assert.deepEqual(JSON.parse(json.stdout).figures, summary.figures);
  });

  test('greyprint report exits 2 without an address or with a bad period, 1 when the daemon is not there', async () => {
    const none = await report();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--from HOST:PORT/);
    assert.equal((await report('--from', '127.0.0.1:1', '--period', 'soon')).code, 2);
    const gone = await report('--from', `127.0.0.1:${await freePort()}`);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cannot reach the daemon/);
  });
});
