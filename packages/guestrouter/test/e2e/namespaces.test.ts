import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gatewayMac } from '../../src/desired/mac.js';
import { parseLinks } from '../../src/kernel/parse.js';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState, networkId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

/*
 * Everything real below the API:
 *
 *   inet ns  up0 100.64.0.1/24, 198.51.100.0/24 on-link (ARPs; the router's proxy ARP answers)
 *     |
 *   router ns  up 100.64.0.2/24 ........ guestrouter --netns router adds vxlan<VNI> dev trunk
 *     |  trunk 10.255.0.1/24
 *   hv ns     trunk 10.255.0.2/24, vxlan<VNI> (CloudStack's group/port) in bridge br<VNI>
 *     |  veth per VM
 *   vm ns     eth0 <inventory IP>/24, default via the network's gateway
 */

const topo = new RouterLab('');
const lab = topo.lab;
const inet = topo.inet;
const router = topo.router;
let sim: SimulatorHandle | undefined;
let config: TempConfig | undefined;

const env = (overrides: Record<string, string> = {}) => simulatorEnv(sim, overrides);
const configFile = () => config?.file ?? '';
const common = () => routerArgs(router, configFile());
const vmNs = (address: string) => topo.vm(address);
const pings = (ns: string, target: string) => topo.pings(ns, target);
const routerLinks = () => parseLinks(ip('-n', router, '-json', '-details', 'link', 'show'));

describe('guestrouter end to end in namespaces against the API simulator', { timeout: 240_000 }, () => {
  before(async () => {
    config = new TempConfig('gr-e2e-');
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
      run: { intervalSeconds: 1 },
    });
    // The internet side treats the public guest subnet as on-link: it ARPs, the router answers.
    topo.build(['198.51.100.0/24']);
    // An interface somebody made by hand: guestrouter must never touch it.
    ip(
      '-n',
      router,
      'link',
      'add',
      'vxlan999',
      'type',
      'vxlan',
      'id',
      '999',
      'dstport',
      '4789',
      'dev',
      'trunk',
    );

    // Network 1: 192.0.2.0/24 VNI 5001, network 2: 198.51.100.0/24 VNI 5002, two VMs each (.2 and .3).
    const state = generateSimState({ networks: 2, vmsPerNetwork: 2, isolation: 'vxlan' });
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll(state);
  });

  after(async () => {
    topo.cleanup();
    await sim?.stop();
    config?.remove();
  });

  test('plan prints the literal commands and changes nothing', async () => {
    const result = await runCli(['plan', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(
      lines.includes(
        `ip -n ${router} link add vxlan5001 address ${gatewayMac(networkId(1))} type vxlan id 5001 group 239.0.19.137 dstport 8472 dev trunk`,
      ),
      result.stdout,
    );
    assert.ok(lines.includes(`ip -n ${router} addr add 198.51.100.1/24 dev vxlan5002`));
    assert.ok(lines.includes(`ip netns exec ${router} sysctl -w net.ipv4.conf.uplink.proxy_arp=1`));
    assert.equal(routerLinks().has('vxlan5001'), false);
  });

  test('apply creates marked links; VMs ping each other and the router, and the router pings them', async () => {
    const result = await runCli(['apply', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    const links = routerLinks();
    assert.equal(links.get('vxlan5001')?.alias, `guestrouter:${sim?.state.networks[0]?.id}`);
    assert.equal(links.get('vxlan5002')?.vxlan?.group, '239.0.19.138');
    assert.equal(lab.exec(router, 'cat', '/proc/sys/net/ipv4/ip_forward').trim(), '1');
    assert.equal(lab.exec(router, 'cat', '/proc/sys/net/ipv4/conf/uplink/proxy_arp').trim(), '1');
    assert.ok(pings(vmNs('192.0.2.2'), '192.0.2.3'), 'VM to VM on network 1');
    assert.ok(pings(vmNs('192.0.2.2'), '192.0.2.1'), 'VM to its gateway on the router');
    assert.ok(pings(router, '198.51.100.3'), 'router to VM on network 2');
    assert.ok(pings(vmNs('192.0.2.3'), '198.51.100.2'), 'VM to VM across networks, routed');
  });

  test('a second apply is a no-op and plan is empty', async () => {
    const result = await runCli(['apply', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /nothing to do \(2 networks served/);
    const plan = await runCli(['plan', ...common(), '--json'], env());
    assert.deepEqual(JSON.parse(plan.stdout).commands, []);
  });

  test('a VM with a public address reaches the internet namespace and is reached from it (proxy ARP on the uplink)', () => {
    assert.ok(pings(vmNs('198.51.100.2'), '100.64.0.1'), 'VM -> internet');
    assert.ok(pings(inet, '198.51.100.2'), 'internet -> VM');
    const neigh = ip('-n', inet, 'neigh', 'show', '198.51.100.2', 'dev', 'up0');
    const routerMac = JSON.parse(ip('-n', router, '-json', 'link', 'show', 'uplink'))[0].address as string;
    assert.match(neigh, new RegExp(routerMac), 'the internet learnt the router MAC for the VM address');
  });

  test('status shows per network the interface, address, VMs and that each answers', async () => {
    const result = await runCli(['status', ...common(), '--json'], env());
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout).networks as {
      interface: string;
      addresses: string[];
      up: boolean;
      vms: { ipAddress: string; reachable: boolean }[];
    }[];
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => r.interface).sort(), ['vxlan5001', 'vxlan5002']);
    assert.deepEqual(rows.find((r) => r.interface === 'vxlan5002')?.addresses, ['198.51.100.1/24']);
    for (const row of rows) {
      assert.equal(row.up, true);
      assert.equal(row.vms.length, 2);
      for (const vm of row.vms) assert.equal(vm.reachable, true, `${vm.ipAddress} answers`);
    }
  });

  test('a network and VM added in the simulator become reachable after the next reconcile', async () => {
    const added = generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vxlan', firstId: 3 });
    assert.ok(sim);
    sim.state.networks.push(...added.networks);
    sim.state.virtualMachines.push(...added.virtualMachines);
    topo.hostAll(sim.state);
    assert.equal(pings(router, '203.0.113.2'), false, 'not reachable before the reconcile');
    const result = await runCli(['run', '--once', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /"event":"create-link","link":"vxlan5003"/);
    assert.ok(pings(router, '203.0.113.2'), 'router -> new VM');
    assert.ok(pings(vmNs('203.0.113.2'), '192.0.2.2'), 'new VM -> VM on network 1');
  });

  test('the API being down changes nothing (no inventory, no teardown)', async () => {
    const before = [...routerLinks().keys()].sort();
    const dead = 'http://127.0.0.1:9/client/api';
    const run = await runCli(['run', '--once', ...common()], env({ CLOUDSTACK_API_URL: dead }));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /inventory fetch failed; the router keeps its current state/);
    const apply = await runCli(['apply', ...common()], env({ CLOUDSTACK_API_URL: dead }));
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, /CloudStack API/);
    assert.deepEqual([...routerLinks().keys()].sort(), before);
    assert.ok(pings(vmNs('192.0.2.2'), '192.0.2.1'));
  });

  test('a removed network has its link deleted; unmarked links stay', async () => {
    assert.ok(sim);
    const removed = sim.state.networks[0]?.id;
    sim.state.networks = sim.state.networks.filter((n) => n.id !== removed);
    sim.state.virtualMachines = sim.state.virtualMachines.filter((vm) => vm.nic?.[0]?.networkid !== removed);
    const result = await runCli(['apply', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    const ipLines = result.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('ip -n'));
    assert.deepEqual(ipLines, [`ip -n ${router} link del dev vxlan5001`]);
    assert.match(
      result.stdout,
      /delete table inet guestrouter/,
      'the rule set is rewritten without the network',
    );
    assert.doesNotMatch(
      result.stdout.slice(result.stdout.indexOf('NFT')),
      /vxlan5001/,
      'no rule names the removed link',
    );
    const links = routerLinks();
    assert.equal(links.has('vxlan5001'), false);
    assert.equal(links.has('vxlan5002'), true);
    assert.equal(links.has('vxlan999'), true, 'the hand-made link is untouched');
    assert.equal(pings(vmNs('192.0.2.2'), '192.0.2.1'), false, 'the removed network lost its gateway');
    assert.ok(pings(vmNs('198.51.100.2'), '100.64.0.1'), 'the other networks are still served');
  });

  test('apply refuses a trunk that does not exist and changes nothing; plan only warns', async () => {
    const args = routerArgs(router, configFile(), 'nosuch0');
    const plan = await runCli(['plan', ...args], env());
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stderr, /warning: the trunk interface nosuch0 does not exist/);
    const apply = await runCli(['apply', ...args], env());
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, /the trunk interface nosuch0 does not exist in network namespace/);
    assert.equal(routerLinks().has('vxlan5002'), true);
  });
  test('a VLAN network this kernel cannot create fails alone; a network added with it is still applied', async () => {
    assert.ok(sim);
    const vlan = generateSimState({ networks: 1, vmsPerNetwork: 0, isolation: 'vlan', firstId: 5 }).networks;
    const vxlan = generateSimState({
      networks: 1,
      vmsPerNetwork: 0,
      isolation: 'vxlan',
      firstId: 4,
    }).networks;
    sim.state.networks.push(...vlan, ...vxlan);
    const result = await runCli(['apply', ...common()], env());
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /"link add link trunk name trunk\.105 address [0-9a-f:]{17} type vlan id 105": Error: Unknown device type/,
    );
    const links = routerLinks();
    assert.equal(links.get('vxlan5004')?.up, true);
    assert.equal(lab.exec(router, 'cat', '/proc/sys/net/ipv4/conf/vxlan5004/proxy_arp').trim(), '1');
    const vlanId = vlan[0]?.id;
    sim.state.networks = sim.state.networks.filter((n) => n.id !== vlanId);
    const again = await runCli(['apply', ...common()], env());
    assert.equal(again.code, 0, again.stderr);
  });
});
