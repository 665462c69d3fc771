import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import type { RouterStatus } from '../../src/status/board.js';
import { renderRouterPage } from '../../src/status/page.js';

const status = (over: Partial<RouterStatus> = {}): RouterStatus => ({
  generatedAt: '2026-11-30T12:00:00.000Z',
  router: {},
  processes: {},
  cycles: [{ at: '2026-11-30T11:59:59.000Z', ms: 120, ok: false, changes: 0, error: '<b>api</b> down' }],
  networks: [
    {
      networkId: 'n1',
      networkName: '<img src=x onerror=alert(1)>',
      state: 'served',
      link: 'vxlan5001',
      linkUp: true,
      gateway: '192.0.2.1',
      cidr: '192.0.2.0/24',
      services: { 'DHCP/DNS': { state: 'running', detail: 'pid 7' } },
      vms: [{ vmId: 'v1', vmName: '<script>x()</script>', ipAddress: '192.0.2.2', answered: true }],
    },
  ],
  ...over,
});

const headers = (html: string) =>
  parse(html)
    .querySelectorAll('section.network table')[0]
    ?.querySelectorAll('th')
    .map((th) => th.text);

describe('guestrouter status page', () => {
  test('names from CloudStack and errors are text, never markup', () => {
    const html = renderRouterPage(status(), 15);
    const dom = parse(html);
    assert.equal(dom.querySelectorAll('img').length, 0);
    assert.equal(dom.querySelectorAll('b').length, 0);
    assert.ok(!html.includes('<script>x()'));
    assert.equal(dom.querySelector('#vms-0 td')?.text, '<script>x()</script>');
    assert.match(dom.querySelector('#cycles')?.text ?? '', /<b>api<\/b> down/);
  });

  test('a service or router fact the data carries shows up without a page change (NAT, HA role)', () => {
    const base = status();
    const withNat = status({
      router: { 'HA role': 'MASTER' },
      networks: base.networks.map((n) => ({ ...n, services: { ...n.services, NAT: { state: 'active' } } })),
    });
    assert.deepEqual(headers(renderRouterPage(base, 15)), [
      'network',
      'state',
      'reason',
      'link',
      'gateway',
      'DHCP/DNS',
    ]);
    const html = renderRouterPage(withNat, 15);
    assert.deepEqual(headers(html), ['network', 'state', 'reason', 'link', 'gateway', 'DHCP/DNS', 'NAT']);
    const summary = parse(html)
      .querySelectorAll('#summary tr')
      .map((tr) => tr.querySelectorAll('td').map((td) => td.text));
    assert.ok(summary.some((r) => r[0] === 'HA role' && r[1] === 'MASTER'));
  });

  test('refreshes by itself and has no forms', () => {
    const dom = parse(renderRouterPage(status(), 15));
    assert.equal(dom.querySelector('meta[http-equiv="refresh"]')?.getAttribute('content'), '15');
    assert.equal(dom.querySelectorAll('form').length, 0);
  });
});
