import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseProxyNeighbours } from '../../src/kernel/parse.js';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

/*
 * publicRouting.proxyArp = "addresses": the router answers ARP on the uplink only for the VM
 * addresses CloudStack lists, so a VM added in CloudStack becomes reachable from the internet
 * exactly at the next reconcile, and an unused address of the subnet gets no answer.
 */
describe('per-address proxy ARP on the uplink, end to end', { timeout: 180_000 }, () => {
  const lab = new RouterLab('p');
  let sim: SimulatorHandle;
  let config: TempConfig | undefined;
  const cli = (command: string, ...extra: string[]) =>
    runCli([command, ...extra, ...routerArgs(lab.router, config?.file ?? '')], simulatorEnv(sim));
  const proxies = () =>
    parseProxyNeighbours(ip('-n', lab.router, '-N', '-json', 'neigh', 'show', 'proxy')).map(
      (n) => `${n.address} ${n.dev} ${n.protocol ?? '-'}`,
    );

  before(async () => {
    config = new TempConfig('gr-proxy-');
    config.write({
      publicRouting: { proxyArp: 'addresses' },
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
    });
    lab.build(['198.51.100.0/24']);
    // A proxy entry somebody else made: never touched.
    ip('-n', lab.router, 'neigh', 'add', 'proxy', '198.51.100.200', 'dev', 'uplink');
    // Network 2 is 198.51.100.0/24 (VNI 5002) with VM 198.51.100.2.
    const state = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' });
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    lab.hostAll(state);
  });

  after(async () => {
    lab.cleanup();
    await sim?.stop();
    config?.remove();
  });

  test('apply adds one marked proxy entry per VM address and no blanket proxy_arp on the uplink', async () => {
    const result = await cli('apply');
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(!lines.some((l) => l.includes('uplink.proxy_arp=1')), 'no blanket proxy ARP on the uplink');
    assert.ok(
      lines.includes(`ip -n ${lab.router} neigh add proxy 198.51.100.2 dev uplink protocol 147`),
      result.stdout,
    );
    assert.deepEqual(proxies().sort(), [
      '192.0.2.2 uplink 147',
      '198.51.100.2 uplink 147',
      '198.51.100.200 uplink -',
    ]);
    const again = await cli('apply');
    assert.equal(again.stdout, '', 'a second apply is a no-op');
  });

  test('the internet reaches the listed VM, and gets no ARP answer for an unused address of the subnet', () => {
    assert.ok(lab.pings(lab.inet, '198.51.100.2'));
    assert.equal(lab.internetNeighbourMac('198.51.100.2'), lab.routerMac('uplink'));
    assert.equal(lab.pings(lab.inet, '198.51.100.99'), false);
    assert.equal(lab.internetNeighbourMac('198.51.100.99'), undefined, 'nobody answered ARP for .99');
  });

  test('a VM added in the simulator is reachable from the internet only after the next reconcile', async () => {
    const network = sim.state.networks[1];
    const template = sim.state.virtualMachines.find((vm) => vm.nic?.[0]?.networkid === network?.id);
    assert.ok(network && template?.nic?.[0]);
    sim.state.virtualMachines.push({
      ...template,
      id: 'c0000000-0000-4000-8000-0000000000aa',
      name: 'vm-added',
      nic: [
        {
          ...template.nic[0],
          id: 'd0000000-0000-4000-8000-0000000000aa',
          ipaddress: '198.51.100.3',
          macaddress: '02:00:00:02:00:aa',
        },
      ],
    });
    lab.hostAll(sim.state);
    assert.equal(
      lab.pings(lab.vm('198.51.100.3'), '198.51.100.1'),
      false,
      'anti-spoofing: the router drops the new MAC/address until the reconcile that learns it',
    );
    assert.equal(
      lab.pings(lab.inet, '198.51.100.3'),
      false,
      'not reachable from the internet before the reconcile',
    );
    const result = await cli('run', '--once');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /"event":"add-proxy-neighbour","link":"uplink".*"detail":"198\.51\.100\.3"/);
    // The failed attempt left an INCOMPLETE/FAILED entry in the internet namespace; drop it so ARP asks again.
    ip('-n', lab.inet, 'neigh', 'flush', 'dev', 'up0');
    assert.ok(lab.pings(lab.inet, '198.51.100.3'), 'reachable after the reconcile');
    assert.ok(lab.pings(lab.vm('198.51.100.3'), '198.51.100.1'), 'and it reaches its gateway');
  });

  test('a VM removed in the simulator loses its proxy entry; the foreign entry stays', async () => {
    sim.state.virtualMachines = sim.state.virtualMachines.filter((vm) => vm.name !== 'vm-added');
    const result = await cli('apply');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      result.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('ip -n')),
      [`ip -n ${lab.router} neigh del proxy 198.51.100.3 dev uplink`],
    );
    assert.match(result.stdout, /spoof:vxlan5002/, 'the anti-spoofing rule is rewritten without the VM');
    assert.ok(!proxies().includes('198.51.100.3 uplink 147'));
    assert.ok(proxies().includes('198.51.100.200 uplink -'));
  });
});
