import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routerArgs, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/*
 * guestrouter run with dhcp.enabled in the namespace lab (see namespaces.test.ts): a real
 * dnsmasq in the router namespace, real DHCP clients (busybox udhcpc) in the VM namespaces,
 * over the VXLAN segment CloudStack's hypervisor script would build.
 */
describe('guestrouter run serves DHCP to the VMs, as the Virtual Router did', { timeout: 120_000 }, () => {
  const topo = new RouterLab('d');
  let sim: SimulatorHandle;
  let config: TempConfig;
  let child: ChildProcess | undefined;
  let log: LogWatcher;
  let started: Promise<void>;

  /** A VM namespace that forgets its static address and takes `mac`, as a freshly booted VM. */
  function bareVm(ns: string, mac: string): void {
    ip('-n', ns, 'addr', 'flush', 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'down');
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', mac);
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'up');
  }

  /** udhcpc in the namespace; returns its exit code and what the lease said (the script records it). */
  function dhcpClient(
    ns: string,
    tries: number,
  ): { code: number | null; lease: Record<string, string>; output: string } {
    const out = join(config.dir, `${ns}.lease`);
    const script = join(config.dir, 'udhcpc.sh');
    writeFileSync(
      script,
      `#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip router=$router subnet=$subnet domain=$domain dns=$dns" > "${out}"\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-q',
        '-n',
        '-t',
        String(tries),
        '-T',
        '1',
        '-s',
        script,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const lease: Record<string, string> = {};
    if (existsSync(out)) {
      for (const pair of readFileSync(out, 'utf8').trim().split(' ')) {
        const [k, v] = pair.split('=');
        if (k) lease[k] = v ?? '';
      }
    }
    return { code: r.status, lease, output: `${r.stdout}${r.stderr}` };
  }

  /** One DNS question for an A record, asked from `ns` (stdlib Python: no resolver tools here). */
  function dnsQuery(ns: string, server: string, name: string): string {
    const py = [
      'import socket, struct, sys',
      'name, server = sys.argv[1], sys.argv[2]',
      "q = struct.pack('>HHHHHH', 0x4752, 0x0100, 1, 0, 0, 0)",
      "q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)",
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)',
      's.sendto(q, (server, 53))',
      'try:',
      '    r, _ = s.recvfrom(512)',
      'except socket.timeout:',
      "    print('TIMEOUT'); sys.exit(0)",
      "rcode = r[3] & 15; an = struct.unpack('>H', r[6:8])[0]",
      "if rcode == 3: print('NXDOMAIN'); sys.exit(0)",
      "if rcode != 0 or an == 0: print('RCODE%d/%d' % (rcode, an)); sys.exit(0)",
      "print('.'.join(str(b) for b in r[-4:]))",
    ].join('\n');
    const r = spawnSync('ip', ['netns', 'exec', ns, 'python3', '-c', py, name, server], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    return `${r.stdout}${r.stderr}`.trim();
  }

  before(async () => {
    config = new TempConfig('gr-dhcp-');
    // dnsmasq re-reads its hosts file as its own unprivileged user: the state dir must be traversable.
    chmodSync(config.dir, 0o755);
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
      run: { intervalSeconds: 0.5, jitterSeconds: 0.1 },
      dhcp: { enabled: true, leaseTime: '1h', domain: 'cloud.test', dns: true },
    });
    topo.build([]);
    // Network 1: 192.0.2.0/24 VNI 5001, VMs .2 and .3.
    const state = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan' });
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll(state);
    startRun();
  });

  function startRun(): void {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', ...routerArgs(topo.router, config.file)],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    log = new LogWatcher(child);
    started = log.next((l) => l.event === 'dhcp' && l.dnsmasq === 'started', 'dnsmasq started');
  }

  /** dnsmasq processes of this test's state dir (any namespace: /proc shows them all); `link`: that network's only. */
  function dnsmasqPids(link?: string): number[] {
    const dir = join(config.dir, 'state', 'dhcp');
    const want = (arg: string) =>
      link === undefined
        ? arg.startsWith(`--conf-file=${dir}/`)
        : arg === `--conf-file=${join(dir, link, 'dnsmasq.conf')}`;
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        if (argv.some(want) && !/\) [ZX] /.test(stat)) pids.push(Number(entry));
      } catch {
        // exited meanwhile
      }
    }
    return pids;
  }

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    topo.cleanup();
    await sim.stop();
    config.remove();
  });

  test('a VM gets the address CloudStack gave its MAC, the gateway as router and the domain', async () => {
    await started;
    const nic = sim.state.virtualMachines[0]?.nic?.[0];
    assert.ok(nic?.ipaddress && nic.macaddress);
    const ns = topo.vm(nic.ipaddress);
    bareVm(ns, nic.macaddress);
    const { code, lease, output } = dhcpClient(ns, 5);
    assert.equal(
      code,
      0,
      `udhcpc got a lease:\n${output}\n${readFileSync(join(config.dir, 'state', 'dhcp', 'vxlan5001', 'dnsmasq.conf'), 'utf8')}\n${JSON.stringify(log.lines.filter((l) => l.event === 'dhcp' || l.level === 'error'))}`,
    );
    assert.equal(lease.ip, nic.ipaddress);
    assert.equal(lease.router, sim.state.networks[0]?.gateway);
    assert.equal(lease.subnet, '255.255.255.0');
    assert.equal(lease.domain, 'cloud.test');
    assert.equal(lease.dns, sim.state.networks[0]?.gateway, 'the gateway is the DNS server');
  });

  test("with dhcp.dns the gateway answers the VMs' names, and NXDOMAIN for unknown names in the domain", async () => {
    await started;
    const [first, second] = sim.state.virtualMachines;
    const nic = first?.nic?.[0];
    assert.ok(nic?.ipaddress && first?.name && second?.nic?.[0]?.ipaddress);
    // a VM namespace that still has its address (the lease test above took it off the first one)
    const ns = topo.vm(second.nic[0].ipaddress);
    const gateway = sim.state.networks[0]?.gateway as string;
    assert.equal(dnsQuery(ns, gateway, `${first.name}.cloud.test`), nic.ipaddress);
    assert.equal(dnsQuery(ns, gateway, first.name), nic.ipaddress);
    assert.equal(dnsQuery(ns, gateway, 'no-such-vm.cloud.test'), 'NXDOMAIN');
  });

  test('a MAC CloudStack does not know gets no address (static leases only)', async () => {
    await started;
    const nic = sim.state.virtualMachines[1]?.nic?.[0];
    assert.ok(nic?.ipaddress);
    const ns = topo.vm(nic.ipaddress);
    bareVm(ns, '02:de:ad:be:ef:01');
    const { code, lease } = dhcpClient(ns, 2);
    assert.notEqual(code, 0, 'udhcpc gave up');
    assert.deepEqual(lease, {});
  });

  test('a VM added in CloudStack gets its lease after the next reconcile, without a dnsmasq restart', async () => {
    await started;
    const pidOf = (l: Record<string, unknown>) => (l.pids as Record<string, number> | undefined)?.vxlan5001;
    const started1 = log.lines.find((l) => l.event === 'dhcp' && l.dnsmasq === 'started');
    const pid = started1 ? pidOf(started1) : undefined;
    assert.ok(pid);
    const template = sim.state.virtualMachines[0];
    assert.ok(template?.nic?.[0]);
    const added = {
      ...template,
      id: 'a0000000-0000-4000-8000-00000000d0c1',
      name: 'added-vm',
      nic: [
        {
          ...template.nic[0],
          id: 'a0000000-0000-4000-8000-00000000d0c2',
          ipaddress: '192.0.2.50',
          macaddress: '02:00:0d:0c:00:50',
        },
      ],
    };
    const reloaded = log.next((l) => l.event === 'dhcp' && l.dnsmasq === 'reloaded', 'dnsmasq reloaded');
    sim.state.virtualMachines.push(added);
    await reloaded;
    topo.hostAll(sim.state);
    const ns = topo.vm('192.0.2.50');
    bareVm(ns, '02:00:0d:0c:00:50');
    const { code, lease } = dhcpClient(ns, 5);
    assert.equal(code, 0);
    assert.equal(lease.ip, '192.0.2.50');
    assert.ok(
      !log.lines.some((l) => l.event === 'dhcp' && l.dnsmasq === 'restarted'),
      'dnsmasq re-read its hosts file (SIGHUP) instead of restarting',
    );
    assert.ok(log.lines.some((l) => l.event === 'dhcp' && pidOf(l) === pid && l.dnsmasq === 'reloaded'));
  });

  test('a network refused for an overlap keeps answering DHCP; a hand-made link of a network is never served', async () => {
    await started;
    const base = sim.state.networks[0];
    assert.ok(base);
    const clone = (n: number, cidr: string, gateway: string, netmask: string) => ({
      ...base,
      id: `b0000000-0000-4000-8000-0000000000${n}`,
      name: `guest-${n}`,
      cidr,
      gateway,
      netmask,
      vlan: String(n),
      broadcasturi: `vxlan://${n}`,
    });
    // A hand-made link holds the name the network with VNI 7777 would get; guestrouter leaves it alone.
    ip(
      '-n',
      topo.router,
      'link',
      'add',
      'vxlan7777',
      'type',
      'vxlan',
      'id',
      '7777',
      'dstport',
      '4789',
      'dev',
      'trunk',
    );
    ip('-n', topo.router, 'addr', 'add', '10.77.0.1/24', 'dev', 'vxlan7777');
    ip('-n', topo.router, 'link', 'set', 'vxlan7777', 'up');
    const refused = log.next((l) => l.event === 'refuse' && l.code === 'cidr-overlap', 'the overlap refusal');
    sim.state.networks.push(
      clone(77, '192.0.2.0/25', '192.0.2.126', '255.255.255.128'),
      clone(7777, '10.77.0.0/24', '10.77.0.1', '255.255.255.0'),
    );
    try {
      await refused;
      await log.next((l) => l.event === 'cycle', 'a cycle with the refusal');
      const cycle = await new Promise<Record<string, unknown>>((resolve) => {
        void log
          .next((l) => l.event === 'cycle', 'one more cycle')
          .then(() => resolve(log.lines.at(-1) ?? {}));
      });
      assert.equal(cycle.kept, 1, 'the refused network is kept, and counted as kept');
      const conf = readFileSync(join(config.dir, 'state', 'dhcp', 'vxlan5001', 'dnsmasq.conf'), 'utf8');
      assert.match(conf, /^interface=vxlan5001$/m, 'the kept network is still served');
      assert.doesNotMatch(conf, /vxlan7777/, 'the hand-made link is not served');
      const vm = sim.state.virtualMachines[1]?.nic?.[0];
      assert.ok(vm?.ipaddress && vm.macaddress);
      const ns = topo.vm(vm.ipaddress);
      bareVm(ns, vm.macaddress);
      const { code, lease } = dhcpClient(ns, 5);
      assert.equal(code, 0, 'the VM of the refused-but-kept network gets its lease');
      assert.equal(lease.ip, vm.ipaddress);
      ip('-n', ns, 'addr', 'add', `${vm.ipaddress}/24`, 'dev', 'eth0');
    } finally {
      sim.state.networks.splice(1);
      ip('-n', topo.router, 'link', 'del', 'vxlan7777');
    }
  });

  test("DNS per network, as the Virtual Router: a VM's name is answered on its own network's gateway only", async () => {
    await started;
    // A second network whose VM has the same name as one in the first: no conflict, each its own.
    const more = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vxlan' });
    const net2 = more.networks[1];
    const own2 = more.virtualMachines.find((v) => v.nic?.[0]?.networkid === net2?.id);
    const first = sim.state.virtualMachines[0];
    assert.ok(net2?.gateway && own2?.nic?.[0] && first?.name && first.nic?.[0]?.ipaddress);
    const twin = {
      ...own2,
      id: 'a0000000-0000-4000-8000-00000000d0c9',
      name: first.name,
      nic: [
        {
          ...own2.nic[0],
          id: 'a0000000-0000-4000-8000-00000000d0ca',
          ipaddress: '198.51.100.9',
          macaddress: '02:00:0d:0c:00:99',
        },
      ],
    };
    const served = log.next(
      (l) => l.event === 'cycle' && l.served === 2 && l.ok === true,
      'a cycle serving both networks',
      30_000,
    );
    sim.state.networks.push(net2);
    sim.state.virtualMachines.push(own2, twin);
    try {
      await served;
      await log.next((l) => l.event === 'cycle' && l.ok === true, 'one more good cycle');
      topo.hostAll(sim.state);
      const ns1 = topo.vm(sim.state.virtualMachines[1]?.nic?.[0]?.ipaddress as string);
      const ns2 = topo.vm(own2.nic?.[0]?.ipaddress as string);
      const gw1 = sim.state.networks[0]?.gateway as string;
      assert.equal(dnsQuery(ns1, gw1, first.name), first.nic[0].ipaddress, 'own network: its own VM');
      assert.equal(
        dnsQuery(ns2, net2.gateway, first.name),
        '198.51.100.9',
        'the same name in network 2: its twin',
      );
      assert.equal(dnsQuery(ns2, net2.gateway, `${own2.name}.cloud.test`), own2.nic?.[0]?.ipaddress);
      assert.equal(
        dnsQuery(ns1, gw1, `${own2.name}.cloud.test`),
        'NXDOMAIN',
        "another network's VM: NXDOMAIN",
      );
      assert.equal(dnsQuery(ns1, gw1, own2.name as string), 'NXDOMAIN');
      assert.equal(dnsmasqPids().length, 2, 'one dnsmasq per served network');
    } finally {
      sim.state.networks.splice(1);
      sim.state.virtualMachines.splice(sim.state.virtualMachines.indexOf(own2), 2);
      await log.next((l) => l.event === 'cycle' && l.served === 1, 'back to one network', 30_000);
    }
  });

  test('after SIGKILL of run, a new run stops the orphan dnsmasq, runs exactly one and serves a VM added meanwhile', async () => {
    await started;
    const orphan = dnsmasqPids('vxlan5001');
    assert.equal(orphan.length, 1);
    assert.deepEqual(dnsmasqPids(), orphan, 'one network, one dnsmasq');
    const killed = new Promise((resolve) => child?.once('exit', resolve));
    child?.kill('SIGKILL');
    await killed;
    assert.deepEqual(dnsmasqPids(), orphan, 'SIGKILL leaves dnsmasq running (nothing could stop it)');
    const template = sim.state.virtualMachines[0];
    assert.ok(template?.nic?.[0]);
    sim.state.virtualMachines.push({
      ...template,
      id: 'a0000000-0000-4000-8000-00000000d0c3',
      name: 'after-kill',
      nic: [
        {
          ...template.nic[0],
          id: 'a0000000-0000-4000-8000-00000000d0c4',
          ipaddress: '192.0.2.60',
          macaddress: '02:00:0d:0c:00:60',
        },
      ],
    });
    startRun();
    await started;
    const stale = log.lines.find((l) => l.event === 'service-stale');
    assert.equal(stale?.pid, orphan[0], 'the orphan was found and stopped');
    const now = dnsmasqPids();
    assert.equal(now.length, 1, 'exactly one dnsmasq serves the router namespace');
    assert.notEqual(now[0], orphan[0]);
    await log.next((l) => l.event === 'cycle' && l.ok === true, 'an ok cycle');
    topo.hostAll(sim.state);
    const ns = topo.vm('192.0.2.60');
    bareVm(ns, '02:00:0d:0c:00:60');
    const { code, lease } = dhcpClient(ns, 5);
    assert.equal(code, 0);
    assert.equal(lease.ip, '192.0.2.60');
    const state = JSON.parse(readFileSync(join(config.dir, 'state', 'state.json'), 'utf8'));
    assert.equal(state.services['dnsmasq-vxlan5001'].state, 'running');
    assert.equal(state.services['dnsmasq-vxlan5001'].pid, now[0]);
  });

  test('a dnsmasq that dies is reported: the cycle that finds it fails at error level, then it serves again', async () => {
    await started;
    const [pid] = dnsmasqPids();
    assert.ok(pid);
    const failed = log.next(
      (l) =>
        l.event === 'cycle' &&
        l.ok === false &&
        l.level === 'error' &&
        /dnsmasq-vxlan5001 had exited/.test(String(l.error)),
      'a failed cycle naming dnsmasq',
    );
    process.kill(pid, 'SIGKILL');
    await failed;
    assert.ok(
      log.lines.some((l) => l.event === 'service-exit' && l.level === 'error' && l.signal === 'SIGKILL'),
    );
    await log.next((l) => l.event === 'cycle' && l.ok === true, 'an ok cycle after the restart');
    assert.equal(dnsmasqPids().length, 1);
  });

  test('SIGTERM stops dnsmasq with the controller', async () => {
    const [pid] = dnsmasqPids();
    assert.ok(pid !== undefined && pid > 0);
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child?.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'dnsmasq is gone');
  });
});
