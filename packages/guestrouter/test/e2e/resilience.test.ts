import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gatewayMac } from '../../src/desired/mac.js';
import { networkIdFromMark } from '../../src/desired/types.js';
import { combineLinksAndAddresses, parseAddresses, parseLinks } from '../../src/kernel/parse.js';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState, networkId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/*
 * A crash or a change never leaves a network cut off: applies killed mid-batch, a gateway link
 * created again, a gateway changed next to an operator's secondary address; and a VM cannot send
 * as another tenant's address.
 */
describe('crash-consistent apply, stable gateways, anti-spoofing', { timeout: 300_000 }, () => {
  const topo = new RouterLab('c');
  let sim: SimulatorHandle;
  let config: TempConfig;
  let slowBin: string;
  const env = () => simulatorEnv(sim);
  const args = () => routerArgs(topo.router, config.file);
  const NETWORKS = 10;
  const routerLinks = () =>
    combineLinksAndAddresses(
      parseLinks(ip('-n', topo.router, '-json', '-details', 'link', 'show')),
      parseAddresses(ip('-n', topo.router, '-json', 'addr', 'show')),
    );
  const guestLinks = () => [...routerLinks().values()].filter((l) => l.name.startsWith('vxlan'));

  /** Every network served: a marked, up link with its gateway, and nothing left to do. */
  async function assertAllServed(context: string): Promise<void> {
    const links = guestLinks();
    assert.equal(links.length, NETWORKS, context);
    for (const l of links) {
      assert.ok(networkIdFromMark(l.alias), `${context}: ${l.name} is marked`);
      assert.ok(l.up, `${context}: ${l.name} is up`);
      assert.equal(l.addresses.length, 1, `${context}: ${l.name} has its gateway`);
    }
    const again = await runCli(['plan', ...args()], env());
    assert.equal(again.stdout, '', `${context}: a second plan has nothing to do`);
  }

  before(async () => {
    config = new TempConfig('gr-resil-');
    config.write({ cloudstack: { retries: 0, timeoutMs: 3000 }, stateDir: join(config.dir, 'state') });
    topo.build(['198.51.100.0/24']);
    sim = await startSimulator({
      state: generateSimState({ networks: NETWORKS, vmsPerNetwork: 1, isolation: 'vxlan' }),
      host: '127.0.0.1',
      port: 0,
    });
    topo.hostAll(sim.state);
    // An `ip` that runs -batch slowly and kills its process group after line $GR_KILL_AFTER.
    slowBin = join(config.dir, 'bin');
    mkdirSync(slowBin);
    copyFileSync(fileURLToPath(new URL('../helpers/slow-ip.sh', import.meta.url)), join(slowBin, 'ip'));
    chmodSync(join(slowBin, 'ip'), 0o755);
  });

  after(async () => {
    topo.cleanup();
    await sim.stop();
    config.remove();
  });

  /** `apply` through the slowed ip, killed with its process group after batch line `killAfter` (1-based). */
  function killedApply(killAfter: number): Promise<NodeJS.Signals | null> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', cliPath, 'apply', ...args()], {
        cwd: repoRoot,
        detached: true, // its own process group: the kill takes the CLI, not the test runner
        stdio: 'ignore',
        env: {
          ...env(),
          PATH: `${slowBin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
          HOME: process.env.HOME ?? '/root',
          GR_KILL_AFTER: String(killAfter),
        },
      });
      child.on('error', reject);
      child.on('exit', (_code, signal) => resolve(signal));
    });
  }

  test('an apply killed at any point of the batch (right after link add included) converges in the next apply', async () => {
    const planned = await runCli(['plan', '--json', ...args()], env());
    assert.equal(planned.code, 0, planned.stderr);
    const batch = (JSON.parse(planned.stdout) as { ipBatch: string[] }).ipBatch;
    const after = (prefix: string, nth: number) =>
      batch.map((l, i) => (l.startsWith(prefix) ? i + 1 : 0)).filter((i) => i > 0)[nth] as number;
    const points = [
      after('link add', 0),
      after('link add', 4),
      after('link set dev', 8), // an alias line
      after('addr add', 6),
      after('link set dev', 15), // an up line
      batch.length - 1,
    ];
    for (const point of points) {
      for (const l of guestLinks()) ip('-n', topo.router, 'link', 'del', 'dev', l.name);
      const signal = await killedApply(point);
      assert.equal(signal, 'SIGKILL', `apply killed after line ${point}`);
      const line = batch[point - 1] as string;
      if (line.startsWith('link add')) {
        const name = line.split(' ')[2] as string;
        const leftover = routerLinks().get(name);
        assert.ok(leftover && leftover.alias === undefined, `the kill left ${name} unmarked`);
      }
      const next = await runCli(['apply', ...args()], env());
      assert.equal(next.code, 0, `after a kill at line ${point} (${line}): ${next.stderr}`);
      assert.doesNotMatch(next.stderr, /not managed by guestrouter/);
      await assertAllServed(`kill after line ${point} (${line})`);
    }
  });

  test('a gateway link created again keeps its MAC and a VM reaches it within 2 s, even with a stale ARP entry', async () => {
    const network = sim.state.networks[0];
    const vm = sim.state.virtualMachines.find((v) => v.nic?.[0]?.networkid === network?.id);
    const address = vm?.nic?.[0]?.ipaddress;
    assert.ok(network?.gateway && address);
    const ns = topo.vm(address);
    const before = topo.routerMac('vxlan5001');
    assert.equal(before, gatewayMac(networkId(1)));
    // What a VM holds after a link came back with another MAC: a cached entry pointing elsewhere.
    ip(
      '-n',
      ns,
      'neigh',
      'replace',
      network.gateway,
      'lladdr',
      '02:de:ad:be:ef:99',
      'dev',
      'eth0',
      'nud',
      'stale',
    );
    ip('-n', topo.router, 'link', 'del', 'dev', 'vxlan5001');
    const applied = await runCli(['apply', ...args()], env());
    assert.equal(applied.code, 0, applied.stderr);
    const reappeared = Date.now();
    assert.equal(topo.routerMac('vxlan5001'), before, 'same MAC after re-creation');
    const ok = topo.lab.status(ns, 'ping', '-c', '1', '-W', '2', '-n', '-q', network.gateway) === 0;
    assert.ok(ok && Date.now() - reappeared < 2500, 'the gateway answered within 2 s');
    const neigh = JSON.parse(ip('-n', ns, '-json', 'neigh', 'show', network.gateway, 'dev', 'eth0')) as {
      lladdr?: string;
    }[];
    assert.equal(neigh[0]?.lladdr, before, "the gratuitous ARP replaced the VM's stale entry");
  });

  test("a VM sending with another tenant's source address is dropped (strict rp_filter); its own address passes", async () => {
    const own = sim.state.networks[0];
    const other = sim.state.networks[1];
    const vm = sim.state.virtualMachines.find((v) => v.nic?.[0]?.networkid === own?.id);
    const victim = sim.state.virtualMachines.find((v) => v.nic?.[0]?.networkid === other?.id);
    const ownAddress = vm?.nic?.[0]?.ipaddress as string;
    const spoofed = victim?.nic?.[0]?.ipaddress as string;
    const ns = topo.vm(ownAddress);
    // The internet side counts what reaches it, by source address.
    topo.lab.exec(
      topo.inet,
      'nft',
      `add table ip grspoof; add chain ip grspoof in { type filter hook prerouting priority 0; }; add rule ip grspoof in ip saddr ${spoofed} counter; add rule ip grspoof in ip saddr ${ownAddress} counter`,
    );
    const counted = (source: string): number => {
      const rules = topo.lab.exec(topo.inet, 'nft', '-a', 'list', 'chain', 'ip', 'grspoof', 'in');
      const m = new RegExp(`saddr ${source.replaceAll('.', '\\.')} counter packets (\\d+)`).exec(rules);
      return Number(m?.[1] ?? -1);
    };
    ip('-n', ns, 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0');
    const ping = (source: string) =>
      topo.lab.status(ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-n', '-q', '-I', source, '100.64.0.1');
    ping(ownAddress);
    ping(spoofed);
    assert.ok(counted(ownAddress) >= 2, 'the VM reaches the internet with its own address');
    assert.equal(counted(spoofed), 0, 'nothing with the spoofed source was forwarded');
    // The control: without the filter the same packets do get through (so the test can fail). guestrouter's
    // nft anti-spoofing (MAC and address per link) is a second, independent layer: it goes too.
    topo.lab.exec(topo.router, 'nft', 'delete', 'table', 'inet', 'guestrouter');
    topo.lab.exec(
      topo.router,
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.conf.vxlan5001.rp_filter=0',
      'net.ipv4.conf.all.rp_filter=0',
    );
    ping(spoofed);
    assert.ok(counted(spoofed) >= 2, 'without rp_filter the spoofed packets were forwarded');
    const fixed = await runCli(['apply', ...args()], env());
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /net\.ipv4\.conf\.vxlan5001\.rp_filter=1/, 'apply turns it back on');
    const before = counted(spoofed);
    ping(spoofed);
    assert.equal(counted(spoofed), before, 'dropped again');
    ip('-n', ns, 'addr', 'del', `${spoofed}/32`, 'dev', 'eth0');
  });

  test('a gateway change on a link with an operator secondary address in the subnet converges in one apply', async () => {
    const network = sim.state.networks[0];
    assert.ok(network?.gateway);
    const old = network.gateway;
    ip('-n', topo.router, 'addr', 'add', '192.0.2.200/24', 'dev', 'vxlan5001');
    network.gateway = '192.0.2.254';
    try {
      const applied = await runCli(['apply', ...args()], env());
      assert.equal(applied.code, 0, applied.stderr);
      assert.deepEqual(routerLinks().get('vxlan5001')?.addresses, ['192.0.2.254/24']);
      const again = await runCli(['plan', ...args()], env());
      assert.equal(again.stdout, '', 'converged in one apply');
    } finally {
      network.gateway = old;
    }
    const back = await runCli(['apply', ...args()], env());
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(routerLinks().get('vxlan5001')?.addresses, ['192.0.2.1/24']);
  });
});
