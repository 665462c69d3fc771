import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderStatusPage } from '../../src/status/page.js';
import { outcomeOf, StatusRecorder } from '../../src/status/recorder.js';
import { buildSummary, parsePeriod } from '../../src/status/summary.js';
import { MemoryStore } from '../../src/store/memory.js';

const T0 = 1_800_000_000;
const win = { class: 'win', name: 'Windows', flavor: 'XP', fuzzy: false, source: 'static' };
const triplet = (client: string, sender = 'a@example.org') => ({
  client,
  sender,
  recipient: 'b@example.net',
});

describe('status recorder', () => {
  test('groups verdicts: a first pass after greylisting is a retry, a confirmed triplet passes at once', () => {
    assert.equal(outcomeOf({ verdict: 'greylist' }), 'greylisted');
    assert.equal(outcomeOf({ verdict: 'pass', reason: 'passed' }), 'passed_after_retry');
    assert.equal(outcomeOf({ verdict: 'pass', reason: 'confirmed' }), 'accepted_at_once');
    assert.equal(outcomeOf({ verdict: 'accept' }), 'accepted_at_once');
    assert.equal(outcomeOf({ verdict: 'failopen' }), 'failopen');
    assert.equal(outcomeOf({ verdict: 'skip' }), 'other');
  });

  test('counts per step, leaves out steps before the period, and drops steps past the history', () => {
    const r = new StatusRecorder(T0, { stepSec: 60, keep: 3, networksPerBucket: 2 });
    r.record({ verdict: 'greylist', reason: 'new', os: win, triplet: triplet('192.0.2.0/24') }, T0);
    r.record(
      { verdict: 'pass', reason: 'passed', os: win, triplet: triplet('192.0.2.0/24'), delaySec: 400 },
      T0 + 400,
    );
    assert.equal(r.figures(T0, T0 + 400).decisions.total, 2);
    assert.equal(r.figures(T0 + 300, T0 + 400).decisions.total, 1);
    assert.deepEqual(
      r.series(T0, T0 + 400).map((p) => p.greylisted + p.passed_after_retry),
      [1, 0, 0, 0, 0, 0, 1],
    );
    for (let i = 1; i <= 3; i++) r.recordFailOpen(T0 + 400 + i * 60);
    // keep: 3 steps: the greylist step and the pass step are gone.
    assert.equal(r.figures(T0, T0 + 600).decisions.greylisted, 0);
    assert.equal(r.figures(T0, T0 + 600).decisions.failopen, 3);
  });

  test('caps the distinct networks per step and sorts the top networks', () => {
    const r = new StatusRecorder(T0, { stepSec: 60, keep: 10, networksPerBucket: 2 });
    for (const net of ['a', 'b', 'b', 'c', 'd']) {
      r.record({ verdict: 'greylist', reason: 'new', triplet: triplet(net) }, T0);
    }
    assert.deepEqual(r.figures(T0, T0).topNetworks, [
      { network: '(other networks)', greylisted: 2 },
      { network: 'b', greylisted: 2 },
      { network: 'a', greylisted: 1 },
    ]);
    assert.deepEqual(r.figures(T0, T0).os, [{ os: 'unknown', count: 5 }]);
  });

  test('keeps the latest 20 greylists, newest first', () => {
    const r = new StatusRecorder(T0);
    for (let i = 0; i < 25; i++)
      r.record({ verdict: 'greylist', reason: 'new', triplet: triplet(`n${i}`) }, T0 + i);
    const recent = r.recent();
    assert.equal(recent.length, 20);
    assert.equal(recent[0]?.client, 'n24');
    assert.equal(recent[19]?.client, 'n5');
  });

  test('a period is seconds or N[smhd]; anything else is refused', () => {
    assert.equal(parsePeriod(null, 3600), 3600);
    assert.equal(parsePeriod('90', 1), 90);
    assert.equal(parsePeriod('15m', 1), 900);
    assert.equal(parsePeriod('1d', 1), 86400);
    assert.throws(() => parsePeriod('0', 1), /longer than 0/);
    assert.throws(() => parsePeriod('-1h', 1), /not a number/);
  });

  test('the page shows markup from SMTP clients and OS labels as text', async () => {
    const r = new StatusRecorder(T0);
    const os = { ...win, name: '<b>Win</b>' };
    r.record(
      { verdict: 'greylist', reason: 'new', os, triplet: triplet('<i>x</i>', '"><script>x()</script>') },
      T0,
    );
    const health = {
      storeKind: 'memory',
      storeFailure: () => undefined,
      p0f: () => undefined,
      failOpenByReason: async () => ({}),
    };
    const summary = await buildSummary(r, new MemoryStore(), health, T0, 3600);
    const html = renderStatusPage(summary, { stepSec: 60, points: r.series(T0 - 3600, T0) }, 30);
    assert.ok(!html.includes('<script>x()'));
    assert.ok(!html.includes('<b>Win'));
    assert.ok(!html.includes('<i>x'));
    assert.ok(html.includes('&#34;&#62;&#60;script&#62;x()&#60;/script&#62;'));
    assert.ok(html.includes('win/&#60;b&#62;Win&#60;/b&#62;'));
    // Refreshes by itself; nothing on it writes.
    assert.ok(html.includes('<meta http-equiv="refresh" content="30">'));
    assert.ok(!/<form|method=/i.test(html));
  });
});
