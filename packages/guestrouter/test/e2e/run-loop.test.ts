import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseLinks } from '../../src/kernel/parse.js';
import { routerArgs, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip, NetnsLab } from '../helpers/netns.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

describe('guestrouter run: interval reconcile, failed cycles, SIGHUP, SIGTERM', { timeout: 120_000 }, () => {
  const lab = new NetnsLab(`gr${process.pid}l`);
  let router = '';
  let sim: SimulatorHandle;
  let config: TempConfig;
  let child: ChildProcess | undefined;
  let log: LogWatcher;

  const links = () => parseLinks(ip('-n', router, '-json', '-details', 'link', 'show'));
  const writeConfig = (extra: object) =>
    config.write({
      cloudstack: { retries: 0, timeoutMs: 2000 },
      run: { intervalSeconds: 0.5, jitterSeconds: 0.2 },
      stateDir: join(config.dir, 'state'),
      ...extra,
    });

  before(async () => {
    config = new TempConfig('gr-run-');
    writeConfig({});
    router = lab.add('rtr');
    ip('-n', router, 'link', 'add', 'trunk', 'type', 'veth', 'peer', 'name', 'uplink');
    ip('-n', router, 'link', 'set', 'dev', 'trunk', 'up');
    ip('-n', router, 'link', 'set', 'dev', 'uplink', 'up');
    sim = await startSimulator({
      state: generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' }),
      host: '127.0.0.1',
      port: 0,
    });
    child = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', ...routerArgs(router, config.file), '--metrics-port', '0'],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    log = new LogWatcher(child);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child?.once('exit', resolve));
    }
    lab.cleanup();
    await sim.stop();
    config.remove();
  });

  test('the first cycles create the links, log each change and write the state file', async () => {
    await log.next((l) => l.msg === 'reconcile done' && l.served === 2, 'a cycle serving 2 networks');
    assert.ok(links().has('vxlan5001') && links().has('vxlan5002'));
    assert.ok(
      log.lines.some(
        (l) => l.msg === 'router changed' && l.event === 'create-link' && l.link === 'vxlan5002',
      ),
    );
    const state = JSON.parse(readFileSync(join(config.dir, 'state', 'state.json'), 'utf8'));
    assert.equal(state.served, 2);
    await log.next((l) => l.msg === 'reconcile done' && l.changes === 0, 'a cycle with no changes');
  });

  test('serves Prometheus metrics of the cycles', async () => {
    const listening = log.lines.find((l) => l.event === 'metrics');
    assert.ok(listening, 'the metrics address is logged');
    const response = await fetch(`http://127.0.0.1:${listening.port}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^guestrouter_networks_served 2$/m);
    assert.match(text, /^guestrouter_reconcile_cycles_total\{result="ok"\} [1-9]/m);
    assert.match(text, /^guestrouter_changes_total\{action="create-link"\} 2$/m);
    assert.match(text, /^guestrouter_reconcile_duration_seconds_count [1-9]/m);
    assert.match(
      text,
      /^guestrouter_cloudstack_requests_total\{command="listNetworks",outcome="ok"\} [1-9]/m,
    );
  });

  test('a failed cycle logs, keeps the links, and the next cycle goes on', async () => {
    sim.failNext(2, 'http500');
    await log.next((l) => l.event === 'fetch-inventory' && l.kept === true, 'a failed fetch');
    assert.ok(links().has('vxlan5001') && links().has('vxlan5002'));
    // state.json says so too (written right after the log line), with what the last good read saw.
    let state: Record<string, unknown> = {};
    for (let i = 0; i < 40 && state.ok !== false; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      state = JSON.parse(readFileSync(join(config.dir, 'state', 'state.json'), 'utf8'));
    }
    assert.equal(state.ok, false);
    assert.equal(state.fetched, false);
    assert.match(String(state.error), /listZones|HTTP 500|500/);
    assert.equal((state.lastFetched as { served?: number } | undefined)?.served, 2);
    await log.next((l) => l.msg === 'reconcile done', 'a good cycle after the failure');
    assert.ok(links().has('vxlan5001'));
    const port = log.lines.find((l) => l.event === 'metrics')?.port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /^guestrouter_reconcile_cycles_total\{result="failed"\} [1-9]/m);
  });

  test('SIGHUP re-reads the config: a narrower selection removes the deselected link', async () => {
    const keep = sim.state.networks[1]?.id as string;
    // logLevel is restart-only: the reload warns about it (before it reloads) and applies the rest.
    writeConfig({ networks: { ids: [keep] }, logLevel: 'debug' });
    // The waiters see only lines that come after them, and these lines can arrive in one chunk:
    // all of them wait before the signal.
    const warned = log.next((l) => l.event === 'reload' && l.key === 'logLevel', 'the restart-only warning');
    const reloaded = log.next((l) => l.event === 'reload', 'the reload');
    const deleted = log.next((l) => l.msg === 'router changed' && l.event === 'delete-link', 'the deletion');
    child?.kill('SIGHUP');
    await Promise.all([warned, reloaded, deleted]);
    assert.equal(links().has('vxlan5001'), false);
    assert.equal(links().has('vxlan5002'), true);
  });

  test('a bad config on SIGHUP is logged and the previous one kept', async () => {
    writeFileSync(config.file, '{ not json');
    child?.kill('SIGHUP');
    await log.next((l) => l.event === 'reload' && typeof l.err === 'string', 'the failed reload');
    await log.next((l) => l.msg === 'reconcile done' && l.served === 1, 'a cycle with the old config');
  });

  test('SIGTERM stops cleanly with exit 0 and leaves the router as it is', async () => {
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child?.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(log.lines.some((l) => l.event === 'stop' && l.signal === 'SIGTERM'));
    assert.equal(links().has('vxlan5002'), true);
  });
});
