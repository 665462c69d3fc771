import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gatewayMac } from '../../src/desired/mac.js';
import { runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { generateSimState, networkId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

// Interfaces that do not exist in the host namespace: plan must still compute.
const ifaces = ['--trunk', 'grnotrunk0', '--uplink', 'grnouplink0'];

describe('guestrouter CLI inputs and failures', () => {
  let sim: SimulatorHandle;
  let config: TempConfig;
  const env = (overrides: Record<string, string> = {}) => simulatorEnv(sim, overrides);

  before(async () => {
    const state = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vlan' });
    // A third network is broken: its gateway lies outside its CIDR. The other two must still be served.
    const broken = generateSimState({ networks: 1, vmsPerNetwork: 0, isolation: 'vlan', firstId: 7 })
      .networks[0];
    assert.ok(broken);
    state.networks.push({ ...broken, gateway: '10.99.99.1' });
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    config = new TempConfig('gr-cli-', { cloudstack: { retries: 0, timeoutMs: 2000 } });
  });
  after(async () => {
    await sim.stop();
    config.remove();
  });

  test('with only the three env vars and --trunk/--uplink, plan serves every valid network on a machine without the interfaces', async () => {
    const result = await runCli(['plan', ...ifaces], env());
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(
      lines.includes(
        `ip link add link grnotrunk0 name grnotrunk0.101 address ${gatewayMac(networkId(1))} type vlan id 101`,
      ),
    );
    assert.ok(lines.includes('ip addr add 198.51.100.1/24 dev grnotrunk0.102'));
    assert.ok(lines.includes('sysctl -w net.ipv4.conf.grnotrunk0/101.proxy_arp=1'));
    assert.ok(!lines.some((l) => l.includes('.107')), 'the broken network is not planned');
    assert.match(result.stderr, /guest-7 .* refused: gateway 10\.99\.99\.1 is outside its cidr/);
    assert.match(result.stderr, /warning: the trunk interface grnotrunk0 does not exist/);
  });

  test('missing CloudStack settings are a usage error (exit 2) naming the variables', async () => {
    const result = await runCli(['plan', ...ifaces], { CLOUDSTACK_API_URL: sim.url });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /CLOUDSTACK_API_KEY/);
    assert.match(result.stderr, /CLOUDSTACK_SECRET_KEY/);
  });

  test('a bad CloudStack environment value is a usage error (exit 2) naming the variable and key', async () => {
    const result = await runCli(
      ['plan', ...ifaces],
      env({ CLOUDSTACK_API_URL: 'ftp://cloud.example.com/api' }),
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /CLOUDSTACK_API_URL: cloudstack\.url: must start with http:\/\/ or https:\/\//,
    );
  });

  test('a missing --uplink is a usage error (exit 2)', async () => {
    const result = await runCli(['plan', '--trunk', 'eth1'], env());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no uplink interface: pass --uplink IFACE/);
  });

  test('a bad config file is a usage error naming the file and key', async () => {
    const bad = join(config.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ run: { intervalSeconds: -1 } }));
    const result = await runCli(['plan', ...ifaces, '--config', bad], env());
    assert.equal(result.code, 2);
    assert.ok(result.stderr.includes(bad));
    assert.match(result.stderr, /run\.intervalSeconds/);
  });

  test('wrong keys are a runtime error (exit 1) that says what CloudStack answered', async () => {
    const result = await runCli(
      ['plan', ...ifaces, '--config', config.file],
      env({ CLOUDSTACK_SECRET_KEY: 'wrong' }),
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CloudStack API: .*(401|signature|credentials)/i);
    assert.equal(result.stdout, '');
  });

  test('malformed JSON from the API is a runtime error and plans nothing', async () => {
    sim.failNext(1, 'malformed');
    const result = await runCli(['plan', ...ifaces, '--config', config.file], env());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CloudStack API: /);
    assert.equal(result.stdout, '');
  });

  test('password reset of a VM CloudStack does not list exits 2 and stores nothing', async () => {
    const sim = await startSimulator({
      state: generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vxlan' }),
    });
    const config = new TempConfig('gr-pwreset-');
    config.write({ stateDir: join(config.dir, 'state'), cloudstack: { retries: 0 } });
    try {
      const result = await runCli(
        ['password', 'reset', 'c0000000-0000-4000-8000-00000000dead', '--config', config.file],
        simulatorEnv(sim),
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /no VM with id c0000000-0000-4000-8000-00000000dead/);
      assert.equal(result.stdout, '');
      assert.equal(existsSync(join(config.dir, 'state', 'passwords')), false);
    } finally {
      config.remove();
      await sim.stop();
    }
  });

  test('--help shows an example for each command', async () => {
    for (const command of ['plan', 'apply', 'status', 'run', 'deploy', 'password reset']) {
      const result = await runCli([...command.split(' '), '--help'], {});
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`Examples:\\n  guestrouter ${command}`));
      assert.match(result.stdout, /Global Options:[\s\S]*--trunk <iface>[\s\S]*--uplink <iface>/);
    }
  });

  test('--version prints the package version', async () => {
    const result = await runCli(['--version'], {});
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), '0.1.0');
  });
});
