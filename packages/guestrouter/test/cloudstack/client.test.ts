import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { CloudStackApiError } from '../../src/cloudstack/errors.js';
import type { RawNetwork } from '../../src/cloudstack/messages.js';
import { cloudStackMetrics } from '../../src/cloudstack/metrics.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';
import { clientFor, rejection } from './helpers.js';

function apiError(err: unknown): CloudStackApiError {
  assert.ok(err instanceof CloudStackApiError, `expected CloudStackApiError, got ${String(err)}`);
  return err;
}

describe('CloudStack client against the simulator', () => {
  let sim: SimulatorHandle;

  before(async () => {
    sim = await startSimulator({
      state: generateSimState({ networks: 23, vmsPerNetwork: 2, isolation: 'vlan' }),
    });
  });
  after(async () => {
    await sim.stop();
  });

  function resetLog(): void {
    sim.requests.length = 0;
  }

  test('collects every network across pages and stops at the short last page', async () => {
    const { client } = clientFor(sim, { pageSize: 5 });
    resetLog();
    const networks = await client.listAll<RawNetwork>('listNetworks', { listall: true }, 'network');
    assert.equal(networks.length, 23);
    assert.equal(new Set(networks.map((n) => n.id)).size, 23);
    assert.deepEqual(
      sim.requests.map((r) => `${r.command}:${r.status}`),
      Array(5).fill('listNetworks:200'),
    );
    client.close();
  });

  test('stops at count when the last page is exactly full', async () => {
    const { client } = clientFor(sim, { pageSize: 23 });
    resetLog();
    const networks = await client.listAll('listNetworks', { listall: true }, 'network');
    assert.equal(networks.length, 23);
    assert.equal(sim.requests.length, 1, 'no extra request for an empty page');
    client.close();
  });

  test('returns an empty list for an answer without count or items', async () => {
    const { client } = clientFor(sim);
    resetLog();
    const none = await client.listAll('listNetworks', { listall: true, id: 'no-such-network' }, 'network');
    assert.deepEqual(none, []);
    assert.equal(sim.requests.length, 1);
    client.close();
  });

  test('signs parameters with spaces, reserved and non-ASCII characters so the simulator accepts them', async () => {
    const { client } = clientFor(sim);
    const answer = await client.request<Record<string, unknown>>('listNetworks', {
      keyword: "gUest-1 *~!'() é漢😀+/=&?",
      listall: true,
    });
    assert.deepEqual(answer, {}, 'accepted (and nothing matches that keyword)');
    client.close();
  });

  test('fails with a clear 401 error, without retrying, when the secret key is wrong', async () => {
    const { client } = clientFor({ ...sim, secretKey: 'wrong-secret' });
    resetLog();
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'auth-failed');
    assert.equal(err.errorCode, 401);
    assert.equal(err.httpStatus, 401);
    assert.equal(err.command, 'listZones');
    assert.equal(err.attempts, 1);
    assert.match(
      err.message,
      /CloudStack listZones failed: errorcode 401: unable to verify user credentials and\/or request signature/,
    );
    assert.match(err.message, /CLOUDSTACK_API_KEY and CLOUDSTACK_SECRET_KEY/);
    assert.equal(sim.requests.length, 1);
    client.close();
  });

  test('fails with 401 when the API key is unknown', async () => {
    const { client } = clientFor({ ...sim, apiKey: 'nobody' });
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'auth-failed');
    client.close();
  });

  test('is refused when its signature has expired (clock behind), and accepted with the right clock', async () => {
    const { client } = clientFor(
      sim,
      {},
      { now: () => Date.now() - 11 * 60_000, signatureTtlMs: 10 * 60_000 },
    );
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'auth-failed');
    client.close();
    const { client: good } = clientFor(sim, {}, { signatureTtlMs: 60_000 });
    const zones = await good.request<{ count: number }>('listZones');
    assert.equal(zones.count, 1);
    good.close();
  });

  test('reports malformed JSON as malformed-response and does not retry it', async () => {
    const { client } = clientFor(sim);
    resetLog();
    sim.failNext(1, 'malformed');
    const err = apiError(await rejection(() => client.request('listNetworks', { listall: true })));
    assert.equal(err.code, 'malformed-response');
    assert.match(err.message, /listNetworks: malformed response \(HTTP 200\)/);
    assert.equal(sim.requests.length, 1);
    client.close();
  });

  test('retries HTTP 500 with backoff and succeeds, logging each retry', async () => {
    const { client, warnings } = clientFor(sim);
    resetLog();
    sim.failNext(2, 'http500');
    const zones = await client.request<{ count: number }>('listZones');
    assert.equal(zones.count, 1);
    assert.deepEqual(
      sim.requests.map((r) => r.status),
      [500, 500, 200],
    );
    assert.equal(warnings.length, 2);
    assert.deepEqual(
      warnings.map((w) => (w.obj as { attempt: number; code: string }).attempt),
      [1, 2],
    );
    assert.equal((warnings[0]?.obj as { code?: string } | undefined)?.code, 'http-error');
    client.close();
  });

  test('retries errorcode 530, HTTP 429 and a dropped connection', async () => {
    const { client } = clientFor(sim);
    resetLog();
    sim.failNext(1, 'errorcode530');
    sim.failNext(1, 'http429');
    sim.failNext(1, 'close');
    const zones = await client.request<{ count: number }>('listZones');
    assert.equal(zones.count, 1);
    assert.deepEqual(
      sim.requests.map((r) => r.status),
      [530, 429, 0, 200],
    );
    client.close();
  });

  test('counts attempts by outcome and retries in Prometheus metrics', async () => {
    const registry = new Registry();
    const metrics = cloudStackMetrics(registry);
    assert.equal(cloudStackMetrics(registry), metrics, 'one set of metrics per registry');
    const { client } = clientFor(sim, {}, { metrics });
    sim.failNext(1, 'http500', 'listZones');
    await client.request('listZones');
    const text = await registry.metrics();
    assert.match(text, /guestrouter_cloudstack_requests_total\{command="listZones",outcome="http-error"\} 1/);
    assert.match(text, /guestrouter_cloudstack_requests_total\{command="listZones",outcome="ok"\} 1/);
    assert.match(text, /guestrouter_cloudstack_retries_total\{command="listZones"\} 1/);
    assert.match(text, /guestrouter_cloudstack_request_duration_seconds_count\{command="listZones"\} 2/);
    client.close();
  });

  test('does not retry errorcode 431 and surfaces errorcode, cserrorcode and errortext', async () => {
    const { client } = clientFor(sim);
    resetLog();
    sim.failNext(1, 'errorcode431');
    const err = apiError(await rejection(() => client.request('listNetworks')));
    assert.equal(err.code, 'api-error');
    assert.equal(err.errorCode, 431);
    assert.equal(err.csErrorCode, 4350);
    assert.equal(err.transient, false);
    assert.match(
      err.message,
      /listNetworks failed: errorcode 431, cserrorcode 4350: Unable to execute API command/,
    );
    assert.equal(sim.requests.length, 1);
    client.close();
  });

  test('gives up after the configured retries and says how many attempts were made', async () => {
    const { client } = clientFor(sim, { retries: 2 });
    resetLog();
    sim.failNext(3, 'http500');
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'http-error');
    assert.equal(err.attempts, 3);
    assert.match(err.message, /HTTP 500.*gave up after 3 attempts/);
    assert.equal(sim.requests.length, 3);
    client.close();
  });

  test('retries an answer cut off mid-body as a network error', async () => {
    const { client, warnings } = clientFor(sim);
    resetLog();
    sim.failNext(1, 'truncate');
    const zones = await client.request<{ count: number }>('listZones');
    assert.equal(zones.count, 1);
    assert.equal((warnings[0]?.obj as { code?: string } | undefined)?.code, 'network');
    client.close();
  });

  test('times out an answer whose body stops arriving', async () => {
    const { client } = clientFor(sim, { timeoutMs: 300, retries: 0 });
    sim.failNext(1, 'stallBody');
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'timeout');
    client.close();
  });

  test('times out a request that gets no answer', async () => {
    const { client } = clientFor(sim, { timeoutMs: 300, retries: 0 });
    sim.failNext(1, 'stall');
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'timeout');
    assert.match(err.message, /no answer from http:\/\/127\.0\.0\.1:\d+\/client\/api within 300 ms/);
    assert.doesNotMatch(err.message, /apiKey|signature=/, 'credentials stay out of messages');
    client.close();
  });

  test('lists with the server page limit when pageSize exceeds default.page.size, and warns', async () => {
    const { client, warnings } = clientFor(sim, { pageSize: 501 });
    resetLog();
    const networks = await client.listAll('listNetworks', {}, 'network');
    assert.equal(networks.length, 23);
    assert.deepEqual(
      sim.requests.map((r) => r.status),
      [431, 200],
    );
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0]?.obj, {
      event: 'cloudstack-page-size',
      command: 'listNetworks',
      pageSize: 501,
      serverLimit: 500,
    });
    resetLog();
    await client.listAll('listNetworks', {}, 'network');
    assert.deepEqual(
      sim.requests.map((r) => r.status),
      [200],
      'the limit is remembered',
    );
    assert.equal(warnings.length, 1);
    client.close();
  });

  test('surfaces other 431 answers of a list unchanged', async () => {
    const { client } = clientFor(sim);
    sim.failNext(1, 'errorcode431');
    const err = apiError(await rejection(() => client.listAll('listNetworks', {}, 'network')));
    assert.equal(err.errorCode, 431);
    client.close();
  });

  test('lists the NICs of one VM with listNics, which requires virtualmachineid', async () => {
    const { client } = clientFor(sim);
    const vm = sim.state.virtualMachines[0];
    assert.ok(vm);
    const nics = await client.listAll<{ virtualmachineid: string; macaddress: string }>(
      'listNics',
      { virtualmachineid: vm.id },
      'nic',
    );
    assert.equal(nics.length, 1);
    assert.equal(nics[0]?.virtualmachineid, vm.id);
    assert.equal(nics[0]?.macaddress, '02:00:00:01:00:01');
    const err = apiError(await rejection(() => client.request('listNics')));
    assert.equal(err.errorCode, 431);
    assert.match(err.message, /missing parameter virtualmachineid/);
    client.close();
  });

  test('works through a caller-supplied fetch as well', async () => {
    const { client } = clientFor(sim, { pageSize: 10 }, { fetch: globalThis.fetch });
    const networks = await client.listAll('listNetworks', { listall: true }, 'network');
    assert.equal(networks.length, 23);
  });
});

describe('CloudStack client when the server is down', () => {
  test('reports connection refused as a network error after bounded retries', async () => {
    // Reserve a port, then free it: nothing listens there afterwards.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const { client, warnings } = clientFor(
      { url: `http://127.0.0.1:${port}/client/api`, apiKey: 'k', secretKey: 's' },
      { retries: 2, timeoutMs: 1000 },
    );
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'network');
    assert.equal(err.transient, true);
    assert.equal(err.attempts, 3);
    assert.match(
      err.message,
      new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}/client/api \\(ECONNREFUSED`),
    );
    assert.equal(warnings.length, 2);
    client.close();
  });
});

describe('CloudStack client against a server that ignores paging', () => {
  test('stops with malformed-response instead of looping when a full page repeats', async () => {
    const page = JSON.stringify({ listzonesresponse: { count: 4, zone: [{ id: 'a' }, { id: 'b' }] } });
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(page);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const { client } = clientFor(
        { url: `http://127.0.0.1:${port}/client/api`, apiKey: 'k', secretKey: 's' },
        { pageSize: 2 },
      );
      const err = apiError(await rejection(() => client.listAll('listZones', {}, 'zone')));
      assert.equal(err.code, 'malformed-response');
      assert.match(err.message, /page 2 repeats earlier items/);
      client.close();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('CloudStack client and redirects', () => {
  test('does not follow a redirect and names where it pointed', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(302, { location: 'https://cloud.example.com/client/api' });
      res.end('moved');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      for (const options of [{}, { fetch: globalThis.fetch }]) {
        const { client } = clientFor(
          { url: `http://127.0.0.1:${port}/client/api`, apiKey: 'k', secretKey: 's' },
          {},
          options,
        );
        const err = apiError(await rejection(() => client.request('listZones')));
        assert.equal(err.code, 'http-error');
        assert.equal(err.httpStatus, 302);
        assert.match(
          err.message,
          /HTTP 302 redirect to https:\/\/cloud\.example\.com\/client\/api; set CLOUDSTACK_API_URL/,
        );
        client.close();
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('CloudStack client over TLS', () => {
  let sim: SimulatorHandle;

  before(async () => {
    // A committed self-signed pair (100 years) so the test needs no openssl at run time.
    const fixtures = join(import.meta.dirname, 'fixtures');
    sim = await startSimulator({
      state: generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' }),
      tls: {
        key: readFileSync(join(fixtures, 'tls-test-key.pem')),
        cert: readFileSync(join(fixtures, 'tls-test-cert.pem')),
      },
    });
  });
  after(async () => {
    await sim?.stop();
  });

  test('refuses a self-signed certificate by default, without retrying', async () => {
    const { client } = clientFor(sim);
    sim.requests.length = 0;
    const err = apiError(await rejection(() => client.request('listZones')));
    assert.equal(err.code, 'tls');
    assert.equal(err.attempts, 1);
    assert.match(
      err.message,
      /TLS certificate of https:\/\/127\.0\.0\.1:\d+\/client\/api not accepted.*verifyTls/,
    );
    client.close();
  });

  test('accepts it with verification on once the certificate is trusted (NODE_EXTRA_CA_CERTS)', async () => {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const child = spawn(process.execPath, ['--import', 'tsx', join(fixtures, 'tls-client.ts')], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: join(fixtures, 'tls-test-cert.pem'),
        CLOUDSTACK_API_URL: sim.url,
        CLOUDSTACK_API_KEY: sim.apiKey,
        CLOUDSTACK_SECRET_KEY: sim.secretKey,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    const [code] = await once(child, 'exit');
    assert.equal(out.trim(), 'zones 1');
    assert.equal(code, 0);
  });

  test('accepts it with verifyTls false', async () => {
    const { client } = clientFor(sim, { verifyTls: false });
    const zones = await client.request<{ count: number }>('listZones');
    assert.equal(zones.count, 1);
    client.close();
  });
});
