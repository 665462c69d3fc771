import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { multicastGroupForVni } from '../../src/desired/vxlan.js';
import { instanceName, parseStateFile } from '../../src/ha/vrrp.js';
import { runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip, NetnsLab, vethBetween } from '../helpers/netns.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/*
 * Two routers as one, in namespaces: routers a and b on one trunk segment (a bridge in the
 * hypervisor namespace, CloudStack-style VXLAN bridges behind it) and one uplink segment, one VM
 * per guest network. Each router runs `guestrouter run` with ha.enabled (unicast VRRP to the other).
 * A router "fails" by losing its trunk link, as a machine whose NIC or switch port dies.
 */
describe('guestrouter ha: two routers, one master per network, failover within 3 s', {
  timeout: 240_000,
}, () => {
  const lab = new NetnsLab(`gr${process.pid}h`);
  const routers = { a: lab.name('ra'), b: lab.name('rb') } as const;
  type Side = keyof typeof routers;
  const trunkAddress = { a: '10.255.0.1', b: '10.255.0.2' } as const;
  const configs: Record<Side, TempConfig> = {} as Record<Side, TempConfig>;
  const children: Partial<Record<Side, ChildProcess>> = {};
  const logs: Partial<Record<Side, LogWatcher>> = {};
  let sim: SimulatorHandle;
  let hv: string;
  const vms: { ns: string; gateway: string; link: string }[] = [];
  const failovers: number[] = [];

  before(async () => {
    const state = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' });
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    hv = lab.add('hv');
    const inet = lab.add('inet');
    ip('-n', hv, 'link', 'add', 'trunkbr', 'type', 'bridge');
    ip('-n', hv, 'link', 'set', 'trunkbr', 'up');
    ip('-n', hv, 'addr', 'add', '10.255.0.3/24', 'dev', 'trunkbr');
    ip('-n', inet, 'link', 'add', 'upbr', 'type', 'bridge');
    ip('-n', inet, 'link', 'set', 'upbr', 'up');
    ip('-n', inet, 'addr', 'add', '100.64.0.1/24', 'dev', 'upbr');
    for (const side of ['a', 'b'] as const) {
      const ns = lab.add(`r${side}`);
      vethBetween(ns, 'trunk', hv, `t${side}`);
      ip('-n', hv, 'link', 'set', `t${side}`, 'master', 'trunkbr');
      ip('-n', ns, 'addr', 'add', `${trunkAddress[side]}/24`, 'dev', 'trunk');
      vethBetween(ns, 'uplink', inet, `u${side}`);
      ip('-n', inet, 'link', 'set', `u${side}`, 'master', 'upbr');
      ip('-n', ns, 'addr', 'add', `100.64.0.${side === 'a' ? 2 : 3}/24`, 'dev', 'uplink');
      const peer = side === 'a' ? trunkAddress.b : trunkAddress.a;
      configs[side] = new TempConfig(`gr-ha-${side}-`, {
        cloudstack: { retries: 0, timeoutMs: 3000 },
        stateDir: '',
        run: { intervalSeconds: 1, jitterSeconds: 0.1 },
        metrics: { port: 0 },
        ha: { enabled: true, priority: side === 'a' ? 150 : 100, peers: [peer], routerId: `r${side}` },
      });
      configs[side].write({
        ...JSON.parse(readFileSync(configs[side].file, 'utf8')),
        stateDir: join(configs[side].dir, 'state'),
      });
    }
    state.networks.forEach((network, i) => {
      const vni = Number(network.broadcasturi?.replace('vxlan://', ''));
      ip(
        '-n',
        hv,
        'link',
        'add',
        `vxlan${vni}`,
        'type',
        'vxlan',
        'id',
        String(vni),
        'group',
        multicastGroupForVni(vni),
        'dstport',
        '8472',
        'dev',
        'trunkbr',
      );
      ip('-n', hv, 'link', 'add', `br${vni}`, 'type', 'bridge');
      ip('-n', hv, 'link', 'set', `vxlan${vni}`, 'master', `br${vni}`);
      ip('-n', hv, 'link', 'set', `vxlan${vni}`, 'up');
      ip('-n', hv, 'link', 'set', `br${vni}`, 'up');
      const vm = state.virtualMachines.find((v) => v.nic?.[0]?.networkid === network.id);
      const nic = vm?.nic?.[0];
      assert.ok(nic?.ipaddress && nic.macaddress, 'one VM per network');
      const ns = lab.add(`vm${i}`);
      vethBetween(hv, `p${i}`, ns, 'eth0');
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', nic.macaddress);
      ip('-n', hv, 'link', 'set', `p${i}`, 'master', `br${vni}`);
      ip('-n', ns, 'addr', 'add', `${nic.ipaddress}/24`, 'dev', 'eth0');
      ip('-n', ns, 'route', 'add', 'default', 'via', network.gateway as string);
      vms.push({ ns, gateway: network.gateway as string, link: `vxlan${vni}` });
    });
    await Promise.all([startRun('a'), startRun('b')]);
  });

  after(async () => {
    await Promise.all((['a', 'b'] as const).map((s) => stopRun(s)));
    lab.cleanup();
    await sim?.stop();
    for (const side of ['a', 'b'] as const) configs[side]?.remove();
    if (failovers.length > 0)
      console.log(`# failover ping loss (100 ms pings, VM to gateway), ms: ${failovers.join(', ')}`);
  });

  async function startRun(side: Side): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        cliPath,
        'run',
        '--netns',
        routers[side],
        '--trunk',
        'trunk',
        '--uplink',
        'uplink',
        '--config',
        configs[side].file,
      ],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children[side] = child;
    const log = new LogWatcher(child);
    logs[side] = log;
    await log.next(
      (l) => l.event === 'ha' && l.keepalived === 'started',
      `keepalived of router ${side}`,
      60_000,
    );
  }

  async function stopRun(side: Side): Promise<void> {
    const child = children[side];
    if (!child || child.exitCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await closed;
  }

  const stateDir = (side: Side) => join(configs[side].dir, 'state');

  function holds(side: Side, vm: { gateway: string; link: string }): boolean {
    const r = spawnSync('ip', ['-n', routers[side], '-j', 'addr', 'show', 'dev', vm.link], {
      encoding: 'utf8',
    });
    if (r.status !== 0) return false;
    const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    return links.some((l) => l.addr_info?.some((a) => a.local === vm.gateway));
  }

  function role(side: Side, instance: string): string {
    try {
      return parseStateFile(readFileSync(join(stateDir(side), 'ha', 'state', instance), 'utf8')).role;
    } catch {
      return 'UNKNOWN';
    }
  }

  /** Per network, the router holding its gateway, once every network has exactly one (and `want` holds). */
  async function waitForMasters(
    want: (m: Side[]) => boolean = () => true,
    timeoutMs = 20_000,
  ): Promise<Side[]> {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    while (Date.now() < deadline) {
      const owners = vms.map((vm) => (['a', 'b'] as const).filter((s) => holds(s, vm)));
      seen = JSON.stringify(owners);
      if (owners.every((o) => o.length === 1)) {
        const masters = owners.map((o) => o[0] as Side);
        if (want(masters)) return masters;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not one master per network as expected: holders per network ${seen}`);
  }

  const all = (side: Side) => (m: Side[]) => m.every((x) => x === side);

  function keepalivedPids(side: Side): number[] {
    const conf = join(stateDir(side), 'ha', 'keepalived.conf');
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (argv.includes(conf) && argv.some((a) => a.endsWith('keepalived'))) pids.push(Number(entry));
      } catch {
        // gone
      }
    }
    return pids;
  }

  /** Pings the gateway from the VM every 100 ms while `during` runs; lost replies x 100 ms. */
  async function lossDuring(
    vm: { ns: string; gateway: string },
    during: () => Promise<void>,
  ): Promise<number> {
    const ping = spawn('ip', ['netns', 'exec', vm.ns, 'ping', '-n', '-i', '0.1', '-W', '1', vm.gateway], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const closed = new Promise((r) => ping.once('close', r));
    await new Promise((r) => setTimeout(r, 1000));
    await during();
    await new Promise((r) => setTimeout(r, 2000));
    ping.kill('SIGINT');
    await closed;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, `ping summary: ${out.slice(-300)}`);
    return (Number(m[1]) - Number(m[2])) * 100;
  }

  test('both up: exactly one master per network, VMs reach their gateway, keepalived agrees', async () => {
    // With nopreempt the first router to time out its backup wait wins, not the higher priority.
    const masters = await waitForMasters();
    for (const vm of vms) {
      const r = spawnSync('ip', [
        'netns',
        'exec',
        vm.ns,
        'ping',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-q',
        vm.gateway,
      ]);
      assert.equal(r.status, 0, `${vm.ns} reaches ${vm.gateway}`);
    }
    const instances = readdirSync(join(stateDir('a'), 'ha', 'state'))
      .filter((n) => /^gr_\d+$/.test(n))
      .sort();
    assert.equal(instances.length, 2);
    // The kernel's view (who holds the address) and keepalived's (notify) agree, network by network.
    vms.forEach((vm, i) => {
      // The instance of a network: its VNI folded into a VRRP id, as src/ha/vrrp.ts does.
      const instance = instanceName((Number(vm.link.replace('vxlan', '')) % 255) + 1);
      assert.ok(instances.includes(instance), `${instance} in ${instances}`);
      const master = masters[i] as Side;
      const backup: Side = master === 'a' ? 'b' : 'a';
      assert.equal(role(master, instance), 'MASTER');
      assert.equal(role(backup, instance), 'BACKUP');
    });
  });

  test('status shows the role per network on each router', async () => {
    const masters = await waitForMasters();
    for (const side of ['a', 'b'] as const) {
      const r = await runCli(
        [
          'status',
          '--json',
          '--netns',
          routers[side],
          '--trunk',
          'trunk',
          '--uplink',
          'uplink',
          '--config',
          configs[side].file,
        ],
        simulatorEnv(sim),
      );
      assert.equal(r.code, 0, r.stderr);
      const ha = (
        JSON.parse(r.stdout) as { ha: { networks: { link: string; role: string; holdsGateway: boolean }[] } }
      ).ha;
      assert.equal(ha.networks.length, 2);
      for (const n of ha.networks) {
        const i = vms.findIndex((vm) => vm.link === n.link);
        const want = masters[i] === side ? 'MASTER' : 'BACKUP';
        assert.equal(n.role, want, `${side} ${n.link}`);
        assert.equal(n.holdsGateway, want === 'MASTER');
      }
    }
  });

  test('master loses its trunk: the other takes every network, pings lose at most 3 s; no flapping on return (nopreempt)', async () => {
    let master: Side = (await waitForMasters())[0] as Side;
    for (let round = 0; round < 5; round++) {
      const backup: Side = master === 'a' ? 'b' : 'a';
      const lost = await lossDuring(vms[0] as (typeof vms)[0], async () => {
        ip('-n', routers[master], 'link', 'set', 'trunk', 'down');
      });
      failovers.push(lost);
      assert.ok(lost <= 3000, `round ${round}: ${lost} ms of pings lost`);
      await waitForMasters(all(backup), 5000);
      // The old master comes back: it stays backup for every network (nopreempt, even with the higher priority).
      ip('-n', routers[master], 'link', 'set', 'trunk', 'up');
      const instances = () =>
        readdirSync(join(stateDir(master), 'ha', 'state')).filter((n) => /^gr_\d+$/.test(n));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && instances().some((i) => role(master, i) !== 'BACKUP'))
        await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        instances().every((i) => role(master, i) === 'BACKUP'),
        `${master} back as backup`,
      );
      await new Promise((r) => setTimeout(r, 3000));
      await waitForMasters(all(backup), 500);
      for (const vm of vms) {
        const r = spawnSync('ip', [
          'netns',
          'exec',
          vm.ns,
          'ping',
          '-c',
          '2',
          '-i',
          '0.2',
          '-W',
          '2',
          '-q',
          vm.gateway,
        ]);
        assert.equal(r.status, 0, `round ${round}: ${vm.ns} reaches ${vm.gateway}`);
      }
      master = backup;
    }
    // Still one keepalived (parent and its VRRP child) per router: nothing leaked across the rounds.
    for (const side of ['a', 'b'] as const)
      assert.ok(keepalivedPids(side).length <= 2, `${side}: ${keepalivedPids(side)}`);
  });

  test('metrics: the master gauge per network and the transitions keepalived reported', async () => {
    const masters = await waitForMasters();
    await new Promise((r) => setTimeout(r, 2500)); // the gauges are refreshed every cycle (1 s)
    for (const side of ['a', 'b'] as const) {
      const port = logs[side]?.lines.find((l) => l.event === 'metrics')?.port;
      assert.ok(typeof port === 'number', 'run logged its metrics port');
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      assert.equal(
        sum(/^guestrouter_vrrp_master\{instance="gr_\d+"\} (\d+)$/gm),
        masters.filter((m) => m === side).length,
      );
      // Five failovers alternate the roles: each router became master and fell to FAULT several times.
      assert.ok(
        sum(/^guestrouter_vrrp_transitions_total\{instance="gr_\d+",state="MASTER"\} (\d+)$/gm) >= 2 * 2,
        text,
      );
      assert.ok(
        sum(/^guestrouter_vrrp_transitions_total\{instance="gr_\d+",state="FAULT"\} (\d+)$/gm) >= 2 * 2,
        text,
      );
    }
  });

  test('SIGKILL of the master run: its keepalived keeps serving; the next run stops it as stale, the peer takes over', async () => {
    const master = (await waitForMasters())[0] as Side;
    const other: Side = master === 'a' ? 'b' : 'a';
    const before = keepalivedPids(master);
    assert.ok(before.length > 0);
    const killed = children[master] as ChildProcess;
    const gone = new Promise((r) => killed.once('close', r));
    killed.kill('SIGKILL');
    await gone;
    // keepalived outlives its owner: the gateways stay where they were.
    assert.deepEqual(keepalivedPids(master).sort(), before.sort());
    await waitForMasters(all(master), 2000);
    const lost = await lossDuring(vms[0] as (typeof vms)[0], async () => {
      await startRun(master);
    });
    failovers.push(lost);
    assert.ok(lost <= 3000, `${lost} ms of pings lost across the restart`);
    assert.ok(logs[master]?.lines.some((l) => l.event === 'service-stale' && l.service === 'keepalived'));
    const after = keepalivedPids(master);
    assert.ok(
      after.length > 0 && after.length <= 2 && after.every((p) => !before.includes(p)),
      `${before} -> ${after}`,
    );
    await waitForMasters(all(other), 5000);
  });

  test('split brain: VRRP between the routers cut, both up: both masters; link back: one master per network, no flap', async () => {
    await waitForMasters();
    // Drop VRRP (IP protocol 112) both ways in router b: the routers no longer hear each other, while
    // the trunk and the hypervisor stay up (a cut between the two routers only).
    const nft = (script: string) =>
      spawnSync('ip', ['netns', 'exec', routers.b, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    const cut = nft(
      'table ip grtest_cut {\n chain in { type filter hook input priority -300; ip protocol 112 drop; }\n' +
        ' chain out { type filter hook output priority -300; ip protocol 112 drop; }\n}\n',
    );
    assert.equal(cut.status, 0, cut.stderr);
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !vms.every((vm) => holds('a', vm) && holds('b', vm)))
        await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        vms.every((vm) => holds('a', vm) && holds('b', vm)),
        'without adverts each router takes every network (split brain, as VRRP does)',
      );
    } finally {
      assert.equal(nft('delete table ip grtest_cut\n').status, 0);
    }
    // Healed: the masters hear each other and the lower priority (b, 100) steps down for every network.
    const healed = Date.now();
    const masters = await waitForMasters(all('a'), 10_000);
    // The hypervisors' FDB may still point at the router that stepped down (it may have sent the last
    // gratuitous ARP during the split); the master's periodic gratuitous ARP (every 10 s) moves it back.
    for (const vm of vms) {
      const deadline = Date.now() + 15_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok =
          spawnSync('ip', ['netns', 'exec', vm.ns, 'ping', '-c', '1', '-W', '1', '-q', vm.gateway]).status ===
          0;
      }
      assert.ok(ok, `${vm.ns} reaches ${vm.gateway} after the split`);
    }
    console.log(
      `# split brain healed: every VM reached its gateway ${Date.now() - healed} ms after the adverts flowed again`,
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await waitForMasters(all('a'), 500), masters, 'no flap after the split is healed');
  });

  test('SIGTERM to run stops keepalived, which gives up the gateways it holds', async () => {
    const master = (await waitForMasters())[0] as Side;
    await stopRun(master);
    assert.deepEqual(keepalivedPids(master), []);
    for (const vm of vms) assert.ok(!holds(master, vm));
    const other: Side = master === 'a' ? 'b' : 'a';
    await waitForMasters(all(other), 5000);
    await stopRun(other);
    assert.deepEqual(keepalivedPids(other), []);
    for (const vm of vms) assert.ok(!holds(other, vm));
  });
});
