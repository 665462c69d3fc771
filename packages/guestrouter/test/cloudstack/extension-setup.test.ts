import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const PHYSICAL = '9a000000-0000-4000-8000-000000000001';
const SECRET = 'setup-test-secret-0123456789';

/*
 * The README's setup guide, run by `guestrouter extension-setup` against the simulator, which checks
 * what CloudStack checks for these calls (signatures, required parameters, the extension type, the
 * physical network, the provider existing and providing each service of the offering).
 */
describe('extension-setup: the setup guide against the simulator', { timeout: 120_000 }, () => {
  let sim: SimulatorHandle;
  let config: TempConfig;
  const setup = (...extra: string[]) =>
    runCli(
      [
        'extension-setup',
        '--config',
        config.file,
        '--physical-network',
        PHYSICAL,
        '--url',
        'http://10.0.0.5:8443,http://10.0.0.6:8443',
        '--isolation',
        'vxlan',
        ...extra,
      ],
      simulatorEnv(sim),
    );

  before(async () => {
    const state = generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vxlan' });
    state.physicalNetworks = [PHYSICAL];
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    config = new TempConfig('gr-setup-', {
      cloudstack: { retries: 0 },
      extension: { listen: '10.0.0.5:8443', secret: SECRET },
    });
  });
  after(async () => {
    await sim.stop();
    config.remove();
  });

  test('creates the extension, registers it, enables the provider, creates and enables the offering', async () => {
    const r = await setup();
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { created: string[]; extensionId: string; offeringId: string };
    assert.deepEqual(result.created, [
      'extension',
      'registration',
      'provider enabled',
      'offering',
      'offering enabled',
    ]);
    const s = sim.state.extensionSetup;
    const extension = s?.extensions[0];
    assert.equal(extension?.type, 'NetworkOrchestrator');
    assert.equal(
      extension?.details['network.services'],
      'SourceNat,StaticNat,PortForwarding,Firewall,Lb,Dhcp,Dns,UserData,Gateway',
    );
    const capabilities = JSON.parse(extension?.details['network.service.capabilities'] ?? '{}');
    assert.equal(capabilities.Dhcp.DhcpAccrossMultipleSubnets, 'false');
    assert.deepEqual(extension?.resources[0], {
      id: PHYSICAL,
      type: 'PhysicalNetwork',
      details: {
        'guestrouter.url': 'http://10.0.0.5:8443,http://10.0.0.6:8443',
        'guestrouter.secret': SECRET,
        'guestrouter.isolation': 'vxlan',
      },
    });
    assert.equal(s?.providers[0]?.name, 'guestrouter');
    assert.equal(s?.providers[0]?.state, 'Enabled');
    const offering = s?.offerings[0];
    assert.equal(offering?.id, result.offeringId);
    assert.equal(offering?.state, 'Enabled');
    assert.equal(offering?.guestiptype, 'Isolated');
    assert.ok(offering?.service.every((x) => x.provider[0]?.name === 'guestrouter'));
    assert.equal(offering?.service.length, 9);
    assert.ok(!r.stderr.includes(SECRET), 'the secret is not logged');
  });

  test('a second run changes nothing (what exists is kept)', async () => {
    const r = await setup();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { created: string[] }).created, []);
    assert.equal(sim.state.extensionSetup?.extensions.length, 1);
    assert.equal(sim.state.extensionSetup?.offerings.length, 1);
  });

  test('--print gives the same calls as cmk lines, without the secret; a service it cannot provide is refused', async () => {
    const r = await setup('--print', '--offering', 'other');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^cmk create extension name=guestrouter type=NetworkOrchestrator /);
    assert.match(lines[1] ?? '', /^cmk register extension id=<extension-id> resourcetype=PhysicalNetwork /);
    assert.match(lines[4] ?? '', /serviceProviderList\[0\]\.provider=guestrouter/);
    assert.ok(!r.stdout.includes(SECRET));
    const bad = await setup('--services', 'Dhcp,Vpn');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Vpn not provided by guestrouter/);
  });

  test('the simulator refuses an offering naming a service the provider does not declare', async () => {
    const r = await setup('--name', 'gr2', '--services', 'Dhcp', '--offering', 'narrow');
    assert.equal(r.code, 0, r.stderr);
    const wide = await runCli(
      [
        'extension-setup',
        '--config',
        config.file,
        '--physical-network',
        'no-such-network',
        '--url',
        'http://x:1',
        '--name',
        'gr3',
      ],
      simulatorEnv(sim),
    );
    assert.equal(wide.code, 1);
    assert.match(wide.stderr, /Unable to find physical network with ID: no-such-network/);
  });
});
