import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { metricsAddress, PolicyConnection, type RunningDaemon, rcpt, startServe } from '../helpers/daemon.js';

/** One HTTP exchange with any method (fetch refuses a body on HEAD and some methods). */
function http(
  method: string,
  address: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request(
      { method, host: address.slice(0, colon), port: Number(address.slice(colon + 1)), path },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('metrics endpoint', () => {
  let d: RunningDaemon;
  let at: string;
  before(async () => {
    d = await startServe(['--metrics', '127.0.0.1:0', '--os-static', '192.0.2.0/24=Windows XP']);
    at = metricsAddress(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('a scrape with a query string is answered; HEAD too; other methods get 405, other paths 404', async () => {
    const plain = await http('GET', at, '/metrics');
    const withParams = await http('GET', at, '/metrics?module=greyprint&x=y');
    assert.equal(plain.status, 200);
    assert.equal(withParams.status, 200);
    assert.match(withParams.body, /^# HELP /m);
    assert.match(String(withParams.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const head = await http('HEAD', at, '/metrics?x=y');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await http(method, at, '/metrics');
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
    // `/` is the status page now (see status-page.test.ts); an unknown path is still a 404.
    assert.equal((await http('GET', at, '/')).status, 200);
    assert.equal((await http('GET', at, '/nothing')).status, 404);
    assert.equal((await http('GET', at, '/metricsx')).status, 404);
  });

  test('process and Node.js metrics carry their conventional names', async () => {
    const { body } = await http('GET', at, '/metrics');
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_open_fds',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
    ]) {
      assert.match(body, new RegExp(`^${name}[ {]`, 'm'), name);
    }
    assert.doesNotMatch(body, /greyprint_process_|greyprint_nodejs_/);
  });

  test('every counter and label value is there at 0 before its first event', async () => {
    const { body } = await http('GET', at, '/metrics');
    const series = [
      ...[
        'greylist',
        'pass',
        'accept',
        'tag',
        'allow',
        'header',
        'skip',
        'bad_address',
        'bad_request',
        'failopen',
      ].map((v) => `greyprint_requests_total{verdict="${v}"}`),
      ...['store', 'exception', 'deadline', 'os_timeout', 'os_error'].map(
        (r) => `greyprint_failopen_total{reason="${r}"}`,
      ),
      ...[
        'line_too_long',
        'too_many_attributes',
        'request_too_large',
        'nul_byte',
        'malformed_line',
        'missing_request',
        'wrong_request',
        'bad_address',
      ].map((c) => `greyprint_bad_requests_total{code="${c}"}`),
      'greyprint_connections_refused_total{reason="max_connections"}',
      'greyprint_connections_refused_total{reason="fd_limit"}',
      'greyprint_connections_timed_out_total{phase="idle"}',
      'greyprint_connections_timed_out_total{phase="request"}',
      'greyprint_connections_total',
      'greyprint_expired_triplets_total',
      'greyprint_log_dropped_lines_total',
      'greyprint_connections_open',
    ];
    for (const s of series) assert.match(body, new RegExp(`^${s.replace(/[{}]/g, '\\$&')} 0$`, 'm'), s);
  });

  test('the open-connections gauge follows connections as they open and close', async () => {
    const gauge = async () =>
      Number(/^greyprint_connections_open (\d+)$/m.exec((await http('GET', at, '/metrics')).body)?.[1]);
    const conns = await Promise.all([1, 2, 3].map(() => PolicyConnection.open(d.host, d.port)));
    for (const c of conns)
      assert.match(await c.ask(rcpt({ client_address: '192.0.2.9' })), /^DEFER_IF_PERMIT /);
    assert.equal(await gauge(), 3);
    conns[0]?.close();
    conns[1]?.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await gauge(), 1);
    conns[2]?.close();
    const { body } = await http('GET', at, '/metrics');
    assert.match(body, /^greyprint_requests_total\{verdict="greylist"\} 3$/m);
    assert.match(body, /^greyprint_requests_total\{verdict="pass"\} 0$/m);
  });
});
