import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type HttpEndpoint, parseHostPort, type RouteHandler, startHttpEndpoint } from '../src/index.js';

let endpoint: HttpEndpoint;
let base: string;

before(async () => {
  const routes = new Map<string, RouteHandler>([
    ['/metrics', () => ({ contentType: 'text/plain; version=0.0.4', body: 'x_total 1\n' })],
    ['/echo', (_req, query) => ({ contentType: 'text/plain', body: query.get('q') ?? '' })],
    [
      '/boom',
      () => {
        throw new Error('store is down');
      },
    ],
  ]);
  endpoint = await startHttpEndpoint({ host: '127.0.0.1', port: 0 }, routes);
  base = `http://127.0.0.1:${endpoint.port}`;
});
after(() => endpoint.close());

test('GET answers with the route, any query string accepted', async () => {
  const res = await fetch(`${base}/metrics?module=x&target=y`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4');
  assert.equal(await res.text(), 'x_total 1\n');
  assert.equal(await (await fetch(`${base}/echo?q=hello`)).text(), 'hello');
});

test('HEAD answers without a body; other methods get 405 with Allow', async () => {
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('unknown paths are 404, a failing handler is 500 with its message', async () => {
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  const boom = await fetch(`${base}/boom`);
  assert.equal(boom.status, 500);
  assert.equal(await boom.text(), 'store is down\n');
});

test('listen addresses are HOST:PORT, IPv6 in brackets', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseHostPort('9100'), /is not HOST:PORT/);
  assert.throws(() => parseHostPort('localhost:70000'), /is not HOST:PORT/);
});
