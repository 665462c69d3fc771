import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NftKernel } from '../../src/nft/current.js';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { ip } from '../helpers/netns.js';
import { connect, TcpServers } from '../helpers/tcp.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState, networkId, vmId } from '../simulator/fixtures.js';
import { type SimState, type SimulatorHandle, startSimulator } from '../simulator/server.js';

/*
 * inet ns   up0 100.64.0.1/24 (the internet host), 198.51.100.0/24 on-link
 *   |
 * router ns uplink 100.64.0.2/24; NAT addresses 100.64.0.10-12 added by guestrouter
 *   |  trunk, VXLAN
 * hv ns     bridges per VNI
 *   |
 * private A 10.0.4.0/24 (VNI 5004): a1 .2, a2 .3   source NAT 100.64.0.10, static NAT 100.64.0.11 -> a2
 * private B 10.0.5.0/24 (VNI 5005): b1 .2, b2 .3   source NAT 100.64.0.12, egress deny tcp 9002 to the internet host
 * public P  198.51.100.0/24 (VNI 5002): p1 .2, p2 .3 routed, no NAT
 */

const topo = new RouterLab('n');
const router = topo.router;
const inet = topo.inet;
const servers = new TcpServers();
let sim: SimulatorHandle | undefined;
let config: TempConfig | undefined;

const env = () => simulatorEnv(sim);
const common = () => routerArgs(router, config?.file ?? '');
const A = networkId(4);
const B = networkId(5);

function labState(): SimState {
  const priv = generateSimState({ networks: 2, vmsPerNetwork: 2, isolation: 'vxlan', firstId: 4 });
  const pub = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan', firstId: 2 });
  const publicIp = (id: string, address: string, network: string, extra: object) => ({
    id,
    ipaddress: address,
    associatednetworkid: network,
    state: 'Allocated',
    issourcenat: false,
    isstaticnat: false,
    ...extra,
  });
  return {
    zones: priv.zones,
    networks: [...priv.networks, ...pub.networks],
    virtualMachines: [...priv.virtualMachines, ...pub.virtualMachines],
    publicIpAddresses: [
      publicIp('ip-a-snat', '100.64.0.10', A, { issourcenat: true }),
      publicIp('ip-a-static', '100.64.0.11', A, {
        isstaticnat: true,
        virtualmachineid: vmId(4, 2),
        vmipaddress: '10.0.4.3',
      }),
      publicIp('ip-b-snat', '100.64.0.12', B, { issourcenat: true }),
    ],
    portForwardingRules: [
      {
        id: 'pf-ssh',
        ipaddressid: 'ip-a-snat',
        protocol: 'tcp',
        publicport: '2222',
        publicendport: '2222',
        privateport: '22',
        privateendport: '22',
        virtualmachineid: vmId(4, 1),
        networkid: A,
        state: 'Active',
      },
      {
        id: 'pf-closed',
        ipaddressid: 'ip-a-snat',
        protocol: 'tcp',
        publicport: '3333',
        publicendport: '3333',
        privateport: '3333',
        privateendport: '3333',
        virtualmachineid: vmId(4, 1),
        networkid: A,
        state: 'Active',
      },
      {
        id: 'pf-bad-vm',
        ipaddressid: 'ip-a-snat',
        protocol: 'tcp',
        publicport: '4444',
        publicendport: '4444',
        privateport: '22',
        privateendport: '22',
        virtualmachineid: 'no-such-vm',
        networkid: A,
        state: 'Active',
      },
    ],
    firewallRules: [
      {
        id: 'fw-ssh',
        ipaddressid: 'ip-a-snat',
        protocol: 'tcp',
        startport: 2222,
        endport: 2222,
        cidrlist: '0.0.0.0/0',
        state: 'Active',
      },
      {
        id: 'fw-static',
        ipaddressid: 'ip-a-static',
        protocol: 'tcp',
        startport: 9001,
        endport: 9001,
        cidrlist: '0.0.0.0/0',
        state: 'Active',
      },
    ],
    egressFirewallRules: [
      {
        id: 'eg-b',
        networkid: B,
        protocol: 'tcp',
        startport: 9002,
        endport: 9002,
        cidrlist: '',
        destcidrlist: '100.64.0.1/32',
        state: 'Active',
      },
    ],
  };
}

describe('NAT, firewall, port forwarding and isolation end to end', { timeout: 240_000 }, () => {
  before(async () => {
    config = new TempConfig('gr-nat-');
    config.write({ cloudstack: { retries: 0, timeoutMs: 3000 }, stateDir: join(config.dir, 'state') });
    topo.build(['198.51.100.0/24']);
    const state = labState();
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll(state);
    // The operator's own table: guestrouter must never touch it.
    topo.lab.exec(router, 'nft', 'add table inet operator');
    topo.lab.exec(
      router,
      'nft',
      'add chain inet operator input { type filter hook input priority 10; policy accept; }',
    );
    topo.lab.exec(router, 'nft', 'add rule inet operator input tcp dport 65000 counter accept');
    await servers.start(inet, 9000, 9002);
    await servers.start(topo.vm('10.0.4.2'), 22, 3333);
    await servers.start(topo.vm('10.0.4.3'), 9001);
  });

  after(async () => {
    await servers.stopAll();
    topo.cleanup();
    await sim?.stop();
    config?.remove();
  });

  test('plan shows the nft transaction and the refused rule by name, and changes nothing', async () => {
    const result = await runCli(['plan', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`ip netns exec ${router} nft -f - <<'NFT'`));
    assert.match(
      result.stdout,
      /add rule ip guestrouter_nat prerouting ip daddr 100\.64\.0\.10 tcp dport 2222 dnat to 10\.0\.4\.2:22/,
    );
    assert.match(result.stdout, /addr add 100\.64\.0\.10\/32 dev uplink label uplink:gr/);
    assert.match(result.stderr, /port forward pf-bad-vm refused: VM no-such-vm has no NIC/);
    assert.equal(topo.lab.exec(router, 'nft', 'list tables').includes('guestrouter'), false);
    const json = await runCli(['plan', '--json', ...common()], env());
    const parsed = JSON.parse(json.stdout) as {
      operations: { action: string; object: { kind: string; key?: string } }[];
    };
    assert.ok(
      parsed.operations.some(
        (o) => o.action === 'create' && o.object.kind === 'nft-rule' && o.object.key === 'pf:pf-ssh',
      ),
    );
    assert.ok(parsed.operations.some((o) => o.action === 'create' && o.object.kind === 'link'));
  });

  test('apply builds it; a second apply is a no-op; the foreign table survives', async () => {
    const first = await runCli(['apply', ...common()], env());
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(['apply', ...common()], env());
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, '', 'nothing to do the second time');
    assert.match(second.stderr, /nothing to do/);
    const tables = topo.lab.exec(router, 'nft', 'list tables');
    assert.match(tables, /table inet operator/);
    assert.match(topo.lab.exec(router, 'nft', 'list table inet operator'), /tcp dport 65000 counter/);
  });

  test('a private VM reaches the internet host and is seen there with its network source NAT address', async () => {
    assert.equal(await connect(topo.vm('10.0.4.2'), '100.64.0.1', 9000), '100.64.0.10 9000');
    assert.equal(await connect(topo.vm('10.0.5.2'), '100.64.0.1', 9000), '100.64.0.12 9000');
  });

  test('static NAT: reached from the internet on an opened port, replies and its own traffic leave with the public address', async () => {
    assert.equal(await connect(inet, '100.64.0.11', 9001), '100.64.0.1 9001');
    assert.equal(await connect(topo.vm('10.0.4.3'), '100.64.0.1', 9000), '100.64.0.11 9000');
  });

  test('hairpin: a VM reaches its neighbour through the neighbour static NAT address', async () => {
    assert.equal(await connect(topo.vm('10.0.4.2'), '100.64.0.11', 9001), '10.0.4.1 9001');
  });

  test('port forward 2222 -> 22 works; a forward the firewall does not open stays closed', async () => {
    assert.equal(await connect(inet, '100.64.0.10', 2222), '100.64.0.1 22');
    assert.equal(await connect(inet, '100.64.0.10', 3333, 1500), 'timeout');
    assert.equal(
      await connect(inet, '100.64.0.11', 22, 1500),
      'timeout',
      'static NAT ports are closed unless opened',
    );
  });

  test('an egress deny rule blocks one destination port only', async () => {
    assert.equal(await connect(topo.vm('10.0.5.2'), '100.64.0.1', 9002, 1500), 'timeout');
    assert.equal(await connect(topo.vm('10.0.5.2'), '100.64.0.1', 9000), '100.64.0.12 9000');
    assert.equal(
      await connect(topo.vm('10.0.4.2'), '100.64.0.1', 9002),
      '100.64.0.10 9002',
      'network A has no such rule',
    );
  });

  test('private network A cannot reach private network B; the public network is reached as from the internet', async () => {
    assert.equal(topo.pings(topo.vm('10.0.4.2'), '10.0.5.2'), false);
    assert.equal(topo.pings(topo.vm('10.0.5.2'), '10.0.4.2'), false);
    assert.equal(topo.pings(topo.vm('198.51.100.2'), '10.0.4.2'), false, 'nor from the public network');
    assert.equal(topo.pings(topo.vm('10.0.4.2'), '198.51.100.2'), true);
    assert.equal(topo.pings(inet, '198.51.100.2'), true);
  });

  test('a spoofed source address from a VM is dropped', async () => {
    const a1 = topo.vm('10.0.4.2');
    ip('-n', a1, 'addr', 'add', '10.0.4.99/24', 'dev', 'eth0');
    try {
      assert.equal(
        topo.lab.status(a1, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', '10.0.4.99', '10.0.4.1'),
        1,
      );
      assert.equal(topo.pings(a1, '10.0.4.1'), true, 'its own address still works');
    } finally {
      ip('-n', a1, 'addr', 'del', '10.0.4.99/24', 'dev', 'eth0');
    }
  });

  test('a removed port forward is gone after the next apply; the rest keeps working', async () => {
    assert.ok(sim);
    sim.state.portForwardingRules = (sim.state.portForwardingRules ?? []).filter((r) => r.id !== 'pf-ssh');
    const result = await runCli(['apply', ...common()], env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /delete table ip guestrouter_nat/);
    // The firewall rule still opens 2222, so the router itself answers: refused, no longer the VM.
    assert.equal(await connect(inet, '100.64.0.10', 2222, 1500), 'error ECONNREFUSED');
    assert.equal(await connect(inet, '100.64.0.11', 9001), '100.64.0.1 9001');
  });

  test('an nft transaction that fails leaves the previous rule set in place', async () => {
    const before = topo.lab.exec(router, 'nft', 'list table ip guestrouter_nat');
    const nft = new NftKernel(router);
    await assert.rejects(
      nft.apply([
        'delete table ip guestrouter_nat',
        'add table ip guestrouter_nat',
        'add chain ip guestrouter_nat x',
        'add rule ip guestrouter_nat x ip daddr 1.2.3.4 no-such-statement',
      ]),
      /nft rejected the rule set transaction; the previous rules stay in place/,
    );
    assert.equal(topo.lab.exec(router, 'nft', 'list table ip guestrouter_nat'), before);
  });
});
