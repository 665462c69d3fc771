import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'node-html-parser';
import { loadPageInChromium } from 'opskit/browser';
import type { RouterStatus } from '../../src/status/board.js';
import { routerArgs, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
/** Screenshots are kept as test artefacts under the repository's ignored tmp/. */
const ARTEFACTS = resolve(
  fileURLToPath(new URL('../../../../tmp/test-artifacts/guestrouter', import.meta.url)),
);
/** A VM name CloudStack accepts as display name: markup that must reach the page as text. */
const SCRIPT_NAME = `<script>document.title='pwned'</script>`;

/*
 * guestrouter run in the namespace lab with DHCP on: two networks served (one VM of them cut off
 * so that it does not answer), one refused (gateway outside its CIDR), a VM named with markup.
 * The page is loaded in Debian's Chromium and its numbers compared with /metrics.
 */
describe('guestrouter status page from a running `run`', { timeout: 120_000 }, () => {
  const topo = new RouterLab('s');
  let sim: SimulatorHandle;
  let config: TempConfig;
  let child: ChildProcess | undefined;
  let base = '';
  let status: RouterStatus;
  let silentVm = '';

  before(async () => {
    config = new TempConfig('gr-status-');
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
      run: { intervalSeconds: 0.5, jitterSeconds: 0.1 },
      dhcp: { enabled: true, leaseTime: '1h', dns: true },
      status: { pingTimeoutSeconds: 1 },
    });
    topo.build([]);
    const state = generateSimState({ networks: 3, vmsPerNetwork: 2, isolation: 'vxlan' });
    const vm0 = state.virtualMachines[0];
    assert.ok(vm0);
    vm0.displayname = SCRIPT_NAME;
    const refused = state.networks[2];
    assert.ok(refused);
    refused.gateway = '10.99.99.1';
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll({ ...state, networks: state.networks.slice(0, 2) });
    silentVm = state.virtualMachines[1]?.nic?.[0]?.ipaddress as string;
    ip('-n', topo.vm(silentVm), 'link', 'set', 'dev', 'eth0', 'down');
    child = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', ...routerArgs(topo.router, config.file), '--metrics-port', '0'],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const log = new LogWatcher(child);
    await log
      .next((l) => l.msg === 'reconcile done' && l.served === 2, 'a cycle serving 2 networks')
      .catch((e: Error) => {
        throw new Error(
          `${e.message}; the log: ${log.lines
            .slice(-8)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        );
      });
    base = `http://127.0.0.1:${log.lines.find((l) => l.event === 'metrics')?.port}`;
    // The VM check runs after a cycle: wait until every running VM of a served network was checked.
    for (let i = 0; i < 100; i++) {
      status = (await (await fetch(`${base}/api/status`)).json()) as RouterStatus;
      const served = status.networks.filter((n) => n.state === 'served');
      const services = served.every((n) => n.services['DHCP/DNS']?.state === 'running');
      if (served.length === 2 && services && served.every((n) => n.vms.every((vm) => vm.answered !== null)))
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    topo.cleanup();
    await sim?.stop();
    config?.remove();
  });

  test('/api/status lists every network with its state, link, gateway, services and VM checks', () => {
    const byState = (s: string) => status.networks.filter((n) => n.state === s);
    assert.equal(byState('served').length, 2);
    const [refused] = byState('refused');
    assert.match(refused?.reason ?? '', /gateway/);
    assert.equal(refused?.gateway, undefined);
    const first = status.networks[0];
    assert.equal(first?.link, 'vxlan5001');
    assert.equal(first?.linkUp, true);
    assert.equal(first?.gateway, sim.state.networks[0]?.gateway);
    assert.equal(first?.services['DHCP/DNS']?.state, 'running');
    const vms = status.networks.flatMap((n) => n.vms);
    assert.equal(vms.find((v) => v.ipAddress === silentVm)?.answered, false);
    assert.equal(vms.filter((v) => v.answered === true).length, 3);
    assert.equal(vms.find((v) => v.vmName === SCRIPT_NAME)?.answered, true);
    assert.ok(status.cycles.length >= 1 && status.cycles[0]?.ok);
  });

  test('Chromium renders the numbers /metrics has, the VM named with markup as text, and a screenshot', async () => {
    const shot = join(ARTEFACTS, `status-${process.pid}.png`);
    const page = await loadPageInChromium(`${base}/`, { screenshot: shot });
    const dom = parse(page.dom);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    const summary = dom
      .querySelectorAll('table#summary tbody tr')
      .map((tr) => tr.querySelectorAll('td').map((td) => td.text));
    const value = (label: string) => Number(summary.find((r) => r[0] === label)?.[1]);
    assert.equal(value('networks served'), gauge('guestrouter_networks_served'));
    assert.equal(value('networks served'), 2);
    assert.equal(value('networks refused'), gauge('guestrouter_networks_refused'));
    assert.equal(value('networks refused'), 1);
    assert.equal(value('VMs answered the last check'), 3);
    assert.equal(value('VMs that did not answer'), 1);
    const sections = dom.querySelectorAll('section.network');
    assert.deepEqual(
      sections.map((s) => s.getAttribute('data-state')),
      ['served', 'served', 'refused'],
    );
    const vmCells = dom
      .querySelectorAll('section.network table tbody tr')
      .map((tr) => tr.querySelectorAll('td').map((td) => td.text));
    assert.ok(
      vmCells.some((r) => r[0] === SCRIPT_NAME && r[3] === 'answered'),
      'the markup name is text',
    );
    assert.ok(vmCells.some((r) => r[1] === silentVm && r[3] === 'NO ANSWER'));
    assert.equal(dom.querySelector('title')?.text, 'guestrouter status');
    assert.equal(dom.querySelectorAll('script').filter((s) => s.text.includes('pwned')).length, 0);
    assert.ok(existsSync(shot) && statSync(shot).size > 10_000, 'a screenshot of the page');
  });
});
