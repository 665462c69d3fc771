import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningDaemon, runCli, startServe } from '../helpers/daemon.js';

describe('listeners and the metrics endpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpc-listen-'));
  const sock = join(dir, 'policy.sock');
  const regular = join(dir, 'not-a-socket');
  let d: RunningDaemon;

  before(async () => {
    // A socket file left behind by a process that died: bound, never unlinked.
    execFileSync('/usr/bin/python3', [
      '-c',
      'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])',
      sock,
    ]);
    assert.ok(statSync(sock).isSocket());
    d = await startServe([
      '--listen',
      `unix:${sock}`,
      '--socket-mode',
      '0600',
      '--metrics',
      '127.0.0.1:0',
      '--os-static',
      '192.0.2.0/24=Windows XP',
    ]);
  });
  after(async () => {
    await d?.stop();
  });

  test('listens on TCP and on a unix socket at once, replacing a stale socket file', async () => {
    const started = await d.waitForLog((l) => l.msg === 'greyprint started');
    const listen = started.listen as string[];
    assert.equal(listen[1], `unix:${sock}`);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const viaUnix = await runCli(['check', '--server', `unix:${sock}`, '--client-address', '192.0.2.3']);
    assert.match(viaUnix.stdout, /^DEFER_IF_PERMIT /);
    const viaTcp = await runCli(['check', '--server', d.address, '--client-address', '198.51.100.3']);
    assert.equal(viaTcp.stdout, 'DUNNO\n');
  });

  test('refuses to take over a unix socket path that is a regular file', async () => {
    writeFileSync(regular, 'data');
    const r = await runCli(['serve', '--db', ':memory:', '--listen', `unix:${regular}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exists and is not a socket/);
  });

  test('refuses a unix socket a running daemon still owns', async () => {
    const r = await runCli(['serve', '--db', ':memory:', '--listen', `unix:${sock}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /in use by a running process/);
  });

  test('serves Prometheus metrics with request and fail-open counters', async () => {
    const started = await d.waitForLog((l) => l.msg === 'greyprint started');
    const metricsAt = (started.listen as string[])
      .find((a) => a.startsWith('metrics='))
      ?.slice('metrics='.length);
    assert.ok(metricsAt);
    const res = await fetch(`http://${metricsAt}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.match(text, /greyprint_requests_total\{verdict="greylist"\} 1/);
    assert.match(text, /greyprint_requests_total\{verdict="accept"\} 1/);
    assert.match(text, /# TYPE greyprint_failopen_total counter/);
    assert.match(text, /greyprint_decision_duration_seconds_bucket/);
  });
});
